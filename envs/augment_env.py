"""``policy_search/Augment-v0``: one episode is one child training run; each step picks the augmentation.

Each step the agent chooses ops, magnitudes and per-sample probabilities (``ActionSpec``) for the next K
batches; the child trains K batches with that policy (per-sample randomness, batched ops), then is evaluated on a
fixed subset of its validation split (held out of train; the test split is locked). Reward::

    reward = reward_scale * (metric_after - metric_before) - cost_weight * cost
    cost   = expected op cost per image (Brightness = 1, ops.OP_COST, measured by benchmarks/op_costs.py)
             * fraction of the episode's batches this step covered

The metric is the task's validation score (``reward_metric="accuracy"``: accuracy, or entity F1 for a tagger, the
child's ``score``) or negative validation loss (``"loss"``); the
episode's return telescopes to the final-minus-initial metric less the total cost. That is ``credit="step"``: with
a discount below 1 it credits each action with what it did to the next evaluations, and augmentation, which costs
accuracy now and pays at the end of training, looks harmful (the short-horizon bias, Wu et al., ICLR 2018).
``credit="end"`` gives every step only its cost, and the last step ``reward_scale * final metric`` measured on the
whole validation split: the return is the child's final validation accuracy less the total cost, what
AutoAugment rewarded; agents should then use gamma 1. Wall-clock time never enters reward or ``info`` (it would
break determinism); it goes to the trainer's logs.

A child whose loss becomes NaN ends the episode with ``reward = -divergence_penalty`` and
``info["diverged"]`` holding the reason, instead of crashing the search.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from policy_search.child.run import FEATURE_NAMES, ChildDivergedError, ChildRun
from policy_search.policy.action_space import DEFAULT_RATIOS, ActionSpec, parse_synthetic
from policy_search.policy.base import Policy

log = logging.getLogger(__name__)
REWARD_METRICS = ("accuracy", "loss")
CREDITS = ("step", "end")


class AugmentEnv(gym.Env):
    """Gymnasium env over a ``ChildRun``. ``task`` is a preset name (``policy_search.child.tasks.PRESETS``)."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        task: str = "mnist-episode",
        *,
        steps_per_episode: int = 8,
        action_mode: str = "discrete",
        action_spec: ActionSpec | None = None,
        base: str | Policy | None = None,
        reward_metric: str = "accuracy",
        credit: str = "step",
        reward_scale: float = 100.0,
        cost_weight: float = 0.02,
        divergence_penalty: float = 10.0,
        fixed_policy: str | Policy | None = None,
        synthetic: str | None = None,
        device: str = "cpu",
        data_dir: str | None = None,
        task_overrides: dict | None = None,
    ) -> None:
        from policy_search.child.tasks import get_preset

        self.preset = get_preset(task, **(task_overrides or {}))  # fails early, naming valid presets
        if action_mode not in ("discrete", "box"):
            raise ValueError(f"action_mode {action_mode!r} is not 'discrete' or 'box'")
        if reward_metric not in REWARD_METRICS:
            raise ValueError(f"reward_metric {reward_metric!r} is not one of {REWARD_METRICS}")
        if credit not in CREDITS:
            raise ValueError(f"credit {credit!r} is not one of {CREDITS}")
        if steps_per_episode < 1:
            raise ValueError(f"steps_per_episode must be >= 1, got {steps_per_episode}")
        self.task = task
        self.steps_per_episode = int(steps_per_episode)
        if synthetic is not None:
            parse_synthetic(synthetic)  # fails early on a bad name
        self.synthetic = synthetic
        # With a generator, the action also picks the synthetic-data ratio r for the next K batches.
        if action_spec is None:  # the child's op table: image or text
            action_spec = ActionSpec.slots_spec(self.preset.modality, ratios=DEFAULT_RATIOS if synthetic else ())
        self.action_spec = action_spec
        if self.action_spec.ratios and synthetic is None:
            raise ValueError("the action spec has synthetic ratios but no generator: pass synthetic='vae'|'dcgan'")
        self.action_mode = action_mode
        self.reward_metric = reward_metric
        self.credit = credit
        self.reward_scale = float(reward_scale)
        self.cost_weight = float(cost_weight)
        self.divergence_penalty = float(divergence_penalty)
        self.device = device
        self.data_dir = data_dir
        self.base = self._as_policy(base)
        self.fixed_policy = self._as_policy(fixed_policy)
        nvec = self.action_spec.nvec
        self.action_space: spaces.Space = (
            spaces.MultiDiscrete(nvec)
            if action_mode == "discrete"
            else spaces.Box(-1.0, 1.0, shape=(len(nvec),), dtype=np.float32)
        )
        self.observation_space = spaces.Box(-5.0, 5.0, shape=(len(FEATURE_NAMES),), dtype=np.float32)
        self.run: ChildRun | None = None
        self._aug_generator = torch.Generator()
        self._metric = 0.0

    @staticmethod
    def _as_policy(value: str | Policy | None) -> Policy | None:
        if value is None or isinstance(value, Policy):
            return value
        from policy_search.policy import load_policy

        return load_policy(value)

    # -- Gymnasium API ---------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        child_seed = int(self.np_random.integers(0, 2**31 - 1))
        self._aug_generator = torch.Generator().manual_seed(int(self.np_random.integers(0, 2**31 - 1)))
        self.run = ChildRun(self.preset, seed=child_seed, device=self.device, data_dir=self.data_dir, allow_test=False)
        self.batches_per_step = math.ceil(self.run.total_batches / self.steps_per_episode)
        if self.fixed_policy is not None and hasattr(self.fixed_policy, "reset"):
            self.fixed_policy.reset()
        self._metric = self._measure(self.run.evaluate("val"))
        self._observe_fixed()
        return self.run.features(), {"child_seed": child_seed, "total_batches": self.run.total_batches}

    def step(self, action):
        if self.run is None:
            raise RuntimeError("call reset() before step()")
        if self.run.done:
            raise RuntimeError("the episode has ended; call reset()")
        discrete = self.action_spec.to_discrete(np.asarray(action), box=self.action_mode == "box")
        policy = self.fixed_policy if self.fixed_policy is not None else self.action_spec.to_policy(discrete, self.base)
        if self.fixed_policy is None and policy.observes_batches:  # a learner starts from the child's seed
            policy.reset(self.run.seed)
        before = self.run.batches_done
        run = self.run
        ratio = self.action_spec.ratio_of(discrete) if self.fixed_policy is None else 0.0
        synthetic = self._synthetic(ratio)
        info: dict[str, Any] = {
            "action": discrete.tolist(),
            "ops": self.action_spec.slots_of(discrete),
            "synthetic_ratio": ratio,
        }
        try:
            # End-of-run credit judges the last step on the whole validation split (less noise than the subset)
            whole = self.credit == "end" and run.batches_done + self.batches_per_step >= run.total_batches
            _, val = run.segment(
                self.batches_per_step,
                policy,
                self._aug_generator,
                then=None if synthetic is None else synthetic[0],
                full_val=whole,
            )
            if not math.isfinite(val["loss"]):
                raise ChildDivergedError(f"validation loss became {val['loss']} at batch {run.batches_done}")
        except ChildDivergedError as err:
            log.warning("child run diverged, ending the episode with a penalty: %s", err)
            info.update(diverged=str(err), val_acc=float("nan"), cost=0.0, samples=run.compute_spent)
            return run.features(), -self.divergence_penalty, True, False, info
        fraction = (run.batches_done - before) / run.total_batches
        per_image = policy.expected_cost(run.progress) + (0.0 if synthetic is None else synthetic[1])
        cost = per_image * fraction
        metric = self._measure(val)
        if self.credit == "step":
            reward = self.reward_scale * (metric - self._metric) - self.cost_weight * cost
        elif run.done:  # end-of-run credit
            reward = self.reward_scale * metric - self.cost_weight * cost
        else:
            reward = -self.cost_weight * cost
        self._metric = metric
        self._observe_fixed()
        info.update(
            val_acc=val["score"],  # the task's score: accuracy, entity F1 for a tagger (episodes.csv final_val_acc)
            val_loss=val["loss"],
            cost=float(cost),
            samples=run.compute_spent,
            progress=run.progress,
        )
        return run.features(), float(reward), bool(run.done), False, info

    # -- helpers -------------------------------------------------------------------------------------------------
    def _synthetic(self, ratio: float):
        """(batch_transform, cost per image) for the synthetic op at ``ratio``, or None when it is off."""
        if ratio <= 0 or self.synthetic is None:
            return None
        from policy_search.generative.synthetic import synthetic_for

        op = synthetic_for(self.synthetic, ratio, self.run.splits["train"].images[:1])
        return op, op.expected_cost()

    def _measure(self, val: dict) -> float:
        return float(val["score"]) if self.reward_metric == "accuracy" else -float(val["loss"])

    def _observe_fixed(self) -> None:
        # Fixed policies that watch training (heuristics, frozen controllers) see the same features as agents.
        if self.fixed_policy is not None and getattr(self.fixed_policy, "observes_training", False):
            self.fixed_policy.observe(self.run.feature_dict())

    def snapshot(self) -> dict:
        """The full state (child + augmentation RNG + metric), for reward-noise measurements and replays."""
        return {"run": self.run.state_dict(), "aug": self._aug_generator.get_state(), "metric": self._metric}

    def restore(self, state: dict, seed: int | None = None) -> None:
        """Restore a snapshot; with ``seed``, redraw the augmentation randomness and the batch order from it."""
        self.run.load_state_dict(state["run"])
        self._aug_generator.set_state(state["aug"])
        self._metric = state["metric"]
        if seed is not None:
            self._aug_generator.manual_seed(seed)
            self.run.generator.manual_seed(seed)
            self.run._cursor = len(self.run._order)  # next batch starts a fresh permutation from the new seed
