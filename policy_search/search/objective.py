"""Samplers, pruners and the trial objective of the Optuna search: one child run scored on validation accuracy.

The objective never touches the test split (``ChildRun(allow_test=False)``). It drives ``ChildRun.train`` and
``ChildRun.evaluate`` directly so the validation accuracy after every evaluation interval is reported to the
pruner; the score is the final validation accuracy on the whole validation split (the per-interval reports use
the preset's smaller fixed ``eval_samples`` subset, as the RL reward does).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

from policy_search.child.run import ChildDivergedError, ChildRun, augment_generator
from policy_search.outputs import kill_point
from policy_search.policy import Policy

__all__ = ["PRUNERS", "SAMPLERS", "TrialResult", "TrialSeededSampler", "make_pruner", "make_sampler", "run_trial"]

SAMPLERS = ("tpe", "random")
PRUNERS = ("none", "median", "hyperband")


def _base_sampler(name: str, seed: int, n_startup_trials: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        # Every argument that changed default between Optuna 4 and 5 (multivariate, constant_liar) is pinned, so
        # a study means the same thing under either. constant_liar: running trials count as bad guesses, which
        # keeps parallel workers from proposing the same point (Optuna docs, "TPESampler").
        return optuna.samplers.TPESampler(
            n_startup_trials=n_startup_trials,
            n_ei_candidates=24,
            seed=seed,
            multivariate=True,
            group=False,
            constant_liar=True,
        )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """Wraps a sampler and reseeds it from ``(seed, trial.number)`` before each trial.

    Trial numbers are unique across workers (the storage assigns them), so workers started with the same
    ``--seed`` never replay one another's random draws, and a trial's draws do not depend on which worker ran it.
    """

    def __init__(self, name: str, seed: int, n_startup_trials: int) -> None:
        self._name, self._seed, self._n_startup = name, seed, n_startup_trials
        self._inner = _base_sampler(name, seed % 2**32, n_startup_trials)

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        # numpy seeds are 32-bit: reduced modulo 2**32 (the same value as before for every seed that fitted)
        self._inner = _base_sampler(self._name, (self._seed * 1_000_003 + trial.number) % 2**32, self._n_startup)
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict:
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, search_space: dict) -> dict:
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        param_name: str,
        param_distribution: optuna.distributions.BaseDistribution,
    ) -> Any:
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial, state: optuna.trial.TrialState, values: Any
    ) -> None:
        self._inner.after_trial(study, trial, state, values)


def make_sampler(name: str, seed: int, n_startup_trials: int = 10) -> optuna.samplers.BaseSampler:
    """``tpe`` or ``random``, reseeded per trial number (see TrialSeededSampler)."""
    _base_sampler(name, seed % 2**32, n_startup_trials)  # validates the name before anything else runs
    return TrialSeededSampler(name, seed, n_startup_trials)


def make_pruner(name: str, n_reports: int) -> optuna.pruners.BasePruner:
    """``none``, ``median`` or ``hyperband``; ``n_reports`` is the number of validation reports per trial."""
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        # Prune only once 3 trials have finished: with fewer, the median is one noisy run.
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0, interval_steps=1, n_min_trials=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, n_reports), reduction_factor=3)
    raise ValueError(f"unknown pruner {name!r}; choose one of {', '.join(PRUNERS)}")


@dataclass
class TrialResult:
    """What one trial's child run produced (stored as the trial's user attributes)."""

    value: float
    """Final validation accuracy on the whole validation split (or the last report, if pruned)."""
    pruned: bool
    samples: int
    """Child-training samples spent (``ChildRun.compute_spent``: extra forward passes at a third): the compute unit
    of the comparison."""
    wall_s: float
    reports: int
    diverged: bool = False


def run_trial(
    trial: optuna.Trial,
    policy: Policy,
    *,
    task: str,
    seed: int,
    device: str,
    data_dir: str | None,
    evals_per_epoch: int,
    overrides: dict,
    on_run: Callable[[ChildRun], None] | None = None,
    synthetic: tuple[str, float] | None = None,
) -> TrialResult:
    """Train one child with ``policy``, reporting validation accuracy every 1/``evals_per_epoch`` epoch.

    The child seed is the search seed for every trial (paired comparisons: trials differ only in the policy).
    """
    start = time.perf_counter()
    run = ChildRun(task, seed=seed, device=device, data_dir=data_dir, allow_test=False, **overrides)
    if on_run is not None:
        on_run(run)
    generator = augment_generator(seed)  # the stream run_child uses, so a trial replays as a benchmark run

    then = None
    if synthetic is not None and synthetic[1] > 0:  # (generator "model[:size]", ratio r)
        from policy_search.generative.synthetic import synthetic_for

        then = synthetic_for(synthetic[0], synthetic[1], run.splits["train"].images[:1])
    interval = max(1, run.batches_per_epoch // max(1, evals_per_epoch))
    step = 0
    try:
        while not run.done:
            accuracy = run.segment(interval, policy, generator, then=then)[1]["score"]  # entity F1 for a tagger
            trial.report(accuracy, step)
            step += 1
            if not run.done and trial.should_prune():
                return TrialResult(accuracy, True, run.compute_spent, time.perf_counter() - start, step)
        final = run.evaluate("val", max_samples=len(run.splits["val"]))["score"]
        kill_point("search:trial-done")
        return TrialResult(final, False, run.compute_spent, time.perf_counter() - start, step)
    except ChildDivergedError:
        # A policy that makes training diverge is a bad policy, not a broken search: score it at chance.
        return TrialResult(1.0 / run.num_classes, False, run.compute_spent, time.perf_counter() - start, step, True)


def planned_reports(run: ChildRun, evals_per_epoch: int) -> int:
    """Validation reports a full trial makes (the pruners' resource axis)."""
    interval = max(1, run.batches_per_epoch // max(1, evals_per_epoch))
    return math.ceil(run.total_batches / interval)
