"""One dispatch interface for many independent child runs, two back ends (issue 32): the local process pool (the
default) and a Ray cluster (``--ray auto`` joins the cluster ``ray start`` runs on this machine, ``--ray ADDRESS``
another one, ``--ray local`` starts a private one-machine cluster for this command and stops it after).

    for index, result in run_jobs(fn, jobs, workers=2, ray=None):   # jobs: argument tuples of a picklable fn
        ...                                                           # results in completion order

The run logic is the caller's ``fn`` (a module-level function, as for any process pool); this module only decides
where it runs. Each Ray task reserves ``threads`` CPUs and sets torch to that many threads (``POLICY_SEARCH_THREADS``
or 1: child runs scale across tasks, and oversubscribed thread pools are the cliff of benchmarks/threads_load.py);
on a GPU cluster ``gpus`` is each task's share of a GPU. A task whose worker or node dies is retried by Ray
(``max_retries``) elsewhere, and every result arrives once: the callers cache each run in its own file as it
arrives, so a driver killed and restarted redoes only the runs not yet saved.

Why by hand rather than Ray Tune: the jobs are plain function calls whose results the callers cache and aggregate
themselves (benchmark, race); Tune's trial abstraction, its own result directory and stopping rules would add a
second bookkeeping for the same runs. Its PBT scheduler would serve a population schedule search, which this
library does with its own population (``train_agent --population``); see docs/SCALE_OUT.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

RAY_LOCAL = "local"
SESSION_VARIABLE = "POLICY_SEARCH_RAY_SESSION"  # marks every process of a --ray local cluster (inherited)

# Run by a watchdog process, a child of a driver that started a private cluster: once the driver is gone (killed
# with kill -9, say; the watchdog is then re-parented, which neither a zombie driver nor a reused pid can fake),
# every process of the cluster is killed. Ray's own processes notice a dead raylet only after a minute or two (its
# per-node agents lingered ~2 minutes here), and a worker's command line is rewritten (ray::f), so the driver's mark
# in the environment is what finds them, with every descendant of a marked process and every process seen so while
# the driver lived (same pid and start time): Ray's agents rewrite their title over the start of their environment
# block, where the raylet (sorting it) puts the mark, so their mark is readable for their first seconds only (they
# outlived a driver killed later, in a test, December 2026).
_REAPER = """
import os, signal, sys, time
parent, mark = int(sys.argv[1]), sys.argv[2].encode()

def table():  # pid -> (parent pid, start time, carries the mark), live processes but this one
    rows = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                with open(f"/proc/{pid}/environ", "rb") as f:
                    marked = mark in f.read().split(b"\\0")
            except OSError:
                continue
            if fields[0] != b"Z":
                rows[int(pid)] = (int(fields[1]), fields[19], marked)
    return rows

def cluster(rows, seen):  # pid -> start time of the marked processes, those seen before, and their descendants
    found = {p: r[1] for p, r in rows.items() if r[2] or seen.get(p) == r[1]}
    more = found
    while more:
        more = {p: r[1] for p, r in rows.items() if r[0] in more and p not in found}
        found.update(more)
    return found

seen, polls = {}, 0
while os.getppid() == parent:
    if polls % 10 == 0:  # every 5 s: a pass reads every process's environment (~0.3 ms each)
        seen = cluster(table(), seen)
    polls += 1
    time.sleep(0.5)
empty = 0
for _ in range(600):  # again until fifty passes in a row (ten seconds) find none: a process may start (or be
    found = cluster(table(), seen)  # mid-exec, or slow to start on loaded cores) meanwhile
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    empty = 0 if found else empty + 1
    if empty >= 50:
        break
    time.sleep(0.2)
"""
_MARK: dict[int, str] = {}  # pid -> this process's mark (one watchdog per driver process, started on first need)


def _session_mark() -> str:
    """This process's mark (``SESSION_VARIABLE=<uuid>``), with its watchdog started the first time (Linux; elsewhere
    Ray's own checks stop a cluster, later). Only the processes of the clusters this process starts carry it: it
    is in the environment only while a cluster of this process runs (``_mark_environment`` to ``disconnect``)."""
    import subprocess
    import sys
    import uuid

    pid = os.getpid()
    if pid not in _MARK:
        _MARK[pid] = f"{SESSION_VARIABLE}={uuid.uuid4().hex}"
        if os.path.isdir("/proc"):
            subprocess.Popen(
                [sys.executable, "-c", _REAPER, str(pid), _MARK[pid]],
                start_new_session=True,  # outside the process group: a kill of the group leaves it to clean up
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={k: v for k, v in os.environ.items() if k != SESSION_VARIABLE},
            )
    return _MARK[pid]


_BEFORE: list[str | None] = []  # the environment's value before this process marked it (restored on disconnect)


def _mark_environment() -> None:
    """Put this process's mark in its environment while its private cluster runs: Ray starts some of the cluster's
    processes (the per-node agents) after ``ray.init`` returns, from this environment."""
    if not _BEFORE:
        _BEFORE.append(os.environ.get(SESSION_VARIABLE))
    os.environ[SESSION_VARIABLE] = _session_mark().split("=", 1)[1]


def disconnect() -> None:
    """Stop this process's Ray connection (and the private cluster it started) and take the mark out of its
    environment, so that later children of this process never carry it."""
    import ray

    ray.shutdown()
    if _BEFORE:
        before = _BEFORE.pop()
        if before is None:
            os.environ.pop(SESSION_VARIABLE, None)
        else:
            os.environ[SESSION_VARIABLE] = before


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _threads() -> int:
    from policy_search.threads import requested_threads

    return requested_threads() or 1


def _ray_task(fn: Callable[..., Any], threads: int, job: tuple) -> Any:
    """What a Ray worker runs: torch set to the task's CPU share, then the caller's function."""
    import torch

    torch.set_num_threads(max(1, threads))
    return fn(*job)


def run_jobs(
    fn: Callable[..., Any],
    jobs: Sequence[tuple],
    *,
    workers: int = 1,
    ray: str | None = None,
    gpus: float = 0.0,
    max_retries: int = 3,
) -> Iterator[tuple[int, Any]]:
    """Run ``fn(*job)`` for every job; yield ``(index in jobs, result)`` as each finishes. ``ray`` None: in this
    process (``workers`` 1) or a pool of ``workers`` spawned processes that die with this one; else on the Ray
    cluster it names (``auto``, an address, or ``local``). A job's exception is raised here, after the pool or the
    cluster connection is stopped."""
    if not jobs:
        return
    if ray is not None:
        yield from _run_ray(fn, jobs, ray, gpus, max_retries)
        return
    if workers <= 1 or len(jobs) == 1:
        for i, job in enumerate(jobs):
            yield i, fn(*job)
        return
    from concurrent.futures import as_completed

    from policy_search.threads import pooled

    with pooled(min(workers, len(jobs))) as pool:
        futures = {pool.submit(fn, *job): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            yield futures[future], future.result()


def connect(address: str) -> bool:
    """Connect this process to a Ray cluster (``local`` starts a private one). Returns whether this call started
    the connection (and so should stop it). One line if Ray is missing or the cluster cannot be reached."""
    try:
        import ray
    except ImportError:
        raise ValueError(
            "--ray needs Ray: pip install 'policy-search[ray]' (or drop --ray for the local pool)"
        ) from None
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    # the workers import policy_search from the driver's checkout (a cluster of this machine or one with the same
    # tree; a wheel-installed policy_search needs nothing)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}}
    try:
        if address == RAY_LOCAL:
            _mark_environment()
            ray.init(num_cpus=os.cpu_count() or 1, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ValueError(
            f"cannot reach the Ray cluster {address!r} ({type(exc).__name__}: {str(exc).splitlines()[0]}); start one "
            "with `ray start --head`, pass its address, or use --ray local"
        ) from None
    return True


def _run_ray(fn: Callable[..., Any], jobs: Sequence[tuple], address: str, gpus: float, max_retries: int):
    import ray

    started = connect(address)
    try:
        threads = _threads()
        task = ray.remote(num_cpus=threads, num_gpus=gpus, max_retries=max_retries)(_ray_task)
        pending = {task.remote(fn, threads, tuple(job)): i for i, job in enumerate(jobs)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), ray.get(ref)
    finally:
        if started:
            disconnect()
