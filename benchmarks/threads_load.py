"""The thread cliff under a competing load (issue 33): a default single-run command against the right thread setting,
on a machine where one other process is busy.

    python benchmarks/threads_load.py [--task mnist-small] [--repeats 3]

Each case runs ``python -m policy_search.child --task TASK --no-test`` in a fresh process (wall time of the whole
command, imports and data loading included), round robin over the cases, ``--repeats`` times:

- ``default, loaded``: no thread setting at all (what a newcomer types), with one busy process beside it;
- ``threads=1, loaded``: ``POLICY_SEARCH_THREADS=1`` with the same load (the reference: the right setting);
- ``default, idle``: no setting, nothing else running (what the defaults cost when the machine is free);
- ``threads=1, idle``: one thread on a free machine (what a fixed single thread would give up);
- ``threads=all, loaded``: every core forced (``POLICY_SEARCH_THREADS=<cores>``), the old default, with the load.

The load (``--load``) is one other process, started before and stopped after each loaded case: ``torch`` (default),
a program of small torch ops with torch's default threads, as a second training would be; ``python``, one core
spinning in pure Python.
Reported: median wall seconds per case and the ratios to ``threads=1, loaded`` (the goal: default, loaded <= 5x;
issue 33 measured 98 s vs 9-13 s, ~9x, before the fix). Writes results/threads_load.json and .md. Needs the task's
dataset (POLICY_SEARCH_DATA_DIR).
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
LOADS = {
    # one core busy in pure Python
    "python": "while True:\n    pass\n",
    # another torch program with torch's defaults (one OpenMP thread per core), as a second training would be:
    # small ops in a loop, each a parallel region
    "torch": (
        "import torch\nx = torch.randn(64, 256)\nw = torch.randn(256, 256)\n"
        "while True:\n    y = torch.relu(x @ w)\n    y.sum()\n"
    ),
}


def run_case(task: str, env_extra: dict[str, str], loaded: str | None, drop: tuple[str, ...]) -> float:
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra)
    quiet = {k: v for k, v in os.environ.items() if k not in drop}
    load = subprocess.Popen([sys.executable, "-c", LOADS[loaded]], env=quiet) if loaded else None
    try:
        time.sleep(0.5 if loaded else 0.0)  # the load is running before the command starts
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "policy_search.child", "--task", task, "--no-test", "--out", f"{tmp}/run"]
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return time.perf_counter() - t0
    finally:
        if load is not None:
            load.kill()
            load.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="mnist-small")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--load", choices=sorted(LOADS), default="torch", help="the competing process (default torch)")
    ap.add_argument("--out", default=str(HERE / "results" / "threads_load"))
    args = ap.parse_args(argv)
    cores = os.cpu_count() or 1
    thread_vars = ("POLICY_SEARCH_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")
    cases = {
        "default, loaded": ({}, args.load),
        "threads=1, loaded": ({"POLICY_SEARCH_THREADS": "1"}, args.load),
        "default, idle": ({}, None),
        "threads=1, idle": ({"POLICY_SEARCH_THREADS": "1"}, None),
        "threads=all, loaded": ({"POLICY_SEARCH_THREADS": str(cores)}, args.load),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(args.repeats):
        for name, (extra, loaded) in cases.items():
            t = run_case(args.task, extra, loaded, thread_vars)
            times[name].append(t)
            print(f"repeat {r + 1}/{args.repeats}  {name:22s} {t:7.1f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    ref = med["threads=1, loaded"]
    result = {
        "task": args.task,
        "load": args.load,
        "cores": cores,
        "repeats": args.repeats,
        "wall_s": times,
        "median_s": med,
        "ratio_to_threads1_loaded": {k: v / ref for k, v in med.items()},
        "goal": "default, loaded <= 5x threads=1, loaded",
        "goal_met": med["default, loaded"] <= 5 * ref,
        "python": sys.version.split()[0],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    lines = [
        f"# Thread cliff under one competing busy process ({args.load}; {args.task}, {cores} cores, median of "
        f"{args.repeats})",
        "",
        "| case | median wall s | x threads=1, loaded |",
        "|---|---|---|",
        *(f"| {k} | {med[k]:.1f} | {med[k] / ref:.2f} |" for k in cases),
        "",
        f"Goal (issue 33): default, loaded <= 5x the right setting: {'met' if result['goal_met'] else 'missed'}.",
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
