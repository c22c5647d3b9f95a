"""Wall time of learning inside the run (issue 30): ``online-augnet`` against no augmentation, on quiet cores.

    python benchmarks/online_cost.py [--tasks imdb-small-long ...] [--repeats 3] [--first-seed 900]

The finals' own wall-time column is the mean of per-seed ratios of runs made beside other work (two workers on two
cores, test suites and code work alongside), which measures the load as much as the policy. Here each child runs
alone in a fresh process (``python -m policy_search.child --task T --policy P --no-test``: validation only, the
test split stays locked), ``none`` and ``online-augnet`` alternating on the same seeds, so the reference is measured
in the same run under the same conditions. Reported per task: median wall seconds of each, the ratio of medians,
and the per-seed ratios (goal of issue 30: <= 1.5x). Writes results/online_cost.json and .md. Threads: the command's
default (every free core) unless POLICY_SEARCH_THREADS is set; run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
POLICIES = ("none", "online-augnet")


def timed(task: str, policy: str, seed: int) -> float:
    """Wall seconds of one child (validation only) in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "policy_search.child", "--task", task, "--policy", policy, "--no-test"]
        cmd += ["--seed", str(seed), "--out", f"{tmp}/run"]
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0


def measure(task: str, repeats: int, first_seed: int) -> dict:
    """``none`` and ``online-augnet`` alternating on seeds first_seed.. (the order flipped every other seed)."""
    walls: dict[str, list[float]] = {p: [] for p in POLICIES}
    for k in range(repeats):
        order = POLICIES if k % 2 == 0 else POLICIES[::-1]
        for policy in order:
            walls[policy].append(timed(task, policy, first_seed + k))
            print(f"[online-cost] {task} {policy} seed {first_seed + k}: {walls[policy][-1]:.1f} s", flush=True)
    medians = {p: statistics.median(v) for p, v in walls.items()}
    return {
        "wall_s": walls,
        "median_s": medians,
        "ratio_of_medians": medians["online-augnet"] / medians["none"],
        "per_seed_ratio": [a / b for a, b in zip(walls["online-augnet"], walls["none"], strict=True)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["mnist-small", "cifar10-small", "imdb-small-long"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=900)
    args = parser.parse_args()
    results = {t: measure(t, args.repeats, args.first_seed) for t in args.tasks}
    command = "python benchmarks/online_cost.py --tasks " + " ".join(args.tasks) + f" --repeats {args.repeats}"
    payload = {"cores": os.cpu_count(), "threads": os.environ.get("POLICY_SEARCH_THREADS"), "command": command}
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "online_cost.json").write_text(json.dumps({**payload, "tasks": results}, indent=1) + "\n")
    lines = [
        "# Wall time of online-augnet against none, each child alone in a fresh process (validation only)",
        "",
        f"Command: `{command}`; {os.cpu_count()} cores, threads: {payload['threads'] or 'the default'}.",
        "",
        "| task | none median s | online-augnet median s | ratio of medians | per-seed ratios |",
        "|---|---|---|---|---|",
    ]
    for t, r in results.items():
        per = ", ".join(f"{x:.2f}" for x in r["per_seed_ratio"])
        lines.append(
            f"| {t} | {r['median_s']['none']:.1f} | {r['median_s']['online-augnet']:.1f} | "
            f"{r['ratio_of_medians']:.2f} | {per} |"
        )
    (out / "online_cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
