"""The one interface every agent implements, so that the trainer (``policy_search.train_agent``) never branches
on an agent's name::

    agent = build_agent("augnet", env, AgentSettings(seed=0, gamma=1.0))   # policy_search.agents.build_agent
    stats = agent.play(env)                     # one episode (or one population run), learning from it
    state = agent.state_dict(); agent.load_state_dict(state)     # checkpoints (plain data, torch.save-able)
    policy = agent.controller(ExportSpec(...))  # the frozen policy to export (a Controller, or the fixed policy)

``play`` covers both environments: a plain Gymnasium env (``run_episode``, then ``learn`` on the finished
episode) and a ``Population`` (``env.play(act_many, learn_batch)``: rewards relative to the population).
PPO overrides ``play`` because stable-baselines3 drives its own rollouts.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from policy_search.policy.action_space import ActionSpec
from policy_search.policy.base import ImageSpec, Policy


@dataclass
class AgentSettings:
    """What every agent may need at construction; each uses the fields that apply to it."""

    seed: int = 0
    gamma: float | None = None
    """Discount (None: the agent's default)."""
    lr: float | None = None
    """Learning rate (None: the agent's default)."""
    heads: str | None = None
    """AugNet's heads, categorical or ordinal (None: its default)."""
    update: str | None = None
    """AugNet's update, reinforce or critic (None: its default)."""
    episode_length: int = 1
    """Decisions per episode (PPO's rollout length)."""


@dataclass
class ExportSpec:
    """What a frozen controller needs to know about the environment it was trained in."""

    action_spec: ActionSpec
    feature_names: list[str]
    observe_every: int
    image_spec: ImageSpec | None = None
    synthetic: str | None = None
    box: bool = False
    decision: str = "argmax"


class Agent(abc.ABC):
    """Acts on observations, learns from finished episodes, checkpoints, and exports a frozen policy."""

    learns: ClassVar[bool] = True
    """Whether it learns from episodes (a search method): random and fixed actions do not."""
    supports_population: ClassVar[bool] = False
    """Can learn from a population of children (``learn_batch``)."""
    action_modes: ClassVar[tuple[str, ...]] = ("discrete", "box")
    """Action encodings it can act in."""
    uses_fixed_policy: ClassVar[bool] = False
    """Plays a fixed policy given by the user (``--fixed-policy``) instead of choosing actions."""
    heads: ClassVar[tuple[str, ...]] = ("categorical",)
    """Output-head parameterisations it offers (``--heads``)."""
    update_rules: ClassVar[tuple[str, ...]] = ()
    """Update rules it offers (``--update``), its default first (empty: its own, not selectable)."""

    @classmethod
    @abc.abstractmethod
    def for_env(cls, env: gym.Env, settings: AgentSettings) -> Agent:
        """The agent for ``env``."""

    @abc.abstractmethod
    def act(self, obs: np.ndarray) -> np.ndarray:
        """The action for one observation."""

    def learn(self, observations: list, actions: list, rewards: list[float]) -> dict[str, float]:
        """Learn from one finished episode; returns statistics to log (none for agents that do not learn)."""
        return {}

    def learn_batch(self, observations: list, actions: list, advantages: list[float]) -> dict[str, float]:
        """Learn from decisions whose advantages are already relative to a baseline (a population's mean)."""
        return {}

    def play(self, env: gym.Env) -> dict[str, float]:
        """Play one episode (or one population run) of ``env`` and learn from it."""
        if getattr(env, "is_population", False):
            if not self.supports_population:
                raise ValueError(f"{type(self).__name__} cannot train a population; use --agent augnet")
            stats: dict[str, float] = {}

            def learn(obs, actions, advantages) -> None:
                stats.update(self.learn_batch(obs, actions, advantages))

            env.play(lambda observations: [self.act(o) for o in observations], learn)
            return stats
        observations, actions, rewards = run_episode(env, self.act)
        return self.learn(observations, actions, rewards)

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue learning exactly (weights, optimizer, random state)."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    def controller(self, spec: ExportSpec) -> Policy:
        """The frozen policy this agent stands for."""


def run_episode(env: gym.Env, act: Callable[[np.ndarray], np.ndarray]) -> tuple[list, list, list]:
    """Play one episode; returns (observations, actions, rewards), one entry per step."""
    obs, _ = env.reset()
    observations, actions, rewards = [], [], []
    while True:
        action = act(obs)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        observations.append(obs)
        actions.append(np.asarray(action))
        rewards.append(float(reward))
        obs = next_obs
        if terminated or truncated:
            return observations, actions, rewards
