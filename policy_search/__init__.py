"""policy-search: find data-augmentation policies by reinforcement learning, cheaply, on one machine.

The package is a stack of subpackages, each importing only those below it (enforced by tests/test_layering.py):

    ops -> policy -> child -> generative -> envs / agents / benchmark -> train_agent -> search

Importing it has one effect: it registers the Gymnasium environment ``policy_search/Augment-v0`` (the entry point
is a string, so nothing heavy is imported until ``gymnasium.make`` is called). It leaves torch's global state,
thread settings included, alone; commands set their own (``policy_search.threads``).
"""

from __future__ import annotations

from typing import Any

from policy_search._version import __version__

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
