"""What an agent chooses each step, and how that choice becomes a policy.

Two kinds of action, both factorised into small categorical heads (optionally plus a synthetic-data ratio):

- ``kind="slots"`` (AutoAugment-like): for each of ``slots`` slots an op, a magnitude bin and an application
  probability level: ``[op, magnitude_bin, probability_level] * slots``. Expressive, and vast for tens of noisy
  episodes (2 x 18 x 10 x 4 per step: issue 11 measured no learning in 40 whole-run episodes on mnist-small).
- ``kind="compact"`` (RandAugment-like; train_agent's default on images, through ``--action-kind auto``): ``[flip,
  crop, num_ops, magnitude_bin]``: horizontal flip (p = 0.5) on or off, pad-and-crop (4 px at 32 px) on or off, then
  RandAugment with N in 0..``max_ops`` ops per image drawn uniformly from ``ops`` at magnitude bin M of
  ``num_bins``. 18 logits per step: the choices that decide whether augmentation pays on a dataset (flips hurt
  digits; strength must match the data size), small enough for REINFORCE to learn in tens of child runs, and the
  same space the static searches (Optuna's ``compact`` family) explore, so comparisons at equal compute are like for
  like.

Op families (``families``, the ``families`` spec: ``train_agent --action-kind families``, Optuna's ``families``
space): the compact action plus one on/off head per family of ops, RandAugment drawing only from the families that
are on (Identity always among them). So a search can say what experts write, "only small affine changes" or "no
colour ops", which the compact action cannot (issue 31: on a new dataset an affine-only policy beat the compact
search by 1.3 points). Images: ``affine`` (shears, translations, rotation), ``colour`` (brightness, colour,
contrast, sharpness), ``tone`` (posterize, solarize, autocontrast, equalize); text: each text op its own
family. Three (text: six) binary heads more: still small enough for tens of child runs.

- ``kind="online"`` (issue 31, round 3): the search chooses the settings of a controller that learns inside each run
  (``online-augnet``, ``policy_search.policy.online``) instead of a static policy: one on/off head per base op the
  modality has (images: may flip, may crop; each still gated by its measured affinity), the ops drawn per sample
  (1..``max_ops``), the magnitude cap (``ONLINE_CAPS``: a share of each op's range) and the affinity target its
  per-op levels settle at (``ONLINE_TARGETS``). The per-sample decisions stay the controller's; what the preset fixed
  by hand on three tasks' validation seeds (experiments/ab-online) the search sets per dataset. Images
  ``[flip, crop, ops, cap, target]`` (2 x 2 x 3 x 6 x 4), text ``[ops, cap, target]``. One decision per run
  (``--steps-per-episode 1``): a controller rebuilt mid-run would forget what it learned. ``--ops`` names the ops the
  controller draws from (on a tagging task Dai & Adel's tagging ops among them, which its text default leaves out);
  the file it exports then lists them (``ops``), and with a tagging op among them scores its affinity on the entity
  tokens (``tag_affinity``: on every token a label-preserving tagging op keeps it at about 1).

- ``kind="rates"`` (issue 35: what an NER expert writes, "label-wise token replacement at 0.4 and mention
  replacement at 0.3"): one magnitude head per op of ``ops``, choice 0 leaving the op off and choice k its k-th
  magnitude bin; every op that is on applies to every sample at its own magnitude (on text: its own rate, per
  token), in ``ops`` order. A shared magnitude (compact's M, TextRandAugment's rate) cannot say that one op should
  run strong and another mild or off: on ``conll2003-small`` the compact search's four ops at one rate were 0.67 F1
  below label-wise replacement alone on validation (experiments/probe-conll2003-small-lwtr). Heads are ordered
  (off, then rising magnitudes), so ordinal heads share evidence between neighbouring rates.

On text (``modality="text"``) the same kinds run over the text ops (``policy_search.ops.text``):
``compact`` is ``[num_ops, magnitude_bin]``, a ``TextRandAugment`` (N ops per sequence drawn from ``ops`` at rate
``MAX_RATE * M / (num_bins - 1)``; there is no flip or crop), and ``slots`` picks ``(op, magnitude, probability)``
per slot as a ``TextSubPolicies``. The env, agents and exports read only ``nvec``, ``ordinal`` and ``to_policy``,
so they run on either modality unchanged.

The same ``ActionSpec`` decodes actions in the environment and in the frozen controller, so a controller exported
from training replays exactly what the agent chose.

- ``MultiDiscrete`` form: the entries above (+ ``[ratio_level]``), each from 0.
- ``Box`` form: the same entries as floats in [-1, 1], each mapped to its bin by equal-width intervals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

import policy_search.policy.text  # noqa: F401  # registers the text kinds with the text modality
from policy_search.ops import image as ops
from policy_search.policy.base import Policy
from policy_search.policy.kinds import Sequence, SubPolicies
from policy_search.policy.modality import IMAGE_FAMILIES, Modality, get_modality

ACTION_KINDS = ("compact", "slots", "online", "rates")
SEARCH_KINDS = ("compact", "families", "slots", "rates", "online")
"""What ``train_agent --action-kind`` takes (``ActionSpec.for_search``): the kinds, and families (compact with a head
per op family)."""
ONLINE_CAPS: tuple[float, ...] = (0.1, 0.25, 0.4, 0.6, 0.8, 1.0)
"""The online action's magnitude caps (share of each op's range; the online-augnet preset: 0.25 images, 0.6 text)."""
ONLINE_TARGETS: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9)
"""The online action's affinity targets for the per-op levels (the preset: 0.8)."""
# OnlineAugNet's fields that the online action sets, per modality: (magnitude cap, ops per sample)
_ONLINE_FIELDS = {"image": ("magnitude_max", "ops_per_sample"), "text": ("text_magnitude_max", "text_ops_per_sample")}
DEFAULT_OPS: tuple[str, ...] = ops.OP_NAMES
DEFAULT_PROBABILITIES: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
DEFAULT_RATIOS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.5)
__all__ = [
    "ACTION_KINDS",
    "SEARCH_KINDS",
    "ActionSpec",
    "DEFAULT_OPS",
    "IMAGE_FAMILIES",
    "ONLINE_CAPS",
    "ONLINE_TARGETS",
    "parse_synthetic",
]


@dataclass(frozen=True)
class ActionSpec:
    """How actions map to augmentation (``kind`` and the module docstring say how)."""

    kind: str = "slots"
    """``slots`` (op, magnitude, probability per slot) or ``compact`` (flip, crop, RandAugment N and M)."""
    ops: tuple[str, ...] = DEFAULT_OPS
    """Ops the agent may choose (Identity means "nothing" for that slot); for ``compact``, RandAugment's set."""
    max_ops: int = 3
    """``compact``: largest RandAugment N (ops per image); N = 0 leaves only flip and crop."""
    slots: int = 2
    """Ops applied in sequence per sample, each with its own probability."""
    num_bins: int = 10
    """Magnitude grid: bin b is magnitude b / (num_bins - 1) in the ``space`` ranges (AutoAugment uses 10)."""
    probabilities: tuple[float, ...] = DEFAULT_PROBABILITIES
    """Per-sample application probability levels."""
    space: str = "standard"
    """Magnitude space: ``standard`` (AutoAugment/RandAugment ranges) or ``wide`` (TrivialAugmentWide)."""
    ratios: tuple[float, ...] = field(default_factory=tuple)
    """Synthetic-data ratio levels; empty means the synthetic op is not part of the action."""
    modality: str = "image"
    """``image`` or ``text``: which op table ``ops`` names and which policy kinds actions become."""
    families: tuple[tuple[str, ...], ...] = ()
    """``compact`` only: groups of ``ops``, each with an on/off head; RandAugment draws from the groups that are
    on (and Identity). Empty: no family heads (every op of ``ops``)."""
    online_caps: tuple[float, ...] = ONLINE_CAPS
    """``online`` only: the magnitude cap head's choices (written into the files: a change of the defaults does not
    reinterpret an exported controller)."""
    online_targets: tuple[float, ...] = ONLINE_TARGETS
    """``online`` only: the affinity target head's choices."""
    magnitude_bins: tuple[int, ...] = ()
    """``(low, high)``: the magnitude heads choose bins ``low..high`` of the ``num_bins`` grid only (an expert's
    "mild ops only" is ``(0, 4)``); choice k of the head is bin ``low + k``. Empty: every bin."""

    @classmethod
    def compact(cls, modality: str = "image", *, tagging: bool = False, **kw) -> ActionSpec:
        """The compact (RandAugment-like) spec with RandAugment's op set (on text, every text op; on a tagging
        task, the tagging ops too: Dai & Adel's, which read the tags)."""
        table = get_modality(modality)
        ops = table.search_ops + (table.tagging_ops if tagging else ())
        return cls(kind="compact", ops=ops, modality=modality, **kw)

    @classmethod
    def families_spec(cls, modality: str = "image", *, tagging: bool = False, **kw) -> ActionSpec:
        """The compact spec with an on/off head per op family (images: affine, colour, tone; text: each op, the
        tagging ops too on a tagging task)."""
        table = get_modality(modality)
        families = tuple(table.families.values()) + tuple((op,) for op in (table.tagging_ops if tagging else ()))
        return cls.compact(modality, tagging=tagging, families=families, **kw)

    @classmethod
    def rates_spec(cls, modality: str = "image", *, tagging: bool = False, **kw) -> ActionSpec:
        """The rates spec: one magnitude head (0 off) per op of the compact set, the tagging ops too on a tagging
        task (module docstring); Identity has no head (an op left off is what it would say)."""
        table = get_modality(modality)
        ops = tuple(o for o in table.search_ops + (table.tagging_ops if tagging else ()) if o != "Identity")
        return cls(kind="rates", ops=ops, modality=modality, **kw)

    @classmethod
    def online_spec(cls, modality: str = "image", **kw) -> ActionSpec:
        """The online spec: the settings of a controller that learns inside the run (module docstring)."""
        return cls(kind="online", ops=get_modality(modality).online_ops, modality=modality, **kw)

    @classmethod
    def for_search(
        cls,
        action_kind: str,
        modality: str,
        synthetic: bool = False,
        *,
        tagging: bool = False,
        ops: tuple[str, ...] = (),
        max_ops: int | None = None,
        magnitude_range: tuple[float, ...] = (),
    ) -> ActionSpec:
        """The spec ``train_agent --action-kind`` searches (``compact``, ``families``, ``slots``, ``rates`` or
        ``online``), with the
        synthetic ratio head when ``--synthetic`` is on, the tagging ops on a tagging task, narrowed to what an expert would allow: only ``ops`` (the
        families keep their ops among them), at most ``max_ops`` per sample (compact), magnitudes within
        ``magnitude_range`` (fractions of the space's maximum, snapped to the bin grid)."""
        ratios = DEFAULT_RATIOS if synthetic else ()
        if action_kind == "compact":
            spec = cls.compact(modality, tagging=tagging, ratios=ratios)
        elif action_kind == "families":
            spec = cls.families_spec(modality, tagging=tagging, ratios=ratios)
        elif action_kind == "slots":
            spec = cls.slots_spec(modality, ratios=ratios)
        elif action_kind == "rates":
            spec = cls.rates_spec(modality, tagging=tagging, ratios=ratios)
        elif action_kind == "online":
            if ratios:
                raise ValueError(
                    "--synthetic adds a ratio head to the compact, families, slots and rates actions, not online"
                )
            spec = cls.online_spec(modality)
        else:
            raise ValueError(f"unknown action kind {action_kind!r}; choose one of {', '.join(SEARCH_KINDS)}")
        # what --ops may name for the online controller: the compact set (the tagging ops too on a tagging task)
        pool = cls.compact(modality, tagging=tagging).ops if action_kind == "online" else None
        return spec._narrowed(tuple(ops), max_ops, tuple(magnitude_range), pool)

    @classmethod
    def of_run(cls, fields: Mapping[str, Any], modality: str, tagging: bool = False) -> ActionSpec:
        """The action a ``train_agent`` run searched, from its config (``TrainConfig`` fields, or the config.json
        it wrote) and its task's modality and kind: the kind, the synthetic head and the narrowing. Shared by
        train_agent and the race that reads its episodes back."""
        return cls.for_search(
            fields.get("action_kind", "compact"),
            modality,
            bool(fields.get("synthetic")),
            tagging=tagging,
            ops=tuple(fields.get("ops") or ()),
            max_ops=fields.get("max_ops"),
            magnitude_range=tuple(fields.get("magnitude_range") or ()),
        )

    def _narrowed(
        self,
        ops: tuple[str, ...],
        max_ops: int | None,
        magnitude_range: tuple[float, ...],
        pool: tuple[str, ...] | None = None,
    ) -> ActionSpec:
        """The spec narrowed to an expert's ``ops``, ``max_ops`` and ``magnitude_range``; ``pool``: the ops that
        ``ops`` may name where that is more than the kind's own set (the online controller's, on a tagging task)."""
        changes: dict = {}
        if self.kind == "online" and magnitude_range:
            raise ValueError(
                "--magnitude-range narrows the compact, families, slots and rates actions; the online action chooses "
                "its controller's magnitude cap itself (narrow its ops with --ops, its ops per sample with --max-ops)"
            )
        if ops and self.kind == "rates":  # an op left off is the rates action's Identity
            ops = tuple(o for o in ops if o != "Identity") or ops
        if ops:
            table = self._modality.op_names
            unknown = [o for o in ops if o not in table]
            if unknown:
                raise ValueError(f"--ops: unknown {self.modality} op(s) {unknown}; valid ops are {list(table)}")
            outside = [o for o in ops if o not in (pool or self.ops)]  # narrowing, never widening, the kind's set
            if outside:
                raise ValueError(
                    f"--ops {outside} are not ops of the {self.modality} {self.kind} action, which draws from "
                    f"{list(pool or self.ops)}; narrow it to some of those (or use --action-kind slots for every op)"
                )
            if len(set(ops)) != len(ops) or not any(o != "Identity" for o in ops):
                raise ValueError(f"--ops must name each op once and at least one op besides Identity, got {list(ops)}")
            changes["ops"] = ops
            if self.families:  # each family keeps its ops among --ops; an op in no family would never apply
                families = tuple(tuple(o for o in group if o in ops) for group in self.families)
                changes["families"] = tuple(group for group in families if group)
                stray = [o for o in ops if o != "Identity" and not any(o in group for group in self.families)]
                if stray:
                    raise ValueError(f"--ops {stray} belong to no op family of the families action")
        if max_ops is not None:
            if self.kind in ("slots", "rates"):
                raise ValueError(
                    f"--max-ops sets the compact action's ops per sample (N); the {self.kind} action has none "
                    "(slots apply one op each, rates every op that is on)"
                )
            if not 1 <= max_ops <= 8:
                raise ValueError(f"--max-ops must be from 1 to 8, got {max_ops}")
            changes["max_ops"] = int(max_ops)
        if magnitude_range:
            low, high = (float(v) for v in magnitude_range) if len(magnitude_range) == 2 else (-1.0, -1.0)
            if not 0.0 <= low <= high <= 1.0:
                raise ValueError(
                    f"--magnitude-range takes LOW HIGH with 0 <= LOW <= HIGH <= 1 (fractions of the magnitude "
                    f"space's maximum), got {list(magnitude_range)}"
                )
            top = self.num_bins - 1  # the bins inside the range: magnitudes never leave it
            bins = (math.ceil(low * top - 1e-9), math.floor(high * top + 1e-9))
            if bins[0] > bins[1]:
                raise ValueError(
                    f"--magnitude-range {low:g} {high:g} holds no magnitude of the {self.num_bins}-bin grid (steps of "
                    f"1/{top}); widen it"
                )
            if self.kind == "rates" and bins[1] < 1:
                raise ValueError(
                    f"--magnitude-range {low:g} {high:g} leaves the rates action only magnitude 0 (every op off); "
                    f"widen it to at least 1/{top}"
                )
            changes["magnitude_bins"] = bins
        return replace(self, **changes) if changes else self

    @property
    def _bins(self) -> tuple[int, int]:
        """The magnitude bins the heads choose among (low, high), inclusive."""
        return (self.magnitude_bins[0], self.magnitude_bins[1]) if self.magnitude_bins else (0, self.num_bins - 1)

    @classmethod
    def slots_spec(cls, modality: str = "image", **kw) -> ActionSpec:
        """The slots (AutoAugment-like) spec over every op of the modality."""
        return cls(kind="slots", ops=get_modality(modality).op_names, modality=modality, **kw)

    @property
    def _modality(self) -> Modality:
        return get_modality(self.modality)

    @property
    def _geometric(self) -> bool:
        """The compact action's flip and crop heads (images have them, text has none)."""
        return self.kind == "compact" and self._modality.geometric_heads

    @property
    def _base_heads(self) -> tuple[str, ...]:
        """The online action's base ops, one on/off head each (images: flip, crop; text: none)."""
        return self._modality.bases if self.kind == "online" else ()

    def _split_online(self, action: np.ndarray) -> tuple[list[int], int, float, float]:
        """An online action as (base flags, ops per sample, magnitude cap, affinity target)."""
        a = [int(v) for v in action]
        b = len(self._base_heads)
        return a[:b], a[b] + 1, self.online_caps[a[b + 1]], self.online_targets[a[b + 2]]

    def __post_init__(self) -> None:
        if self.kind not in ACTION_KINDS:
            raise ValueError(f"unknown action kind {self.kind!r}; choose one of {list(ACTION_KINDS)}")
        table = get_modality(self.modality).op_names  # a one-line error for an unknown modality
        online = (*self.online_caps, *self.online_targets)
        if not (self.online_caps and self.online_targets) or not all(
            isinstance(v, int | float) and 0.0 <= v <= 1.0 for v in online
        ):
            raise ValueError("online_caps and online_targets must be non-empty lists of numbers in [0, 1]")
        if self.max_ops < (1 if self.kind == "online" else 0):
            raise ValueError(
                f"max_ops must be >= {int(self.kind == 'online')} for kind {self.kind}, got {self.max_ops}"
            )
        unknown = [o for o in self.ops if o not in table]
        if unknown:
            raise ValueError(f"unknown op(s) {unknown} in the {self.modality} action spec; valid ops are {list(table)}")
        if self.slots < 1 or self.num_bins < 2 or not self.probabilities:
            raise ValueError("an action spec needs slots >= 1, num_bins >= 2 and at least one probability level")
        if any(not 0.0 <= p <= 1.0 for p in self.probabilities) or any(not 0.0 <= r < 1.0 for r in self.ratios):
            raise ValueError("probability levels must lie in [0, 1] and synthetic ratios in [0, 1)")
        if self.magnitude_bins and (
            len(self.magnitude_bins) != 2
            or not all(isinstance(b, int) and not isinstance(b, bool) for b in self.magnitude_bins)
            or not 0 <= self.magnitude_bins[0] <= self.magnitude_bins[1] < self.num_bins
        ):
            raise ValueError(
                f"magnitude_bins must be (low, high) with 0 <= low <= high < num_bins ({self.num_bins}), got "
                f"{list(self.magnitude_bins)}"
            )
        if self.kind == "rates" and (not self.ops or "Identity" in self.ops or self._bins[1] < 1):
            raise ValueError(
                "the rates action needs one or more ops, no Identity (an op left off is its Identity) and a magnitude "
                "bin above 0 (bin 0 is off)"
            )
        if self.families and self.kind != "compact":
            raise ValueError("op families are heads of the compact action; use kind 'compact' with families")
        stray = [o for group in self.families for o in group if o not in self.ops]
        if stray or any(not group for group in self.families):
            raise ValueError(f"every op family must be a non-empty group of the spec's ops; not among them: {stray}")

    @property
    def _rate_bins(self) -> tuple[int, int]:
        """The rates action's magnitude bins (choice k >= 1 of a head is bin ``low + k - 1``; bin 0 would be off)."""
        low, high = self._bins
        return max(low, 1), high

    def _rate_choices(self, op: str) -> int:
        """Choices of ``op``'s rates head: off, then each bin; off or on for an image op that takes no magnitude
        (autocontrast, equalize: its bins would be one policy under many names, splitting the evidence)."""
        if op in self._modality.magnitude_free:
            return 2
        return self._rate_bins[1] - self._rate_bins[0] + 2

    def _rates(self, action: np.ndarray) -> list[tuple[str, int]]:
        """A rates action as (op, magnitude bin) for each op that is on (an op without a magnitude at the lowest)."""
        low = self._rate_bins[0]
        return [(op, low + int(k) - 1) for op, k in zip(self.ops, action[: len(self.ops)], strict=True) if int(k)]

    @property
    def _family_count(self) -> int:
        return len(self.families) if self.kind == "compact" else 0

    def family_names(self) -> list[str]:
        """A short name per family (its ops joined, or the image family's name)."""
        named = {ops_: name for name, ops_ in self._modality.families.items()}
        return [named.get(tuple(group), "+".join(group)) for group in self.families]

    def _split(self, action: np.ndarray) -> tuple[list[int], list[int], int, int]:
        """A compact action as (geometric flags, family flags, N, M: the magnitude bin)."""
        a = [int(v) for v in action]
        g = 2 if self._geometric else 0
        k = self._family_count
        return a[:g], a[g : g + k], a[g + k], self._bins[0] + a[g + k + 1]

    def _allowed_ops(self, family_flags: list[int]) -> tuple[str, ...]:
        """RandAugment's ops under the families that are on (all of ``ops`` without family heads); Identity kept."""
        if not self.families:
            return self.ops
        on = {o for group, flag in zip(self.families, family_flags, strict=True) if flag for o in group}
        return tuple(o for o in self.ops if o in on or o == "Identity")

    @property
    def display_ops(self) -> tuple[str, ...]:
        """Every op an action of this spec can apply (for schedule tables and heatmaps)."""
        if self.kind == "online":
            from policy_search.policy.online import OnlineAugNet

            return OnlineAugNet(bases=None, ops=self._online_ops()).display_ops(self.modality)  # every base it has
        return (("HorizontalFlip", "PadCrop") + self.ops) if self._geometric else self.ops

    @property
    def nvec(self) -> np.ndarray:
        """Sizes of the MultiDiscrete action, slot by slot (then the ratio level, if any)."""
        if self.kind == "compact":
            bins = self._bins[1] - self._bins[0] + 1
            heads = ([2, 2] if self._geometric else []) + [2] * self._family_count + [self.max_ops + 1, bins]
        elif self.kind == "online":
            heads = [2] * len(self._base_heads) + [self.max_ops, len(self.online_caps), len(self.online_targets)]
        elif self.kind == "rates":
            heads = [self._rate_choices(op) for op in self.ops]
        else:
            heads = [len(self.ops), self._bins[1] - self._bins[0] + 1, len(self.probabilities)] * self.slots
        return np.asarray(heads + ([len(self.ratios)] if self.ratios else []), dtype=np.int64)

    def legend(self) -> list[str]:
        """What each entry of a MultiDiscrete action means, in order (the legend of ``episodes.csv``'s
        ``actions``: one such list per decision of the episode)."""
        if self.kind == "compact":
            heads = (
                (["flip (0 off, 1 on)", "crop (0 off, 1 on)"] if self._geometric else [])
                + [f"family {name} (0 off, 1 on)" for name in self.family_names()]
                + [
                    f"N: ops per sample, 0..{self.max_ops}",
                    f"M: magnitude bin {self._bins[0]}..{self._bins[1]} (choice k is bin {self._bins[0]} + k; "
                    f"magnitude bin / {self.num_bins - 1})"
                    if self.magnitude_bins
                    else f"M: magnitude bin 0..{self.num_bins - 1} (magnitude bin / {self.num_bins - 1})",
                ]
            )
        elif self.kind == "online":
            heads = [f"may use {name} (0 off, 1 on; gated by its measured affinity)" for name in self._base_heads] + [
                f"ops per sample: choice k is k + 1 (1..{self.max_ops})",
                f"magnitude cap: index into {list(self.online_caps)}",
                f"affinity target of the per-op levels: index into {list(self.online_targets)}",
            ]
        elif self.kind == "rates":
            low, high = self._rate_bins
            heads = [
                f"{op}: 0 off, 1 on (it takes no magnitude)"
                if op in self._modality.magnitude_free
                else f"{op}: 0 off, choice k is magnitude bin {low} + k - 1 ({low}..{high}; magnitude bin / "
                f"{self.num_bins - 1})"
                for op in self.ops
            ]
        else:
            heads = []
            for k in range(self.slots):
                heads += [
                    f"slot {k + 1} op: index into {list(self.ops)}",
                    f"slot {k + 1} magnitude bin {self._bins[0]}..{self._bins[1]}"
                    + (f" (choice k is bin {self._bins[0]} + k)" if self.magnitude_bins else ""),
                    f"slot {k + 1} probability level: index into {list(self.probabilities)}",
                ]
        return heads + ([f"synthetic ratio level: index into {list(self.ratios)}"] if self.ratios else [])

    @property
    def ordinal(self) -> np.ndarray:
        """Per head, whether its choices are ordered (magnitude bins, N, probability and ratio levels) rather
        than unordered (op, flip, crop); agents may share evidence between neighbouring choices of ordered heads."""
        if self.kind == "compact":
            heads = ([False, False] if self._geometric else []) + [False] * self._family_count + [True, True]
        elif self.kind == "online":
            heads = [False] * len(self._base_heads) + [True, True, True]
        elif self.kind == "rates":
            heads = [True] * len(self.ops)
        else:
            heads = [False, True, True] * self.slots
        return np.asarray(heads + ([True] if self.ratios else []), dtype=bool)

    def to_discrete(self, action: np.ndarray, box: bool = False) -> np.ndarray:
        """A MultiDiscrete action (ints) from either form; Box entries in [-1, 1] map to equal-width bins."""
        a = np.asarray(action)
        if a.shape != (len(self.nvec),):
            raise ValueError(f"action has shape {a.shape}, expected ({len(self.nvec)},) for nvec {self.nvec.tolist()}")
        if box:
            unit = (np.clip(a.astype(np.float64), -1.0, 1.0) + 1.0) / 2.0
            return np.minimum((unit * self.nvec).astype(np.int64), self.nvec - 1)
        a = a.astype(np.int64)
        if (a < 0).any() or (a >= self.nvec).any():
            i = int(np.flatnonzero((a < 0) | (a >= self.nvec))[0])
            raise ValueError(
                f"action {a.tolist()} out of range for nvec {self.nvec.tolist()}: entry {i} ({self.legend()[i]}) is "
                f"{int(a[i])}"
            )
        return a

    def slots_of(self, action: np.ndarray) -> list[tuple[str, float, float]]:
        """``[(op, probability, magnitude), ...]`` chosen by a MultiDiscrete action (for ``compact``:
        ``HorizontalFlip``, ``PadCrop`` with probability 0 when off, then ``RandAugment`` with N as its
        "probability" entry), for logs and schedules."""
        if self.kind == "compact":
            geometric, fams, n, m = self._split(action)
            name = self._modality.kinds["randaugment"].__name__
            families = [(f"family:{f}", float(on), 0.0) for f, on in zip(self.family_names(), fams, strict=True)]
            if not geometric:
                return [*families, (name, float(n), m / (self.num_bins - 1))]
            return [
                ("HorizontalFlip", 0.5 * geometric[0], 0.0),
                ("PadCrop", float(geometric[1]), 1.0),
                *families,
                (name, float(n), m / (self.num_bins - 1)),
            ]
        if self.kind == "online":  # the bases the controller may use, then its ops per sample and magnitude cap
            flags, n, cap, _ = self._split_online(action)
            rate = {"HorizontalFlip": (0.5, 0.0), "PadCrop": (1.0, 1.0)}  # (most samples, magnitude), as compact's
            bases = [(b, rate[b][0] * on, rate[b][1]) for b, on in zip(self._base_heads, flags, strict=True)]
            return [*bases, ("OnlineAugNet", float(n), cap)]
        if self.kind == "rates":  # every op, on (probability 1) at its magnitude or off (0, 0)
            on = dict(self._rates(action))
            return [(op, float(op in on), on.get(op, 0) / (self.num_bins - 1)) for op in self.ops]
        out = []
        for s in range(self.slots):
            op_i, mag_b, prob_l = (int(v) for v in action[3 * s : 3 * s + 3])
            mag_b += self._bins[0]
            out.append((self.ops[op_i], self.probabilities[prob_l], mag_b / (self.num_bins - 1)))
        return out

    def ratio_of(self, action: np.ndarray) -> float:
        return float(self.ratios[int(action[-1])]) if self.ratios else 0.0

    def to_policy(self, action: np.ndarray, base: Policy | None = None) -> Policy:
        """The policy a MultiDiscrete action stands for (``base`` applied first, e.g. flip-crop)."""
        action = self.to_discrete(np.asarray(action))  # a range check (actions also come from files: episodes.csv)
        modality = self._modality
        chosen: Policy
        space = modality.space(self.space)
        if self.kind == "compact":
            geometric, fams, n, m = self._split(action)
            allowed = self._allowed_ops(fams)
            parts: list[Policy] = []
            if geometric:
                flip, crop = geometric
                entries = [("HorizontalFlip", 0.5, 0.0)] * flip + [("PadCrop", 1.0, 1.0)] * crop
                if entries:
                    parts.append(SubPolicies.trusted([entries]))
            if n > 0 and any(o != "Identity" for o in allowed):
                randaugment = modality.kinds["randaugment"]
                parts.append(randaugment.trusted(n, m, self.num_bins, allowed, space=space))
            chosen = Sequence.trusted(parts)
        elif self.kind == "online":
            chosen = self._online_policy(action)
        else:  # slots, and rates' ops that are on: one sub-policy of (op, probability, magnitude)
            entries = [e for e in self.slots_of(action) if self.kind == "slots" or e[1]]
            bins = self.num_bins if modality.binned else None  # text slot files record no grid (as they always have)
            subpolicies = modality.kinds["subpolicies"]
            chosen = subpolicies.trusted([entries], space=space, num_bins=bins) if entries else Sequence.trusted([])
        # actions are valid by construction (the spec was checked once, each head's index is in range): the policies
        # are built without the file validators (issue 34); a base is the user's and already checked
        return chosen if base is None else Sequence.trusted([base, chosen])

    def _online_policy(self, action: np.ndarray) -> Policy:
        """The online-augnet preset with the settings an online action chose (the rest the preset's)."""
        from policy_search.policy.online import OnlineAugNet

        flags, n, cap, target = self._split_online(action)
        cap_field, ops_field = _ONLINE_FIELDS[self.modality]
        settings: dict[str, Any] = {cap_field: cap, ops_field: n, "magnitude_target": target}
        narrowed = self._online_ops()
        if narrowed is not None:  # --ops (the tagging ops among them): the file says so
            settings["ops"] = list(narrowed)
            if set(narrowed) & set(self._modality.tagging_ops):  # a tagger: its ops' affinity read on entity tokens
                settings["tag_affinity"] = "entities"
        if self._base_heads:
            settings["bases"] = [b for b, on in zip(self._base_heads, flags, strict=True) if on]
        return OnlineAugNet(**settings)

    def _online_ops(self) -> tuple[str, ...] | None:
        """The ops an online action's controller draws where ``--ops`` chose them (in op-table order, so the order
        they were named in changes nothing); None where they are the controller's own (``Modality.online_ops``)."""
        chosen = {o for o in self.ops if o != "Identity"}
        if chosen == {o for o in self._modality.online_ops if o != "Identity"}:
            return None
        return tuple(o for o in self._modality.op_names if o in chosen)

    def head_names(self) -> list[str]:
        """A short name per head (Optuna's parameter names for the online action)."""
        if self.kind != "online":
            raise ValueError("head_names names the online action's heads")
        bases = [{"HorizontalFlip": "flip", "PadCrop": "crop"}.get(b, b) for b in self._base_heads]
        return [*bases, "ops_per_sample", "magnitude_cap", "affinity_target"]

    def modal_action(self, actions: list[np.ndarray]) -> np.ndarray:
        """Per head, the most frequent entry among ``actions`` (ties to the lower index)."""
        stacked = np.stack([np.asarray(a, dtype=np.int64) for a in actions])
        return np.asarray(
            [int(np.bincount(stacked[:, i], minlength=int(n)).argmax()) for i, n in enumerate(self.nvec)],
            dtype=np.int64,
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["modality"] == "image":  # the default, left out so files written before text existed read the same
            del d["modality"]
        if not d["families"]:  # likewise for files written before op families
            del d["families"]
        else:
            d["families"] = [list(group) for group in d["families"]]
        if not d["magnitude_bins"]:  # and before magnitude ranges
            del d["magnitude_bins"]
        if d["kind"] != "online":  # the online heads' choices, in online specs only
            del d["online_caps"], d["online_targets"]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> ActionSpec:
        known = {
            "kind", "ops", "max_ops", "slots", "num_bins", "probabilities", "space", "ratios", "modality", "families",
            "magnitude_bins", "online_caps", "online_targets",
        }  # fmt: skip
        extra = sorted(set(d) - known)
        if extra:
            raise ValueError(f"unknown action_spec field(s) {extra}; known fields are {sorted(known)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        if "families" in values:
            if not all(isinstance(g, list | tuple) for g in values["families"]):
                raise ValueError("action_spec families must be a list of lists of op names")
            values["families"] = tuple(tuple(g) for g in values["families"])
        return cls(**values)


def parse_synthetic(value: str) -> tuple[str, str]:
    """``"vae"`` or ``"dcgan:tiny"`` -> (generator model, generator size; default ``proxy``)."""
    model, _, size = value.partition(":")
    if model not in ("vae", "dcgan"):
        raise ValueError(f"synthetic={value!r}: use 'vae' or 'dcgan', optionally with a size ('vae:proxy')")
    return model, size or "proxy"
