"""Torch thread settings for the commands: the library itself never changes them (importing policy_search leaves
``torch.get_num_threads()`` as it was).

Each command sets its own at start, from ``POLICY_SEARCH_THREADS`` when set (``0``: torch's default), else its
default: for single-run commands (child, train_agent, benchmark, search curve) every core that other processes
leave free when the command starts (``usable_cores``: a shared machine's busy cores are not oversubscribed), one
thread for Optuna search workers, which scale across processes. One thread per process is what parallel workers want: torch's default
of one thread per core makes small batched ops up to ~50x slower as soon as two processes share the cores
(measured: RandAugment on 64 MNIST images, 7 ms with 1 thread vs 98-217 ms with 2 under load).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

THREADS_ENV = "POLICY_SEARCH_THREADS"


def requested_threads() -> int | None:
    """``POLICY_SEARCH_THREADS`` as an int (0: torch's default), or None when unset."""
    value = os.environ.get(THREADS_ENV)
    if value is None or not value.strip():
        return None
    try:
        threads = int(value)
    except ValueError:
        raise ValueError(
            f"{THREADS_ENV}={value!r} is not an integer; use e.g. 1, 2, or 0 for torch's default"
        ) from None
    if threads < 0:
        raise ValueError(f"{THREADS_ENV}={value!r} is negative; use e.g. 1, 2, or 0 for torch's default")
    return threads


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of the whole machine from /proc/stat (None where there is none)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [float(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 4:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def usable_cores(window_s: float = 0.3) -> int:
    """The cores this process may use (its affinity) less those other processes keep busy now: the machine's busy
    share over ``window_s`` seconds (/proc/stat), this process's own time taken out, rounded. At least 1; every
    usable core where /proc/stat is missing. Why it matters: torch's OpenMP threads wait on each other at every op,
    so a thread that shares its core with another busy process stalls the rest (issue 33:
    benchmarks/threads_load.py)."""
    import time

    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    total_cores = os.cpu_count() or cores
    first = _cpu_times()
    if first is None or cores <= 1:
        return max(1, cores)
    own0 = time.process_time()
    time.sleep(window_s)
    own = time.process_time() - own0
    second = _cpu_times()
    if second is None or second[1] <= first[1]:
        return cores
    busy_share = (second[0] - first[0]) / (second[1] - first[1])  # of all the machine's cores
    others = max(0.0, busy_share * total_cores - own / window_s)
    return max(1, min(cores, total_cores - round(others)))


def configure_threads(default: str = "all") -> int:
    """Set torch's intra-op threads for a command: ``POLICY_SEARCH_THREADS`` if set, else ``default``: "all" the
    cores that other processes leave free now (``usable_cores``), or "one". Returns the thread count in effect."""
    import torch

    threads = requested_threads()
    if threads is None:
        threads = usable_cores() if default == "all" else 1
    if threads > 0:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def use_all_cores_unless_configured() -> None:
    """For single-run commands (child, train_agent, benchmark, search curve): one process owns the machine."""
    configure_threads("all")


def _set_worker_threads(threads: int, parent: int | None = None) -> None:
    import torch

    torch.set_num_threads(max(1, threads))
    if parent is not None:
        _die_with(parent)


def _die_with(parent: int) -> None:
    """Ask Linux to kill this worker when the process that started it dies (a ``kill -9`` of a benchmark or a
    population left its workers training for nothing). Elsewhere a no-op."""
    import signal
    import sys

    if sys.platform != "linux":
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def worker_pool(workers: int):
    """A ``ProcessPoolExecutor`` of ``workers`` spawned processes (fork would copy torch's thread pools) whose torch
    threads are ``POLICY_SEARCH_THREADS`` if set, else the cores split evenly between them."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = requested_threads() or max(1, (os.cpu_count() or 1) // workers)
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_set_worker_threads,
        initargs=(threads, os.getpid()),
    )


@contextmanager
def pooled(workers: int) -> Iterator[Any]:
    """``worker_pool`` for one batch of jobs: on an error or Ctrl-C the jobs not yet started are cancelled and the
    workers still running one are stopped. A plain ``with ProcessPoolExecutor`` would run every queued job, for
    nothing, before the error reached the user; cancelling alone would still leave the running jobs to finish
    (minutes of a child run each) while the caller, which has stopped collecting their results, holds its output
    folder's lock. Results already collected were saved by the caller, so stopping loses nothing that was kept."""
    pool = worker_pool(workers)
    try:
        yield pool
    except BaseException:
        processes = list((getattr(pool, "_processes", None) or {}).values())  # no public handle before 3.14
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:  # returns once the process is gone: its pipe closes when it exits
            process.join(timeout=30)
        raise
    pool.shutdown()
