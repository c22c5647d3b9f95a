"""A population of children trained side by side over segments, with rewards relative to the population.

The OHL-AutoAug design (Lin et al., ICCV 2019), close to PBA (Ho et al., ICML 2019): ``size`` copies of one child
network start from the same weights and see the same batches; the run is cut into ``segments`` equal segments.
At the start of each segment every member samples its own augmentation from the agent; at its end every member is
evaluated on the validation split carved from train, and member k's reward is::

    reward_k = reward_scale * (val_acc_k - mean over members of val_acc) - cost_weight * cost_k

Because the members share weights, data order and learning-rate schedule, the difference between two members is
their augmentation alone (common random numbers), so a segment's reward is far less noisy than one child's
accuracy gain. Then the best member's weights and optimizer state are copied to all the others (exploit), so the
population follows the augmentation path that has been best so far, and later segments are judged from the state
that good early choices produced: credit reaches past one segment through the weights. The last segment is
judged on the whole validation split.

One population run costs ``size`` child-run equivalents of training. Members train in ``workers`` processes
(``workers=1`` trains them one after another in this process); a member's state travels to its worker and back
(a few hundred kB for the small presets).

Every member of every run is recorded as an episode in the ``EpisodeRecorder`` format, so the trainer's logs,
CSV and schedule distillation treat a population exactly like single episodes.
"""

from __future__ import annotations

import copy
import math
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import torch

from policy_search.child.run import ChildDivergedError, ChildRun
from policy_search.child.tasks import TaskPreset
from policy_search.policy.action_space import ActionSpec
from policy_search.policy.base import Policy

_WORKER_RUNS: dict[tuple, ChildRun] = {}


def _member_run(preset: TaskPreset, data_dir: str | None, device: str) -> ChildRun:
    """One ChildRun per process and preset; members load their state into it before each segment."""
    key = (preset, data_dir, device)
    if key not in _WORKER_RUNS:
        _WORKER_RUNS[key] = ChildRun(preset, seed=0, device=device, data_dir=data_dir, allow_test=False)
    return _WORKER_RUNS[key]


def train_segment(job: dict) -> dict:
    """Train one member for one segment (runs in a worker process, or in this one).

    ``job``: preset, data_dir, device, state (ChildRun.state_dict), spec (ActionSpec dict), action, base (Policy
    or None), batches, aug_state (torch.Generator state), full_val (evaluate the whole validation split).
    """
    run = _member_run(job["preset"], job["data_dir"], job["device"])
    run.load_state_dict(copy.deepcopy(job["state"]))  # loading aliases optimizer buffers: never share them
    spec = ActionSpec.from_dict(job["spec"])
    policy = spec.to_policy(np.asarray(job["action"]), job["base"])
    generator = torch.Generator()
    generator.set_state(job["aug_state"])
    before = run.batches_done
    try:
        _, val = run.segment(job["batches"], policy, generator, full_val=job["full_val"])
    except ChildDivergedError as err:  # this member loses the segment; the population goes on from the others
        return {
            "state": job["state"],
            "aug_state": generator.get_state(),
            "val_acc": 0.0,
            "val_loss": math.inf,
            "features": run.features(),
            "done": run.done,
            "cost": 0.0,
            "samples": run.compute_spent,
            "progress": run.progress,
            "diverged": str(err),
        }
    fraction = (run.batches_done - before) / run.total_batches
    return {
        "state": run.state_dict(),
        "aug_state": generator.get_state(),
        "val_acc": float(val["score"]),  # the task's score (entity F1 for a tagger)
        "val_loss": float(val["loss"]),
        "features": run.features(),
        "done": run.done,
        "cost": float(policy.expected_cost(run.progress) * fraction),
        "samples": run.compute_spent,
        "progress": run.progress,
        "diverged": "",
    }


class Population:
    """``size`` children of ``preset`` over ``segments`` segments; ``run(act)`` plays one population run.

    Exposes what the trainer's export reads from a single-child env (``action_spec``, ``base``, ``synthetic``,
    ``batches_per_step``, ``run`` for the image shape) and the recorder's ``episodes`` / ``state()``.
    """

    is_population = True  # agents play a population run with play(), not step by step

    def __init__(
        self,
        preset: TaskPreset,
        *,
        size: int = 4,
        segments: int = 4,
        action_spec: ActionSpec,
        base: Policy | None = None,
        reward_scale: float = 100.0,
        cost_weight: float = 0.02,
        workers: int = 1,
        base_seed: int = 0,
        device: str = "cpu",
        data_dir: str | None = None,
        ray: str | None = None,
    ) -> None:
        if size < 2:
            raise ValueError(f"a population needs at least 2 members, got {size}")
        if segments < 1:
            raise ValueError(f"a population run needs at least 1 segment, got {segments}")
        if workers < 1:
            raise ValueError(f"--workers must be at least 1, got {workers}")
        if action_spec.ratios:
            raise ValueError("populations do not support synthetic-data ratios yet; drop --synthetic")
        self.preset, self.size, self.segments = preset, int(size), int(segments)
        self.action_spec, self.base, self.synthetic = action_spec, base, None
        self.reward_scale, self.cost_weight = float(reward_scale), float(cost_weight)
        self.workers, self.device, self.data_dir = int(workers), device, data_dir
        self.base_seed = int(base_seed)
        self.run = ChildRun(preset, seed=0, device=device, data_dir=data_dir, allow_test=False)
        self.batches_per_step = math.ceil(self.run.total_batches / self.segments)
        self.episode_index = 0  # member episodes recorded so far
        self.population_index = 0
        self.episodes: list[dict[str, Any]] = []
        self._pool: ProcessPoolExecutor | None = None
        self.ray = ray  # members' segments as tasks on this Ray cluster (policy_search.dispatch), else the pool
        self._ray_started = False

    @property
    def unwrapped(self) -> Population:
        return self

    def _map(self, jobs: list[dict]) -> list[dict]:
        if self.ray is not None:
            from policy_search.dispatch import connect, run_jobs

            if not self._ray_started:  # one connection for the whole search, stopped in close()
                self._ray_started = connect(self.ray)
            done = dict(run_jobs(train_segment, [(job,) for job in jobs], ray=self.ray))
            return [done[i] for i in range(len(jobs))]
        if self.workers == 1:
            return [train_segment(job) for job in jobs]
        if self._pool is None:
            from policy_search.threads import worker_pool

            self._pool = worker_pool(self.workers)
        return list(self._pool.map(train_segment, jobs))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self._ray_started:
            from policy_search.dispatch import disconnect

            disconnect()
            self._ray_started = False

    def play(self, act, learn=None) -> list[dict]:
        """One population run. ``act(obs[K, F]) -> actions[K]``; ``learn(obs, actions, rewards)`` is called after
        every segment with that segment's K observations, actions and population-relative rewards.
        Returns the K member episodes just recorded."""
        seed = self.base_seed * 100_003 + self.population_index
        start = ChildRun(self.preset, seed=seed, device=self.device, data_dir=self.data_dir, allow_test=False)
        start.evaluate("val")
        state, obs = start.state_dict(), start.features()
        aug = [torch.Generator().manual_seed(seed * 31 + k + 1).get_state() for k in range(self.size)]
        steps: list[list[dict]] = [[] for _ in range(self.size)]
        observations = np.repeat(obs[None], self.size, 0)
        results: list[dict] = []
        for segment in range(self.segments):
            actions = [np.asarray(a, dtype=np.int64) for a in act(observations)]
            last = segment == self.segments - 1
            jobs = [self._job(state, actions[k], aug[k], last) for k in range(self.size)]
            results = self._map(jobs)
            accs = np.asarray([r["val_acc"] for r in results])
            costs = np.asarray([r["cost"] for r in results])
            rewards = self.reward_scale * (accs - accs.mean()) - self.cost_weight * costs
            if learn is not None:
                learn(observations, actions, rewards)
            for k, r in enumerate(results):
                aug[k] = r["aug_state"]
                steps[k].append(
                    {
                        "action": actions[k].tolist(),
                        "ops": self.action_spec.slots_of(actions[k]),
                        "reward": float(rewards[k]),
                        "val_acc": r["val_acc"],
                        "cost": r["cost"],
                    }
                )
            best = int(accs.argmax())  # exploit: every member continues from the best member's state
            state = results[best]["state"]
            observations = np.repeat(results[best]["features"][None], self.size, 0)
            if results[best]["done"]:
                break
        recorded = [self._record(k, r, steps[k], seed) for k, r in enumerate(results)]
        self.population_index += 1
        self.episodes.extend(recorded)
        return recorded

    def _job(self, state: dict, action: np.ndarray, aug_state: Any, full_val: bool) -> dict[str, Any]:
        """One member's segment: continue from ``state`` with ``action`` and its own augmentation stream."""
        return {
            "preset": self.preset,
            "data_dir": self.data_dir,
            "device": self.device,
            "state": state,
            "spec": self.action_spec.to_dict(),
            "action": action.tolist(),
            "base": self.base,
            "batches": self.batches_per_step,
            "aug_state": aug_state,
            "full_val": full_val,
        }

    def _record(self, k: int, result: dict, steps: list[dict], seed: int) -> dict[str, Any]:
        """Member ``k``'s episode of the population run just played (numbered in play order)."""
        record = {
            "episode": self.episode_index,
            "population": self.population_index,
            "member": k,
            "return": float(sum(s["reward"] for s in steps)),
            "final_val_acc": result["val_acc"],
            "samples": int(result["samples"]),
            "cost": float(sum(s["cost"] for s in steps)),
            "diverged": result["diverged"],
            "child_seed": seed,
            "steps": steps,
        }
        self.episode_index += 1
        return record

    def state(self) -> dict[str, Any]:
        return {
            "base_seed": self.base_seed,
            "episode_index": self.episode_index,
            "population_index": self.population_index,
            "episodes": self.episodes,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.base_seed = int(state["base_seed"])
        self.episode_index = int(state["episode_index"])
        self.population_index = int(state.get("population_index", 0))
        self.episodes = list(state["episodes"])
