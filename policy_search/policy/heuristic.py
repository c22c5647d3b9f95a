"""The learning-progress heuristic baseline: augmentation complexity that follows the validation loss.

Kind ``progress-heuristic`` (preset name ``progress-heuristic``). A policy that watches training
(``observes_training = True``): the training loop calls ``observe(features)`` after every validation evaluation
(``run_child`` does this once per epoch), with the keys of ``policy_search.child.run.FEATURE_NAMES``.

Levels (cumulative, applied in this order):

- level 0: random horizontal flip (p=0.5), then zero-pad 4 px and random-crop back (the ``flip-crop`` preset);
- level 1: + rotation uniform in [-15, 15] degrees (``Rotate``, standard space, magnitude uniform in [0, 0.5]);
- level 2: + brightness and contrast factors uniform in [0.9, 1.1] (ColorJitter(0.1, 0.1) ranges: ``Brightness``
  and ``Contrast`` with magnitude uniform in [0, 1/9] of the standard 0.9 range, random sign), as in the
  ``seed-recipe`` preset.

Rule, after each observation of ``val_loss`` (normalized by log(num_classes), see ``FEATURE_NAMES``): with the
relative change ``r = (loss - previous) / max(previous, 1e-8)``,

- ``r < -tolerance`` (the loss *falls* by more than ``tolerance``, 1% by default): raise one level (capped);
- otherwise (the loss *stagnates*, ``|r| <= tolerance``, or *rises*): lower one level (floored at 0).

``modality="text"`` (preset ``text-progress-heuristic``) runs the same rule over text levels: level 0 none,
level 1 the EDA recipe at half its rate (alpha 0.05), level 2 EDA at its published alpha 0.1 (``policy.text.EDA``).

The reference for the first observation is 1.0, the normalized loss of a uniform prediction (an untrained
child), so a child that learns anything in its first epoch moves to level 1. The idea: add harder augmentation
while the child is still learning easily, and back off when learning stalls. The file stores the rule (tolerance,
maximum level), not the state: ``reset()`` returns to level 0 and a fresh run starts from there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from policy_search.policy.base import ImageSpec, Policy, register_kind
from policy_search.policy.file import PolicyConfigError, as_choice, as_int, as_number, as_object, get, join
from policy_search.policy.kinds import Sequence, SubPolicies
from policy_search.policy.modality import MODALITIES
from policy_search.policy.text import EDA, TextSubPolicies

__all__ = ["DEFAULT_TOLERANCE", "LEVEL_OPS", "ProgressHeuristic"]

DEFAULT_TOLERANCE = 0.01  # relative change of val_loss within +-1% counts as stagnation
# Same data as baselines.FLIP_CROP (kept here: baselines imports this module, so importing back would cycle).
_FLIP_CROP = [[("HorizontalFlip", 0.5, 0.0), ("PadCrop", 1.0, 1.0)]]
# (op, probability, maximum normalized magnitude) added at each level; magnitudes drawn uniformly in [0, max].
LEVEL_OPS: tuple[list[tuple[str, float, float]], ...] = (
    [("Rotate", 1.0, 0.5)],  # standard space: 30 degrees at magnitude 1 -> up to 15 degrees
    [("Brightness", 1.0, 1.0 / 9.0), ("Contrast", 1.0, 1.0 / 9.0)],  # 0.9 at magnitude 1 -> factor 1 +- 0.1
)


# Text levels: the EDA sub-policies with their magnitudes scaled by these factors (0: no augmentation).
TEXT_LEVEL_SCALES: tuple[float, ...] = (0.0, 0.5, 1.0)


def _image_level(level: int) -> Policy:
    extra = [op for ops_at in LEVEL_OPS[:level] for op in ops_at]
    parts: list[Policy] = [SubPolicies(_FLIP_CROP)]
    if extra:
        # one sub-policy holding every op: each fires (probability 1) with its own uniform magnitude
        parts.append(SubPolicies([extra], magnitude_sampling="uniform"))
    return Sequence(parts)


def _text_level(level: int) -> Policy:
    scale = TEXT_LEVEL_SCALES[level]
    if scale == 0:
        return Sequence([])
    return TextSubPolicies([[(op, p, m * scale) for op, p, m in row] for row in EDA])


# Per modality: how many levels there are and the policy at each (level 0 first).
_LEVELS: dict[str, tuple[int, Callable[[int], Policy]]] = {
    "image": (len(LEVEL_OPS) + 1, _image_level),
    "text": (len(TEXT_LEVEL_SCALES), _text_level),
}


class ProgressHeuristic(Policy):
    """flip+crop, plus rotation (level 1) and brightness/contrast jitter (level 2), level set by val-loss progress.

    ``tolerance``: relative val-loss change treated as stagnation (default 0.01). ``max_level``: 0..2.
    ``level`` is the current level; ``trace`` lists ``(progress, val_loss, level_after)`` per observation.
    """

    observes_training = True

    def __init__(
        self,
        tolerance: float = DEFAULT_TOLERANCE,
        max_level: int = len(LEVEL_OPS),
        *,
        modality: str = "image",
        image_spec: ImageSpec | None = None,
    ) -> None:
        self.modality = as_choice(modality, "modality", MODALITIES, "modality")  # type: ignore[misc]
        super().__init__(space=MODALITIES[self.modality].space(), image_spec=image_spec)
        self.tolerance = as_number(tolerance, "tolerance", 0.0, 1.0)
        levels, build = _LEVELS[self.modality]
        self.max_level = as_int(max_level, "max_level", 0, levels - 1)
        self._levels = [build(k) for k in range(self.max_level + 1)]
        self.reset()

    @classmethod
    def allowed_spaces(cls) -> tuple[str, ...]:
        return super().allowed_spaces() + ("text",)

    # --- watching training -----------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """Back to level 0 with the untrained-child reference loss (start of a new run)."""
        self.level = 0
        self._previous_loss = 1.0
        self.trace: list[tuple[float, float, int]] = []

    def observe(self, features: Mapping[str, float]) -> None:
        """Update the level from ``features["val_loss"]`` (normalized validation loss after an evaluation)."""
        if "val_loss" not in features:
            raise KeyError(f"observe() needs the 'val_loss' feature; got keys {sorted(features)}")
        loss = float(features["val_loss"])
        if not math.isfinite(loss):
            change = math.inf  # a non-finite loss is treated as a rise: back off
        else:
            change = (loss - self._previous_loss) / max(abs(self._previous_loss), 1e-8)
        if change < -self.tolerance:
            self.level = min(self.level + 1, self.max_level)
        else:
            self.level = max(self.level - 1, 0)
        if math.isfinite(loss):
            self._previous_loss = loss
        self.trace.append((float(features.get("progress", float("nan"))), loss, self.level))

    # --- Policy interface ------------------------------------------------------------------------------------
    def sample_batch(self, batch_size: int, image_size: tuple[int, ...], g: torch.Generator, progress: float | None):
        return self._levels[self.level].sample_batch(batch_size, image_size, g, progress)

    def op_distribution(self, progress: float | None = None) -> dict[str, float]:
        """At the current level (the level is set by observations, not by ``progress``)."""
        return self._levels[self.level].op_distribution(progress)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"tolerance": self.tolerance, "max_level": self.max_level}
        if self.modality != "image":  # image files written before text existed have no such key
            body["modality"] = self.modality
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any], semantics: dict[str, Any], image_spec: ImageSpec, where: str) -> Policy:
        as_object(body, where, allowed=("tolerance", "max_level", "modality"))
        try:
            return cls(
                get(body, "tolerance", where),
                get(body, "max_level", where),
                modality=body.get("modality", "image"),
                image_spec=image_spec,
            )
        except PolicyConfigError as exc:
            raise PolicyConfigError(join(where, exc.field), exc.reason) from None

    def describe(self, indent: str = "") -> str:
        return (
            f"{indent}ProgressHeuristic(tolerance={self.tolerance!r}, max_level={self.max_level}, level={self.level}, "
            f"modality={self.modality!r})"
        )


register_kind("progress-heuristic", ProgressHeuristic)
