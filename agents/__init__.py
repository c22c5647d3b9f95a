"""Agents that drive the augmentation environment (installed as ``policy_search.agents``): PPO
(stable-baselines3), AugNet (REINFORCE), random and fixed, all behind the interface of ``agents.base``."""

from __future__ import annotations

from policy_search.agents.base import Agent, AgentSettings, ExportSpec

__all__ = ["AGENTS", "Agent", "AgentSettings", "ExportSpec", "agent_class", "build_agent"]


# name -> (module, class): imported on first use, so that importing the agents does not import stable-baselines3
AGENTS: dict[str, tuple[str, str]] = {
    "ppo": ("policy_search.agents.ppo", "PPOAgent"),
    "augnet": ("policy_search.agents.augnet", "AugNetAgent"),
    "random": ("policy_search.agents.simple", "RandomAgent"),
    "fixed": ("policy_search.agents.simple", "FixedAgent"),
}


def agent_class(name: str) -> type[Agent]:
    """The class of the agent called ``name`` (one of ``AGENTS``); its class attributes say what it supports."""
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; choose one of {list(AGENTS)}")
    import importlib

    module, cls = AGENTS[name]
    return getattr(importlib.import_module(module), cls)


def build_agent(name: str, env, settings: AgentSettings) -> Agent:
    """The agent called ``name`` (one of ``AGENTS``) for ``env``."""
    return agent_class(name).for_env(env, settings)
