"""Scale-out throughput (issue 32): the same child runs through the local process pool and through Ray, with one and
two workers, on this machine.

    python benchmarks/scale_out.py [--task mnist-small] [--runs 8] [--epochs E]

Each back end trains ``--runs`` child runs of ``--task`` (seeds 0..runs-1, validation only, one torch thread per
run): the local pool (``policy_search.threads.pooled``) with 1 and 2 spawned workers, and a private Ray cluster
(``policy_search.dispatch.run_jobs``) with 1 and 2 CPUs (``ray.init(num_cpus=k)``); each back end's start-up, until
its workers run and the machine is idle again, is timed apart. Reported: runs per minute, the 2-worker /
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


def child_job(task: str, seed: int, epochs: float | None = None) -> tuple[float, float]:
    """One child run (``epochs``: the preset's unless given): its validation accuracy and the seconds it took
    inside the worker."""
    from policy_search.child.run import run_child

    t0 = time.perf_counter()
    _, metrics = run_child(task, seed=seed, device="cpu", test=False, **({"epochs": epochs} if epochs else {}))
    return float(metrics["val"]["accuracy"]), time.perf_counter() - t0


def _mean(results: dict[int, tuple[float, float]]) -> float:
    return sum(t for _, t in results.values()) / len(results)


def _started() -> int:
    time.sleep(1.0)  # long enough that each worker of the pool takes one
    return os.getpid()


def _settle(limit_s: float = 60.0) -> None:
    """Wait until the machine's CPUs are idle (under 15% busy over a second; Linux ``/proc/stat``), at most
    ``limit_s``: a back end's start-up does not end when its call returns (Ray's per-node agents start after
    ``ray.init`` and import for seconds on both cores), and what is left of it would be timed as the runs'."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return values[3] + values[4], sum(values)  # idle + iowait, total

    if not os.path.exists("/proc/stat"):
        return
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        idle0, total0 = sample()
        time.sleep(1.0)
        idle1, total1 = sample()
        if total1 > total0 and 1 - (idle1 - idle0) / (total1 - total0) < 0.15:
            return


def pool_jobs(jobs: list[tuple], workers: int, startup: dict[str, float]):
    """The local pool with ``workers`` spawned worker processes, one worker included (``run_jobs`` runs a single
    worker's jobs in the calling process, whose torch threads, imports and caches are not a worker's: the 1-worker
    figure would not be the same kind of run as the 2-worker one, nor as Ray's). The pool's start-up (spawning its
    workers, each importing torch) is timed apart into ``startup``, as Ray's cluster start-up is: Ray starts its
    worker processes in ``ray.init``."""
    from concurrent.futures import as_completed

    from policy_search.threads import pooled

    t0 = time.perf_counter()
    with pooled(workers) as pool:
        for future in [pool.submit(_started) for _ in range(workers)]:  # the workers spawned and importing torch
            future.result()
        _settle()
        startup[f"pool-{workers}"] = time.perf_counter() - t0 - 1.0
        yield None, None  # started: the caller's clock starts here
        futures = {pool.submit(child_job, *job): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            yield futures[future], future.result()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="mnist-small")
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--epochs", type=float, default=None, help="train the task this long (runs of the goal's 7 s)")
    ap.add_argument("--out", default=str(HERE / "results" / "scale_out"))
    args = ap.parse_args(argv)
    os.environ["POLICY_SEARCH_THREADS"] = "1"
    from policy_search.dispatch import run_jobs

    jobs = [(args.task, s, args.epochs) for s in range(args.runs)]
    child_job(args.task, 0, args.epochs)  # warm the dataset cache and the kernels before any timing
    walls: dict[str, float] = {}
    accs: dict[str, dict[int, tuple[float, float]]] = {}
    startup: dict[str, float] = {}
    for workers in (1, 2):
        results = pool_jobs(jobs, workers, startup)
        next(results)
        t0 = time.perf_counter()
        accs[f"pool-{workers}"] = dict(results)
        walls[f"pool-{workers}"] = time.perf_counter() - t0
        print(f"pool, {workers} worker(s): {walls[f'pool-{workers}']:.1f} s", flush=True)
    import ray

    for workers in (1, 2):
        t0 = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        list(run_jobs(_started, [()] * workers, ray="auto"))  # its workers started, as the pool's are
        _settle()
        startup[f"ray-{workers}"] = time.perf_counter() - t0 - 1.0
        try:
            t0 = time.perf_counter()
            accs[f"ray-{workers}"] = dict(run_jobs(child_job, jobs, ray="auto"))
            walls[f"ray-{workers}"] = time.perf_counter() - t0
        finally:
            ray.shutdown()
        print(
            f"ray, {workers} CPU(s): {walls[f'ray-{workers}']:.1f} s (+{startup[f'ray-{workers}']:.1f} s start-up)",
            flush=True,
        )
    same = all(accs[k][i][0] == accs["pool-1"][i][0] for k in accs for i in range(args.runs))
    per_run = walls["pool-1"] / args.runs
    result = {
        "task": args.task,
        "epochs": args.epochs,
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
        "val_accuracy": {k: [v[i][0] for i in range(args.runs)] for k, v in accs.items()},
        # seconds each run took inside its worker: a back end's wall over the sum of these is its dispatch cost,
        # and a 2-worker run slower than a 1-worker one is two trainings sharing the memory bus
        "run_seconds": {k: [round(v[i][1], 2) for i in range(args.runs)] for k, v in accs.items()},
        # a run's own seconds with 2 workers over with 1 (above 1: the two trainings slow each other down, which no
        # back end can remove), and the share of the workers' time spent in runs (1 - dispatch and idle time)
        "run_slowdown_2_vs_1": {b: _mean(accs[f"{b}-2"]) / _mean(accs[f"{b}-1"]) for b in ("pool", "ray")},
        "worker_busy_share": {k: sum(t for _, t in v.values()) / (int(k[-1]) * walls[k]) for k, v in accs.items()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    lines = [
        f"# Scale-out: {args.runs} `{args.task}` child runs"
        + (f" of {args.epochs:g} epochs" if args.epochs else "")
        + f" ({per_run:.1f} s each), {os.cpu_count()} cores",
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
        f"{100 * result['ray_overhead_share_of_a_run'][2]:+.1f}% (2) of a run (goal <= 5%); "
        "start-up once per command, not counted: " + ", ".join(f"{k} {v:.1f} s" for k, v in startup.items()) + ".",
        f"A run's own time with 2 workers over 1: pool {result['run_slowdown_2_vs_1']['pool']:.2f}x, Ray "
        f"{result['run_slowdown_2_vs_1']['ray']:.2f}x; workers busy in runs: "
        + ", ".join(f"{k} {100 * v:.0f}%" for k, v in result["worker_busy_share"].items())
        + ".",
        f"Same validation accuracies on every back end: {same}.",
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
