"""Scale-out throughput (issue 32): the same child runs through the local process pool and through Ray, with one and
two workers, on this machine.

    python benchmarks/scale_out.py [--task mnist-small] [--runs 8] [--epochs E] [--repeats R]

Each back end trains ``--runs`` child runs of ``--task`` (seeds 0..runs-1, validation only, one torch thread per
run): the local pool (``policy_search.threads.pooled``) with 1 and 2 spawned workers, and a private Ray cluster
(``policy_search.dispatch.run_jobs``) with 1 and 2 CPUs (``ray.init(num_cpus=k)``); each back end's start-up, until
its workers run and the machine is idle again, is timed apart. Reported: runs per minute, the 2-worker /
1-worker throughput ratio of each back end (goal >= 1.8 for runs of >= 7 s), and Ray's overhead per run against
the pool's at the same worker count ((Ray wall - pool wall) / runs, as a share of a run; goal <= 5%). Every back end
must return the same validation accuracies (checked). ``--repeats R`` runs the four passes R times, in ABBA order
(pool-1, pool-2, ray-1, ray-2, then backwards), and reports each repeat and the medians: on a shared 2-vCPU machine
the noise between passes is larger than what is measured. Writes results/scale_out.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

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


def _pool_pass(jobs: list[tuple], workers: int, startup: dict[str, float]) -> tuple[float, dict]:
    results = pool_jobs(jobs, workers, startup)
    next(results)
    t0 = time.perf_counter()
    done = dict(results)
    return time.perf_counter() - t0, done


def _ray_pass(jobs: list[tuple], workers: int, startup: dict[str, float]) -> tuple[float, dict]:
    import ray

    from policy_search.dispatch import run_jobs

    t0 = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        list(run_jobs(_started, [()] * workers, ray="auto"))  # its workers started, as the pool's are
        _settle()
        startup[f"ray-{workers}"] = time.perf_counter() - t0 - 1.0
        t0 = time.perf_counter()
        done = dict(run_jobs(child_job, jobs, ray="auto"))
        return time.perf_counter() - t0, done
    finally:
        ray.shutdown()


def _summary(walls: dict[str, float], accs: dict[str, dict], runs: int) -> dict[str, Any]:
    """One repeat's figures: throughput, the 2 / 1 worker ratios, Ray's overhead, the runs' own slowdown."""
    per_run = walls["pool-1"] / runs
    return {
        "wall_s": walls,
        "runs_per_minute": {k: 60 * runs / v for k, v in walls.items()},
        "speedup_2_vs_1": {b: walls[f"{b}-1"] / walls[f"{b}-2"] for b in ("pool", "ray")},
        "ray_overhead_share_of_a_run": {w: (walls[f"ray-{w}"] - walls[f"pool-{w}"]) / runs / per_run for w in (1, 2)},
        "seconds_per_run_pool_1": per_run,
        # seconds each run took inside its worker: a back end's wall over the sum of these is its dispatch cost,
        # and a 2-worker run slower than a 1-worker one is two trainings sharing the memory bus
        "run_seconds": {k: [round(v[i][1], 2) for i in range(runs)] for k, v in accs.items()},
        # a run's own seconds with 2 workers over with 1 (above 1: the two trainings slow each other down, which no
        # back end can remove), and the share of the workers' time spent in runs (1 - dispatch and idle time)
        "run_slowdown_2_vs_1": {b: _mean(accs[f"{b}-2"]) / _mean(accs[f"{b}-1"]) for b in ("pool", "ray")},
        "worker_busy_share": {k: sum(t for _, t in v.values()) / (int(k[-1]) * walls[k]) for k, v in accs.items()},
    }


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="mnist-small")
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--epochs", type=float, default=None, help="train the task this long (runs of the goal's 7 s)")
    ap.add_argument(
        "--repeats", type=int, default=1, help="interleaved repeats of the four passes (medians reported): the "
        "noise between passes on a shared 2-vCPU machine is larger than what is measured"
    )  # fmt: skip
    ap.add_argument("--out", default=str(HERE / "results" / "scale_out"))
    args = ap.parse_args(argv)
    os.environ["POLICY_SEARCH_THREADS"] = "1"
    jobs = [(args.task, s, args.epochs) for s in range(args.runs)]
    child_job(args.task, 0, args.epochs)  # warm the dataset cache and the kernels before any timing
    repeats, same = [], True
    startup: dict[str, float] = {}
    for r in range(args.repeats):
        walls: dict[str, float] = {}
        accs: dict[str, dict[int, tuple[float, float]]] = {}
        order = [("pool", 1), ("pool", 2), ("ray", 1), ("ray", 2)]
        for backend, workers in order if r % 2 == 0 else order[::-1]:  # ABBA: drift cancels between repeats
            name = f"{backend}-{workers}"
            walls[name], accs[name] = (_pool_pass if backend == "pool" else _ray_pass)(jobs, workers, startup)
            print(f"repeat {r + 1}/{args.repeats}, {name}: {walls[name]:.1f} s", flush=True)
        same = same and all(accs[k][i][0] == accs["pool-1"][i][0] for k in accs for i in range(args.runs))
        repeats.append(_summary(walls, accs, args.runs))
        if r == 0:
            val_accuracy = {k: [v[i][0] for i in range(args.runs)] for k, v in accs.items()}
    _write(args, repeats, startup, same, val_accuracy)
    return 0


def _write(args: argparse.Namespace, repeats: list[dict], startup: dict, same: bool, val_accuracy: dict) -> None:
    """results JSON (the first repeat's figures at the top level, as before repeats existed; every repeat under
    ``repeats``; medians over them under ``median``) and the Markdown summary."""
    first = repeats[0]
    median = {
        "speedup_2_vs_1": {b: _median([x["speedup_2_vs_1"][b] for x in repeats]) for b in ("pool", "ray")},
        "ray_overhead_share_of_a_run": {
            w: _median([x["ray_overhead_share_of_a_run"][w] for x in repeats]) for w in (1, 2)
        },
        "run_slowdown_2_vs_1": {b: _median([x["run_slowdown_2_vs_1"][b] for x in repeats]) for b in ("pool", "ray")},
    }
    result = {"task": args.task, "epochs": args.epochs, "runs": args.runs, "cores": os.cpu_count(), **first}
    result.update(ray_startup_s=startup, same_accuracies=same, val_accuracy=val_accuracy, repeats=repeats)
    result.update(median=median)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    per_run = first["seconds_per_run_pool_1"]
    lines = [
        f"# Scale-out: {args.runs} `{args.task}` child runs"
        + (f" of {args.epochs:g} epochs" if args.epochs else "")
        + f" ({per_run:.1f} s each), {os.cpu_count()} cores, {len(repeats)} interleaved repeat(s)",
        "",
        "| repeat | pool 2 vs 1 | Ray 2 vs 1 | Ray overhead per run (1 / 2 workers) | a run's own time, 2 / 1 (pool, Ray) |",
        "|---|---|---|---|---|",
        *(
            f"| {i + 1} | {x['speedup_2_vs_1']['pool']:.2f}x | {x['speedup_2_vs_1']['ray']:.2f}x | "
            f"{100 * x['ray_overhead_share_of_a_run'][1]:+.1f}% / {100 * x['ray_overhead_share_of_a_run'][2]:+.1f}% | "
            f"{x['run_slowdown_2_vs_1']['pool']:.2f}x, {x['run_slowdown_2_vs_1']['ray']:.2f}x |"
            for i, x in enumerate(repeats)
        ),
        f"| median | {median['speedup_2_vs_1']['pool']:.2f}x | {median['speedup_2_vs_1']['ray']:.2f}x | "
        f"{100 * median['ray_overhead_share_of_a_run'][1]:+.1f}% / {100 * median['ray_overhead_share_of_a_run'][2]:+.1f}% | "
        f"{median['run_slowdown_2_vs_1']['pool']:.2f}x, {median['run_slowdown_2_vs_1']['ray']:.2f}x |",
        "",
        "Goals: 2 vs 1 worker >= 1.8x; Ray's overhead per run <= 5% of a run. Start-up once per pass, not counted: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in startup.items())
        + f" (last repeat). Same validation accuracies on every back end and repeat: {same}.",
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
