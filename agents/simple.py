"""Agents without learning: uniformly random actions, and fixed policies (any preset or file) run through the
same environment so every policy, learned or not, gets comparable returns."""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np


class RandomAgent:
    """Uniformly random actions from the env's action space, seeded."""

    def __init__(self, action_space: gym.Space, seed: int = 0) -> None:
        self.action_space = action_space
        self.action_space.seed(seed)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return self.action_space.sample()

    def state_dict(self) -> dict:
        return {"rng": self.action_space.np_random.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.action_space.np_random.bit_generator.state = state["rng"]


class FixedAgent:
    """For an env built with ``fixed_policy=...``: the action is ignored, the fixed policy augments."""

    def __init__(self, action_space: gym.Space) -> None:
        self.action = np.zeros(action_space.shape, dtype=action_space.dtype)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return self.action

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


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
