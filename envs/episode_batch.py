"""Batches of whole-run episodes played side by side: ``train_agent --batch-episodes B --workers W [--ray ...]``.

A search over whole-run policies (one decision per child run, ``--steps-per-episode 1``) spends nearly all its
time in child trainings that do not depend on each other once their actions are drawn. Here an agent draws the
actions of ``B`` episodes from its current policy, the ``B`` child runs train at once (a local pool of spawned
workers that die with this process, or tasks on a Ray cluster through ``policy_search.dispatch.run_jobs``), and
the agent learns from the batch with the batch mean as the baseline (REINFORCE with a batch baseline: on-policy,
since the policy does not change inside a batch). One batch costs ``B`` child runs, as ``B`` sequential episodes
do; it finishes ``min(B, workers)`` times sooner on idle cores.

Each episode is exactly the one a sequential run would play at its index: the recorder's seeding (``base_seed *
100_003 + episode``), the same ``AugmentEnv``, the same step. So the episode records, ``episodes.csv``, the
checkpoint (after every batch) and the exports are those of a sequential run; only the learning differs (one update
per batch instead of one per episode), which is why it is a flag, not the default. The initial observation the
agent acts on is computed by the worker that plays the episode (a first pass that resets each episode's child; a
reset is an evaluation of the untrained child, a small fraction of a run).
"""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from policy_search.agents.recorder import EpisodeRecorder

_WORKER_ENVS: dict[str, EpisodeRecorder] = {}


def _worker_env(env_kwargs: dict[str, Any], base_seed: int) -> EpisodeRecorder:
    """One recorder-wrapped AugmentEnv per process and settings (the dataset stays loaded between episodes)."""
    from policy_search.envs.augment_env import AugmentEnv

    key = repr(sorted(env_kwargs.items())) + f"|{base_seed}"
    if key not in _WORKER_ENVS:
        _WORKER_ENVS[key] = EpisodeRecorder(AugmentEnv(**env_kwargs), base_seed=base_seed)
    return _WORKER_ENVS[key]


def play_episode(env_kwargs: dict[str, Any], base_seed: int, episode: int, action: list[int] | None) -> dict:
    """Episode ``episode`` of a sequential run: its initial observation (``action`` None), or the whole episode
    played with ``action`` (its record, as ``EpisodeRecorder`` writes it). Runs in a worker or in this process."""
    env = _worker_env(env_kwargs, base_seed)
    env.episode_index = episode
    obs, _ = env.reset()
    if action is None:
        return {"obs": obs}
    before = len(env.episodes)
    terminated = truncated = False
    reward = 0.0
    while not (terminated or truncated):  # one step for whole-run policies
        obs, reward, terminated, truncated, _ = env.step(np.asarray(action))
    record = env.episodes[before]
    del env.episodes[before:]  # the driver keeps the records; a worker's list would only grow
    return {"record": record, "reward": float(reward)}


class EpisodeBatch:
    """``size`` whole-run episodes per ``play``; wraps the driver's recorder (whose episodes, state and env the
    trainer reads) and plays the episodes in ``workers`` processes or on the Ray cluster ``ray``."""

    is_population = True  # agents play a batch with play(act, learn), like a population run

    def __init__(
        self,
        recorder: EpisodeRecorder,
        env_kwargs: dict[str, Any],
        *,
        size: int,
        total: int,
        workers: int = 1,
        ray: str | None = None,
    ) -> None:
        if size < 2:
            raise ValueError(f"--batch-episodes needs at least 2 episodes per batch (a batch baseline), got {size}")
        self.recorder, self.env_kwargs = recorder, dict(env_kwargs)
        self.size, self.total = int(size), int(total)
        self.workers, self.ray = int(workers), ray
        self._pool: ProcessPoolExecutor | None = None
        self._ray_started = False  # this env connected (or started) the cluster, once, and stops it in close()

    # what the trainer reads from the env it was given --------------------------------------------------------
    @property
    def unwrapped(self) -> Any:
        return self.recorder.unwrapped

    @property
    def episodes(self) -> list[dict[str, Any]]:
        return self.recorder.episodes

    @property
    def episode_index(self) -> int:
        return self.recorder.episode_index

    @episode_index.setter
    def episode_index(self, value: int) -> None:
        self.recorder.episode_index = value

    def state(self) -> dict[str, Any]:
        return self.recorder.state()

    def load_state(self, state: dict[str, Any]) -> None:
        self.recorder.load_state(state)

    def reset(self, **kwargs: Any):
        return self.recorder.reset(**kwargs)

    @property
    def observation_space(self):
        return self.recorder.observation_space

    @property
    def action_space(self):
        return self.recorder.action_space

    def close(self) -> None:
        """Stop the workers (running episodes too: after an error or Ctrl-C nothing waits for them) and the
        cluster this env started."""
        if self._pool is not None:
            processes = list((getattr(self._pool, "_processes", None) or {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                if process.is_alive():
                    process.terminate()
            self._pool = None
        if self._ray_started:
            from policy_search.dispatch import disconnect

            disconnect()
            self._ray_started = False
        self.recorder.close()

    # playing ---------------------------------------------------------------------------------------------------
    def _map(self, jobs: list[tuple]) -> list[dict]:
        if self.ray is not None:
            from policy_search.dispatch import connect, run_jobs

            if not self._ray_started:  # one connection for the whole search: workers keep their data loaded
                self._ray_started = connect(self.ray)
            done = dict(run_jobs(play_episode, jobs, ray=self.ray))
            return [done[i] for i in range(len(jobs))]
        if self.workers == 1:
            return [play_episode(*job) for job in jobs]
        if self._pool is None:  # kept across batches: its workers keep their datasets loaded
            from policy_search.threads import worker_pool

            self._pool = worker_pool(self.workers)
        return list(self._pool.map(play_episode, *zip(*jobs, strict=True)))

    def play(self, act, learn=None) -> list[dict]:
        """One batch: ``act(obs[B, F]) -> actions[B]`` on the episodes' initial observations, the ``B`` episodes
        played, then ``learn(obs, actions, advantages)`` with each return less the batch mean. Returns the records."""
        first = self.recorder.episode_index
        n = max(1, min(self.size, self.total - len(self.recorder.episodes)))
        seed = self.recorder.base_seed
        starts = self._map([(self.env_kwargs, seed, first + i, None) for i in range(n)])
        observations = np.stack([s["obs"] for s in starts])
        actions = [np.asarray(a, dtype=np.int64) for a in act(observations)]
        played = self._map([(self.env_kwargs, seed, first + i, actions[i].tolist()) for i in range(n)])
        records = [p["record"] for p in played]
        self.recorder.episodes.extend(records)
        self.recorder.episode_index = first + n
        returns = np.asarray([r["return"] for r in records], dtype=np.float64)
        returns[~np.isfinite(returns)] = np.nanmin(returns[np.isfinite(returns)]) if np.isfinite(returns).any() else 0
        if learn is not None and n > 1 and not math.isclose(float(returns.std()), 0.0):
            learn(observations, actions, returns - returns.mean())
        return records
