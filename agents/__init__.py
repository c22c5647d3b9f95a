"""Agents that drive the augmentation environment (installed as ``policy_search.agents``): PPO
(stable-baselines3), AugNet (REINFORCE), random and fixed, all behind the interface of ``agents.base``."""

from __future__ import annotations

from policy_search.agents.base import Agent, AgentSettings, ExportSpec

__all__ = ["AGENTS", "Agent", "AgentSettings", "ExportSpec", "build_agent"]


AGENTS = ("ppo", "augnet", "random", "fixed")


def build_agent(name: str, env, settings: AgentSettings) -> Agent:
    """The agent called ``name`` (one of ``AGENTS``) for ``env``."""
    if name == "ppo":
        from policy_search.agents.ppo import PPOAgent

        return PPOAgent(env, settings)
    if name == "augnet":
        from policy_search.agents.augnet import AugNetAgent

        return AugNetAgent.for_env(env, settings)
    if name in ("random", "fixed"):
        from policy_search.agents.simple import FixedAgent, RandomAgent

        return (RandomAgent if name == "random" else FixedAgent).for_env(env, settings)
    raise ValueError(f"unknown agent {name!r}; choose one of {list(AGENTS)}")
