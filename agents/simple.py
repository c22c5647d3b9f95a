"""Agents without learning: uniformly random actions, and fixed policies (any preset or file) run through the
same environment so every policy, learned or not, gets comparable returns."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from policy_search.agents.base import Agent, AgentSettings, ExportSpec
from policy_search.policy.base import Policy
from policy_search.policy.controller import Controller, build_mlp


class RandomAgent(Agent):
    """Uniformly random actions from the env's action space, seeded."""

    learns = False

    supports_population = True

    def __init__(self, action_space: gym.Space, seed: int = 0) -> None:
        self.action_space = action_space
        self.action_space.seed(seed)

    @classmethod
    def for_env(cls, env, settings: AgentSettings) -> RandomAgent:
        if getattr(env, "is_population", False):  # a population has no Gymnasium action space of its own
            return cls(gym.spaces.MultiDiscrete(env.unwrapped.action_spec.nvec), seed=settings.seed)
        return cls(env.action_space, seed=settings.seed)

    def controller(self, spec: ExportSpec) -> Controller:
        net = build_mlp([len(spec.feature_names), int(spec.action_spec.nvec.sum())])
        torch.nn.init.zeros_(net[0].weight)
        torch.nn.init.zeros_(net[0].bias)  # equal logits + sampling = uniformly random actions
        return Controller(
            spec.action_spec,
            net,
            spec.feature_names,
            observe_every=spec.observe_every,
            decision="sample",
            synthetic=spec.synthetic,
            image_spec=spec.image_spec,
        )

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return self.action_space.sample()

    def state_dict(self) -> dict:
        return {"rng": self.action_space.np_random.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.action_space.np_random.bit_generator.state = state["rng"]


class FixedAgent(Agent):
    """For an env built with ``fixed_policy=...``: the action is ignored, the fixed policy augments."""

    learns = False

    uses_fixed_policy = True

    def __init__(self, action_space: gym.Space, fixed_policy: Policy | None = None) -> None:
        self.action = np.zeros(action_space.shape, dtype=action_space.dtype)
        self.fixed_policy = fixed_policy

    @classmethod
    def for_env(cls, env, settings: AgentSettings) -> FixedAgent:
        return cls(env.action_space, env.unwrapped.fixed_policy)

    def controller(self, spec: ExportSpec) -> Policy:
        if self.fixed_policy is None:
            raise ValueError("a fixed agent exports the policy its environment was built with; none was given")
        return self.fixed_policy

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return self.action

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
