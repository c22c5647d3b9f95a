"""EpisodeRecorder: a Gymnasium wrapper that seeds each episode from a counter and records what happened.

Every agent (PPO inside SB3's VecEnv, AugNet, random, fixed) runs through it, so every policy gets the same
child seeds episode by episode and returns are comparable. Its state (counter + finished episodes) is part of
each checkpoint, so a resumed run continues with the next episode's seed.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np


class EpisodeRecorder(gym.Wrapper):
    """Seeds episode k with ``base_seed * 100_003 + k``; keeps per-step actions and per-episode summaries."""

    def __init__(self, env: gym.Env, base_seed: int = 0) -> None:
        super().__init__(env)
        self.base_seed = int(base_seed)
        self.episode_index = 0
        self.episodes: list[dict[str, Any]] = []
        self._steps: list[dict[str, Any]] = []
        self._return = 0.0
        self._child_seed = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        # The incoming seed is ignored on purpose: SB3's auto-reset passes none, and episodes must be seeded the
        # same way for every agent and across resumes.
        obs, info = self.env.reset(seed=self.base_seed * 100_003 + self.episode_index, options=options)
        self._steps, self._return = [], 0.0
        self._child_seed = info.get("child_seed")
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._return += float(reward)
        self._steps.append(
            {
                "action": info.get("action"),
                "ops": info.get("ops"),
                "reward": float(reward),
                "val_acc": info.get("val_acc"),
                "cost": info.get("cost", 0.0),
            }
        )
        if terminated or truncated:
            self.episodes.append(
                {
                    "episode": self.episode_index,
                    "return": self._return,
                    "final_val_acc": float(info.get("val_acc", math.nan)),
                    "samples": int(info.get("samples", 0)),
                    "cost": float(np.sum([s["cost"] for s in self._steps])),
                    "diverged": info.get("diverged", ""),
                    "child_seed": self._child_seed,
                    "steps": self._steps,
                }
            )
            self.episode_index += 1
        return obs, reward, terminated, truncated, info

    def state(self) -> dict[str, Any]:
        return {"base_seed": self.base_seed, "episode_index": self.episode_index, "episodes": self.episodes}

    EPISODE_KEYS = ("episode", "return", "final_val_acc", "samples", "cost", "diverged", "child_seed", "steps")

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore from ``state()``; a state of another structure raises ValueError (nothing is changed)."""
        episodes = state["episodes"]
        if not isinstance(episodes, list) or not all(
            isinstance(e, dict) and all(k in e for k in self.EPISODE_KEYS) and isinstance(e["steps"], list)
            for e in episodes
        ):
            raise ValueError("the recorder's episodes are not a list of episode records")
        index = int(state["episode_index"])
        if index != len(episodes):
            raise ValueError(f"the recorder counts {index} episodes but holds {len(episodes)}")
        self.base_seed = int(state["base_seed"])
        self.episode_index = index
        self.episodes = list(episodes)
