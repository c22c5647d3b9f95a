"""policy-search: find data-augmentation policies by reinforcement learning, cheaply, on one machine.

Importing the package registers the Gymnasium environment ``policy_search/Augment-v0`` (the entry point is a
string, so nothing heavy is imported until ``gymnasium.make`` is called).
"""

from __future__ import annotations

import os
from typing import Any

__version__ = "0.1.0"

THREADS_ENV = "POLICY_SEARCH_THREADS"


def _apply_thread_setting() -> None:
    # One intra-op thread per process by default: child runs scale across processes (vectorized envs, Optuna
    # workers), and torch's default of one thread per core makes small batched ops up to ~50x slower as soon as
    # two processes share the cores (measured: RandAugment on 64 MNIST images, 7 ms with 1 thread vs 98-217 ms
    # with 2 under load). POLICY_SEARCH_THREADS=N (or 0 for torch's default) overrides it.
    value = os.environ.get(THREADS_ENV, "1")
    try:
        threads = int(value)
    except ValueError:
        raise ValueError(f"{THREADS_ENV}={value!r} is not an integer; use e.g. 1, 2, or 0 for torch's default") from None
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


_apply_thread_setting()


def use_all_cores_unless_configured() -> None:
    """For single-run CLIs (child, train_agent, benchmark): one process owns the machine, so use every core,
    unless POLICY_SEARCH_THREADS is set (then that setting, applied at import, stands)."""
    if THREADS_ENV not in os.environ:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)

__all__ = ["__version__", "load_policy"]


def _register_envs() -> None:
    import gymnasium

    if "policy_search/Augment-v0" not in gymnasium.registry:
        gymnasium.register(id="policy_search/Augment-v0", entry_point="policy_search.envs.augment_env:AugmentEnv")


_register_envs()


def __getattr__(name: str) -> Any:
    # Lazy: `import policy_search` stays cheap; torch-heavy modules load on first use.
    if name == "load_policy":
        from policy_search.policy import load_policy

        return load_policy
    raise AttributeError(f"module 'policy_search' has no attribute {name!r}")
