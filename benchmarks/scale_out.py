"""Scale-out throughput (issue 32): the same child runs through the local process pool and through Ray, with one and
two workers, on this machine.

    python benchmarks/scale_out.py [--task mnist-small] [--runs 8]

Each back end trains ``--runs`` child runs of ``--task`` (seeds 0..runs-1, validation only, one torch thread per
run) via ``policy_search.dispatch.run_jobs``: the local pool with 1 and 2 workers, and a private Ray cluster with 1
and 2 CPUs (``ray.init(num_cpus=k)``; its start-up is timed apart). Reported: runs per minute, the 2-worker /
1-worker throughput ratio of each back end (goal >= 1.8 for runs of >= 7 s), and Ray's overhead per run against
the pool's at the same worker count ((Ray wall - pool wall) / runs, as a share of a run; goal <= 5%). Every back end
must return the same validation accuracies (checked). Writes results/scale_out.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def child_job(task: str, seed: int) -> float:
    from policy_search.child.run import run_child

    _, metrics = run_child(task, seed=seed, device="cpu", test=False)
    return float(metrics["val"]["accuracy"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="mnist-small")
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--out", default=str(HERE / "results" / "scale_out"))
    args = ap.parse_args(argv)
    os.environ["POLICY_SEARCH_THREADS"] = "1"
    from policy_search.dispatch import run_jobs

    jobs = [(args.task, s) for s in range(args.runs)]
    child_job(args.task, 0)  # warm the dataset cache and the kernels before any timing
    walls: dict[str, float] = {}
    accs: dict[str, dict[int, float]] = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        accs[f"pool-{workers}"] = dict(run_jobs(child_job, jobs, workers=workers))  # 1: in this process
        walls[f"pool-{workers}"] = time.perf_counter() - t0
        print(f"pool, {workers} worker(s): {walls[f'pool-{workers}']:.1f} s", flush=True)
    import ray

    startup = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        startup[workers] = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            accs[f"ray-{workers}"] = dict(run_jobs(child_job, jobs, ray="auto"))
            walls[f"ray-{workers}"] = time.perf_counter() - t0
        finally:
            ray.shutdown()
        print(
            f"ray, {workers} CPU(s): {walls[f'ray-{workers}']:.1f} s (+{startup[workers]:.1f} s start-up)", flush=True
        )
    same = all(accs[k] == accs["pool-1"] for k in accs)
    per_run = walls["pool-1"] / args.runs
    result = {
        "task": args.task,
        "runs": args.runs,
        "cores": os.cpu_count(),
        "wall_s": walls,
        "ray_startup_s": startup,
        "runs_per_minute": {k: 60 * args.runs / v for k, v in walls.items()},
        "speedup_2_vs_1": {b: walls[f"{b}-1"] / walls[f"{b}-2"] for b in ("pool", "ray")},
        "ray_overhead_share_of_a_run": {
            w: (walls[f"ray-{w}"] - walls[f"pool-{w}"]) / args.runs / per_run for w in (1, 2)
        },
        "seconds_per_run_pool_1": per_run,
        "same_accuracies": same,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    lines = [
        f"# Scale-out: {args.runs} `{args.task}` child runs ({per_run:.1f} s each), {os.cpu_count()} cores",
        "",
        "| back end | workers | wall s | runs / min |",
        "|---|---|---|---|",
        *(
            f"| {k.split('-')[0]} | {k.split('-')[1]} | {v:.1f} | {result['runs_per_minute'][k]:.1f} |"
            for k, v in walls.items()
        ),
        "",
        f"2 vs 1 worker: pool {result['speedup_2_vs_1']['pool']:.2f}x, Ray {result['speedup_2_vs_1']['ray']:.2f}x "
        "(goal >= 1.8).",
        f"Ray's overhead per run vs the pool: {100 * result['ray_overhead_share_of_a_run'][1]:+.1f}% (1 worker), "
        f"{100 * result['ray_overhead_share_of_a_run'][2]:+.1f}% (2) of a run (goal <= 5%); start-up "
        f"{startup[1]:.1f} / {startup[2]:.1f} s once per command, not counted.",
        f"Same validation accuracies on every back end: {same}.",
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
