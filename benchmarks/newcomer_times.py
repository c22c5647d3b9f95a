"""What a newcomer waits for (issue 33): the times the README and docs/USAGE.md state, measured as a user types them.

    python benchmarks/newcomer_times.py [--skip-train]

Each command runs in a fresh process with no thread setting (``POLICY_SEARCH_THREADS`` removed: the defaults a
newcomer gets), on whatever the machine has, wall time of the whole command (imports, data loading, writing):

- ``./dev train``'s job: ``python -m policy_search.train_agent`` on the embedded defaults (16 child runs of
  ``mnist-small``: 7 searched, then the search's leader and the ``online-augnet`` preset on 4 race seeds each; before
  issue 31's deliver 4, 48 runs with the last 16 a race against no augmentation);
- one ``mnist-small`` child and one ``imdb-small`` child (``python -m policy_search.child --task T``, test split
  scored, as the docs' examples run them).

The reference in the same run is one ``mnist-small`` child: ``./dev train`` is reported in those units too (a
ratio that holds on a faster or slower machine). Writes results/newcomer_times.json and .md. Run it on quiet cores:
a busy machine measures the load, not the command. Needs the datasets (POLICY_SEARCH_DATA_DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def timed(args: list[str]) -> float:
    """Wall seconds of ``python -m ARGS --out <tmp>`` with the newcomer's environment (no thread setting)."""
    env = {k: v for k, v in os.environ.items() if k != "POLICY_SEARCH_THREADS"}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", *args, "--out", f"{tmp}/run"]
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-train", action="store_true", help="leave out ./dev train's job (about 6 minutes)")
    args = parser.parse_args()
    cases = {
        "child mnist-small": ["policy_search.child", "--task", "mnist-small"],
        "child imdb-small": ["policy_search.child", "--task", "imdb-small"],
    }
    if not args.skip_train:
        cases["./dev train (train_agent defaults)"] = ["policy_search.train_agent", "--no-progress-bar"]
    seconds = {}
    for name, argv in cases.items():
        print(f"[newcomer] {name} ...", flush=True)
        seconds[name] = timed(argv)
        print(f"[newcomer] {name}: {seconds[name]:.1f} s", flush=True)
    reference = seconds["child mnist-small"]
    result = {
        "cores": os.cpu_count(),
        "seconds": seconds,
        "x_mnist_small_child": {k: v / reference for k, v in seconds.items()},
        "command": "python benchmarks/newcomer_times.py" + (" --skip-train" if args.skip_train else ""),
    }
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "newcomer_times.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        "# What a newcomer waits for (no thread setting, fresh processes, wall time of the whole command)",
        "",
        f"{os.cpu_count()} cores. Command: `{result['command']}`.",
        "",
        "| command | wall s | x one mnist-small child |",
        "|---|---|---|",
        *[f"| {k} | {v:.1f} | {result['x_mnist_small_child'][k]:.1f} |" for k, v in seconds.items()],
        "",
    ]
    (out / "newcomer_times.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
