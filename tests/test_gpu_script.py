"""benchmarks/gpu.py must keep running: its --smoke mode runs every part on CPU at tiny sizes (issue 15)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_script_smoke_runs_every_part_and_writes_its_report(tmp_path, shared_data_dir):
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu.py", "--smoke", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env={
            **__import__("os").environ,
            "POLICY_SEARCH_DATA_DIR": str(shared_data_dir),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "gpu-smoke.json").read_text())
    assert report["smoke"] and report["parts"] == ["cuda_tests", "ops", "child", "search", "time94"]
    for part in report["parts"]:
        assert "error" not in report[part], (part, report[part].get("traceback"))
    assert report["cuda_tests"]["failed"] == 0 and report["cuda_tests"]["passed"] + report["cuda_tests"]["skipped"] > 0
    assert {r["policy"] for r in report["ops"]["rows"]} == {"trivialaugment", "randaugment", "autoaugment-cifar10"}
    assert all(v > 0 for r in report["ops"]["rows"] for v in r["images_per_s"].values())
    assert report["child"]["ratio"] > 0 and 0 <= report["child"]["augment_share_trivialaugment"] < 1
    assert report["search"]["returncode"] == 0 and report["search"]["episodes"] == 2
    assert [a["policy"] for a in report["time94"]["arms"]][0] == "flip-crop"
    text = (tmp_path / "gpu-smoke.md").read_text()
    assert "smoke (CPU, tiny sizes: not figures)" in text and "## time94" in text


def test_gpu_script_refuses_a_full_run_without_a_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the full run would start")
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu.py", "--parts", "ops"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2 and "no CUDA device" in result.stderr
