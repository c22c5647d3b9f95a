"""Optuna search spaces over augmentation policies, one small function per policy family (rl-zoo style).

Each space function takes an ``optuna.Trial`` (or ``optuna.trial.FixedTrial`` to rebuild a policy from stored
parameters) and the task's image size, suggests its parameters, records the real parameter beside the sampled
one as a user attribute (``sp0_op0_param = 15.0`` beside ``sp0_mag0 = 5``; units in ``docs/OPS.md``), and
returns a ``policy_search.policy.Policy``. The parameter names are fixed per family, so TPE sees one search
space for the whole study.

Families:
- ``subpolicies``: K sub-policies x 2 slots, each slot an op (categorical over ``ops.OP_NAMES``), a probability
  (0, 0.1, ..., 1, the AutoAugment grid) and a magnitude bin of ``SUBPOLICY_BINS``; AutoAugment's search space
  (Cubuk et al., 2019) with all of this library's ops.
- ``randaugment``: RandAugment's N (ops per image) and M (magnitude bin of 31) (Cubuk et al., 2020).
- ``schedule``: ``SCHEDULE_PHASES`` equal phases of training, each its own RandAugment (N, M): the static
  analogue of what an RL controller can do over an episode.
- ``compact``: the RL agents' compact action (``ActionSpec.compact()``) as one static policy: horizontal flip on
  or off, pad-and-crop on or off, RandAugment N in 0..3 at magnitude bin M of 10. Static search and RL then
  explore the same policies, so their comparison at equal compute is like for like.
- ``families`` / ``text-families``: the compact action with an on/off choice per op family
  (``ActionSpec.families_spec()``: images affine, colour, tone; text each op), RandAugment drawing only from the
  families that are on: the RL agents' ``--action-kind families`` as one static policy.
- ``online`` / ``text-online``: the settings of a controller that learns inside each run (``ActionSpec.online_spec()``:
  may flip, may crop, ops per sample, magnitude cap, affinity target; text the last three): the RL agents'
  ``--action-kind online`` as one static choice.
- ``rates`` / ``text-rates``: one magnitude per op, 0 leaving it off (``ActionSpec.rates_spec()``): every op that is
  on applies at its own magnitude (a text op at its own rate); the RL agents' ``--action-kind rates`` as one static
  policy (issue 35: a tagging op's own rate).
- ``text-compact``: the same for text tasks (``ActionSpec.compact("text")``): TextRandAugment's N in 0..3 ops per
  sequence from the six text ops at magnitude bin M of 10 (rate ``MAX_RATE * M / 9``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
import torch

from policy_search.ops import image as ops
from policy_search.ops.text import MAX_RATE
from policy_search.policy import ImageSpec, Policy, RandAugment, Schedule, SubPolicies

__all__ = [
    "RANDAUGMENT_BINS",
    "SCHEDULE_PHASES",
    "SPACES",
    "SUBPOLICY_BINS",
    "SUBPOLICY_COUNT",
    "build_policy",
    "sample_randaugment",
    "sample_schedule",
    "sample_subpolicies",
]

TrialLike = optuna.Trial | optuna.trial.FixedTrial
SpaceFn = Callable[[TrialLike, ImageSpec], Policy]

SUBPOLICY_COUNT = 5
"""Sub-policies per sampled policy (AutoAugment searched 5 per controller sample, then concatenated 5 of them)."""
SUBPOLICY_SLOTS = 2
"""Ops per sub-policy, as in AutoAugment."""
SUBPOLICY_BINS = 11
"""Magnitude grid of the sub-policy space: bin b -> normalized magnitude b / 10 (AutoAugment used 10 bins)."""
RANDAUGMENT_BINS = 31
"""torchvision's RandAugment grid: M in 0..30."""
RANDAUGMENT_MAX_OPS = 3
"""Largest N searched (RandAugment's paper searched N in 1..3)."""
SCHEDULE_PHASES = 3
"""Equal-length phases of the schedule space (thirds of training)."""


def _real_param(op: str, magnitude: float, image: ImageSpec, num_bins: int) -> float:
    """The op's physical parameter (positive sign) at a normalized magnitude, in the op's units."""
    value = ops.magnitude_to_param(
        op, torch.tensor([magnitude]), torch.tensor([1.0]), "standard", (image.height, image.width), num_bins=num_bins
    )
    return round(float(value[0]), 6)


def sample_subpolicies(trial: TrialLike, image: ImageSpec) -> Policy:
    """K sub-policies x 2 slots of (op, probability, magnitude bin); records each slot's physical parameter."""
    rows = []
    for i in range(SUBPOLICY_COUNT):
        row = []
        for j in range(SUBPOLICY_SLOTS):
            op = trial.suggest_categorical(f"sp{i}_op{j}", list(ops.OP_NAMES))
            prob = trial.suggest_float(f"sp{i}_prob{j}", 0.0, 1.0, step=0.1)
            mag_bin = trial.suggest_int(f"sp{i}_mag{j}", 0, SUBPOLICY_BINS - 1)
            magnitude = mag_bin / (SUBPOLICY_BINS - 1)
            trial.set_user_attr(f"sp{i}_op{j}_param", _real_param(op, magnitude, image, SUBPOLICY_BINS))
            row.append((op, round(prob, 1), magnitude))
        rows.append(row)
    return SubPolicies(rows, num_bins=SUBPOLICY_BINS, image_spec=image)


def _randaugment(trial: TrialLike, image: ImageSpec, prefix: str) -> RandAugment:
    num_ops = trial.suggest_int(f"{prefix}num_ops", 0, RANDAUGMENT_MAX_OPS)
    magnitude = trial.suggest_int(f"{prefix}magnitude", 0, RANDAUGMENT_BINS - 1)
    # Real parameters at bin M: the normalized magnitude and two representative physical values.
    normalized = magnitude / (RANDAUGMENT_BINS - 1)
    trial.set_user_attr(f"{prefix}magnitude_normalized", round(normalized, 6))
    trial.set_user_attr(f"{prefix}rotate_degrees", _real_param("Rotate", normalized, image, RANDAUGMENT_BINS))
    trial.set_user_attr(f"{prefix}translate_pixels", _real_param("TranslateX", normalized, image, RANDAUGMENT_BINS))
    return RandAugment(num_ops=num_ops, magnitude=magnitude, num_bins=RANDAUGMENT_BINS, image_spec=image)


def sample_randaugment(trial: TrialLike, image: ImageSpec) -> Policy:
    """RandAugment (N, M): N ops per image uniformly from torchvision's set, all at magnitude bin M of 31."""
    return _randaugment(trial, image, "")


def sample_schedule(trial: TrialLike, image: ImageSpec) -> Policy:
    """A RandAugment (N, M) per equal phase of training (``SCHEDULE_PHASES`` phases)."""
    phases = []
    for i in range(SCHEDULE_PHASES):
        end = 1.0 if i == SCHEDULE_PHASES - 1 else round((i + 1) / SCHEDULE_PHASES, 6)
        trial.set_user_attr(f"phase{i}_end_progress", end)
        phases.append((end, _randaugment(trial, image, f"phase{i}_")))
    return Schedule(phases, image_spec=image)


def _sample_action(trial: TrialLike, image: ImageSpec, spec: Any) -> Policy:
    """One static action of a compact ``ActionSpec`` (with or without family heads, on images or text, narrowed or
    not): flip, crop (images), one on/off per family, RandAugment's N and M, under fixed parameter names; or of the
    online action, one parameter per head; or of the rates action, one magnitude choice per op."""
    if spec.kind == "rates":
        action = [trial.suggest_int(f"rate_{op}", 0, int(n) - 1) for op, n in zip(spec.ops, spec.nvec, strict=True)]
        size = (image.height, image.width) if image is not None else None
        for op, _, unit in spec.slots_of(action):  # each op's real parameter (a text op's rate), 0 when off
            trial.set_user_attr(f"rate_{op}_value", spec._modality.physical(op, unit, size, spec.num_bins))
        policy = spec.to_policy(action)
        policy.image_spec = image
        return policy
    if spec.kind == "online":  # one parameter per head of the online action
        action = [trial.suggest_int(name, 0, int(n) - 1) for name, n in zip(spec.head_names(), spec.nvec, strict=True)]
        _, n_ops, cap, target = spec._split_online(action)  # the real settings beside the sampled indices
        trial.set_user_attr("ops_per_sample_value", n_ops)
        trial.set_user_attr("magnitude_cap_value", cap)
        trial.set_user_attr("affinity_target_value", target)
        policy = spec.to_policy(action)
        policy.image_spec = image
        return policy
    action = [trial.suggest_int("flip", 0, 1), trial.suggest_int("crop", 0, 1)] if spec._geometric else []
    action += [trial.suggest_int(f"family_{name}", 0, 1) for name in spec.family_names()]
    magnitudes = int(spec.nvec[len(action) + 1])  # the M head: every bin, or the narrowed range's
    action += [trial.suggest_int("num_ops", 0, spec.max_ops), trial.suggest_int("magnitude", 0, magnitudes - 1)]
    unit = spec._split(action)[3] / (spec.num_bins - 1)
    if spec.modality == "image":
        trial.set_user_attr("rotate_degrees", _real_param("Rotate", unit, image, spec.num_bins))
    else:
        trial.set_user_attr("rate", MAX_RATE["RandomDeletion"] * unit)  # the EDA ops' rate at this bin
    policy = spec.to_policy(action)
    policy.image_spec = image
    return policy


# The spaces that are the RL agents' actions as one static policy: (action kind, modality). Only these can be
# narrowed (--ops, --max-ops, --magnitude-range), exactly as train_agent narrows its action.
ACTION_SPACES: dict[str, tuple[str, str]] = {
    "compact": ("compact", "image"),
    "text-compact": ("compact", "text"),
    "families": ("families", "image"),
    "text-families": ("families", "text"),
    "online": ("online", "image"),
    "text-online": ("online", "text"),
    "rates": ("rates", "image"),
    "text-rates": ("rates", "text"),
}


def check_space_modality(space: str, task: str, modality: str) -> None:
    """A one-line ``ValueError`` when ``space`` is an action space of the other modality than ``task``'s (an image
    action on a text task would search ops the child never applies); shared by ``search`` and ``search compare``."""
    if space in ACTION_SPACES and ACTION_SPACES[space][1] != modality:
        raise ValueError(
            f"--space {space} is an action space of {ACTION_SPACES[space][1]}, but {task} is a {modality} task; "
            "choose one of " + ", ".join(n for n, (_, m) in ACTION_SPACES.items() if m == modality)
        )


def action_space_spec(
    space: str,
    *,
    ops: tuple[str, ...] = (),
    max_ops: int | None = None,
    magnitude_range: tuple[float, ...] = (),
    tagging: bool = False,
) -> Any:
    """The ``ActionSpec`` behind an action space, narrowed as ``train_agent`` narrows its own (with the tagging
    ops on a tagging task, as ``train_agent``'s)."""
    from policy_search.policy.action_space import ActionSpec

    if space not in ACTION_SPACES:
        raise ValueError(
            f"--ops, --max-ops and --magnitude-range narrow the action spaces ({', '.join(ACTION_SPACES)}), not "
            f"--space {space}"
        )
    kind, modality = ACTION_SPACES[space]
    return ActionSpec.for_search(
        kind, modality, tagging=tagging, ops=ops, max_ops=max_ops, magnitude_range=magnitude_range
    )


def narrowed_space(space: str, **narrowing: Any) -> SpaceFn:
    """``space``'s sampler over its narrowed action (``action_space_spec``)."""
    spec = action_space_spec(space, **narrowing)
    return lambda trial, image: _sample_action(trial, image, spec)


def sample_compact(trial: TrialLike, image: ImageSpec) -> Policy:
    """Flip on/off, crop on/off, RandAugment (N, M of 10): one static action of ``ActionSpec.compact()``."""
    return _sample_action(trial, image, action_space_spec("compact"))


def sample_text_compact(trial: TrialLike, image: ImageSpec) -> Policy:
    """RandAugment-style (N, M of 10) over the text ops: one static action of ``ActionSpec.compact("text")``."""
    return _sample_action(trial, image, action_space_spec("text-compact"))


def sample_families(trial: TrialLike, image: ImageSpec) -> Policy:
    """Flip, crop, one on/off per op family (affine, colour, tone), RandAugment (N, M of 10) over the families on."""
    return _sample_action(trial, image, action_space_spec("families"))


def sample_text_families(trial: TrialLike, image: ImageSpec) -> Policy:
    """One on/off per text op, TextRandAugment (N, M of 10) over the ops on."""
    return _sample_action(trial, image, action_space_spec("text-families"))


def sample_online(trial: TrialLike, image: ImageSpec) -> Policy:
    """The settings of a controller that learns inside the run (may flip, may crop, ops per sample, magnitude cap,
    affinity target): one static action of ``ActionSpec.online_spec()``."""
    return _sample_action(trial, image, action_space_spec("online"))


def sample_text_online(trial: TrialLike, image: ImageSpec) -> Policy:
    """The same over the text controller (ops per sample, magnitude cap, affinity target)."""
    return _sample_action(trial, image, action_space_spec("text-online"))


def sample_rates(trial: TrialLike, image: ImageSpec) -> Policy:
    """One magnitude choice per op (0 off): one static action of ``ActionSpec.rates_spec()``."""
    return _sample_action(trial, image, action_space_spec("rates"))


def sample_text_rates(trial: TrialLike, image: ImageSpec) -> Policy:
    """One rate choice per text op (0 off): one static action of ``ActionSpec.rates_spec("text")``."""
    return _sample_action(trial, image, action_space_spec("text-rates"))


SPACES: dict[str, SpaceFn] = {
    "compact": sample_compact,
    "text-compact": sample_text_compact,
    "families": sample_families,
    "text-families": sample_text_families,
    "online": sample_online,
    "text-online": sample_text_online,
    "rates": sample_rates,
    "text-rates": sample_text_rates,
    "subpolicies": sample_subpolicies,
    "randaugment": sample_randaugment,
    "schedule": sample_schedule,
}


def build_policy(space: str, params: dict, image: ImageSpec, narrowing: dict[str, Any] | None = None) -> Policy:
    """Rebuild the policy a trial sampled, from its stored parameters (e.g. the best trial's); ``narrowing`` is
    the search's --ops / --max-ops / --magnitude-range (``narrowed_space``), if it had any."""
    if space not in SPACES:
        raise ValueError(f"unknown search space {space!r}; choose one of {sorted(SPACES)}")
    sample = narrowed_space(space, **narrowing) if narrowing else SPACES[space]
    return sample(optuna.trial.FixedTrial(params), image)
