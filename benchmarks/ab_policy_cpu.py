"""A/B of the op engine: CPU time of ``policy(images)`` with this checkout's ops vs those of an earlier commit.

Claims: for TrivialAugmentWide(31), RandAugment(2, 9, 31) and preset ``autoaugment-cifar10-only`` on a uint8
[256,3,32,32] batch (CIFAR-10 if POLICY_SEARCH_DATA_DIR holds it), the median CPU time (``time.process_time``, one
torch thread) per call of each engine, timed round-robin so that drifting load on a shared machine hits both
alike. CPU time, not wall time: on a loaded machine wall-clock runs swing more than the differences measured
here. Both engines share the policy code (sampling); only ``policy_base.ops`` is swapped (with the fused kernels
of the same commit, which it dispatches to), and their outputs are
checked equal first.

Run: ``POLICY_SEARCH_DATA_DIR=/work/shared/data .venv/bin/python benchmarks/ab_policy_cpu.py --rev 43caa62``
(about 15 s with 40 rounds).
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from ops_throughput import load_images  # noqa: E402
from policy_search.ops import image as ops  # noqa: E402
from policy_search.policy import RandAugment, TrivialAugmentWide  # noqa: E402
from policy_search.policy import base as policy_base
from policy_search.policy.presets import policy_preset  # noqa: E402

ENGINE_FILES = (
    "ops.py",
    "ops_geometry.py",
    "ops_lut.py",
    "ops_fused.py",
    "ops_magnitude.py",
)  # the flat layout, before issue 12
PACKAGE_FILES = (
    "__init__.py",
    "geometry.py",
    "lut.py",
    "fused.py",
    "jit.py",
    "magnitude.py",
)  # policy_search/ops/image/


def load_engine(rev: str, folder: Path):
    """The ops module of commit ``rev``, imported as package ``ab_engine`` (its sibling engine modules too)."""
    package = folder / "ab_engine"
    package.mkdir()
    (package / "__init__.py").write_text("")

    def show(path: str) -> str | None:
        shown = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=REPO, capture_output=True, text=True)
        return shown.stdout if shown.returncode == 0 else None

    if show("policy_search/ops/image/__init__.py") is not None:  # the subpackage layout
        for name in PACKAGE_FILES:
            text = show(f"policy_search/ops/image/{name}")
            if text is not None:
                text = text.replace("from policy_search.ops.image import", "from ab_engine import")
                text = text.replace("from policy_search.ops.image.", "from ab_engine.")
                (package / ("ops.py" if name == "__init__.py" else name)).write_text(text)
    else:
        for name in ENGINE_FILES:
            text = show(f"policy_search/{name}")
            if text is not None:
                text = text.replace("from policy_search import", "from ab_engine import")
                (package / name).write_text(text.replace("from policy_search.ops_", "from ab_engine.ops_"))
    sys.path.insert(0, str(folder))
    engine = importlib.import_module("ab_engine.ops")
    if not hasattr(engine, "apply_slots"):  # engines before the fused kernels: apply_ops slot after slot

        def apply_slots(images, op_index, params, aux=None, mask=None):
            for s in range(op_index.shape[0]):
                images = engine.apply_ops(images, op_index[s], params[s], aux[s], mask[s])
            return images

        engine.apply_slots = apply_slots
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rev", required=True, help="earlier commit whose policy_search ops to compare against")
    parser.add_argument("--rounds", type=int, default=40, help="round-robin rounds (median reported)")
    parser.add_argument("--calls", type=int, default=5, help="calls per engine and round")
    args = parser.parse_args()
    torch.set_num_threads(1)
    images, source = load_images(256)
    policies = {
        "trivialaugment": TrivialAugmentWide(31),
        "randaugment": RandAugment(2, 9, 31),
        "autoaugment-cifar10": policy_preset("autoaugment-cifar10-only"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        engines = {args.rev: load_engine(args.rev, Path(tmp)), "this checkout": ops}
        print(f"images: {source}; CPU time per call, median of {args.rounds} rounds x {args.calls} calls")
        for name, policy in policies.items():
            for seed in range(3):  # same draws through both engines give the same images
                params = policy.sample(images, torch.Generator().manual_seed(seed))
                outputs = []
                for engine in engines.values():
                    policy_base.ops = engine
                    outputs.append(policy.apply(images, params))
                assert torch.equal(outputs[0], outputs[1]), f"{name}: the engines disagree"
            times: dict[str, list[float]] = {k: [] for k in engines}
            generators = {k: torch.Generator().manual_seed(1) for k in engines}
            for _ in range(args.rounds):
                for key, engine in engines.items():
                    policy_base.ops = engine
                    start = time.process_time()
                    for _ in range(args.calls):
                        policy(images, generator=generators[key])
                    times[key].append((time.process_time() - start) / args.calls)
            old, new = (statistics.median(times[k]) for k in engines)
            print(
                f"{name:20s} {args.rev}: {old * 1e3:6.2f} ms  this checkout: {new * 1e3:6.2f} ms  "
                f"speedup {old / new:.2f}x"
            )
        policy_base.ops = ops


if __name__ == "__main__":
    main()
