"""The built-in policy kinds: SubPolicies, RandAugment, TrivialAugmentWide, Sequence, Schedule.

Semantics follow torchvision.transforms.v2 (AutoAugment: Cubuk et al., 2019; RandAugment: Cubuk et al., 2020;
TrivialAugmentWide: Mueller & Hutter, 2021). Every draw is per sample and batched: loops run over slots and
ops, never over images. Magnitudes are normalized to [0, 1]; bin ``b`` of ``num_bins`` is ``b / (num_bins-1)``
and ``ops.magnitude_to_param`` turns a magnitude and a sign into the op's physical parameter in the policy's
magnitude space ("standard": AutoAugment/RandAugment ranges; "wide": TrivialAugmentWide ranges).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from policy_search.ops import image as ops
from policy_search.policy.base import (
    AugmentParams,
    ImageSpec,
    OpEntry,
    Policy,
    SubPolicy,
    cat_params,
    make_slot,
    policy_from_dict,
    register_kind,
)
from policy_search.policy.file import (
    MAX_NUM_BINS,
    MAX_NUM_OPS,
    MAX_POLICIES,
    MAX_SUBPOLICIES,
    PolicyConfigError,
    as_choice,
    as_int,
    as_list,
    as_number,
    as_object,
    get,
    join,
)
from policy_search.policy.modality import IMAGE, RANDAUGMENT_OPS, Modality, get_modality

__all__ = [
    "MAGNITUDE_SAMPLING",
    "RANDAUGMENT_OPS",
    "TRIVIALAUGMENT_OPS",
    "RandAugment",
    "Schedule",
    "Sequence",
    "SubPolicies",
    "TrivialAugmentWide",
]

TRIVIALAUGMENT_OPS = RANDAUGMENT_OPS  # torchvision.transforms.v2.TrivialAugmentWide's set (Invert is in neither)
# "fixed": the entry's magnitude; "uniform": per sample uniform in [0, magnitude] (ColorJitter-style ranges).
MAGNITUDE_SAMPLING = ("fixed", "uniform")


def _op_index(name: Any, where: str, modality: Modality = IMAGE) -> int:
    return modality.op_names.index(as_choice(name, where, modality.op_names, modality.op_word))


def _op_list(value: Any, where: str, modality: Modality = IMAGE) -> tuple[str, ...]:
    names = tuple(
        modality.op_names[_op_index(n, join(where, i), modality)] for i, n in enumerate(as_list(value, where))
    )
    if not names:
        raise PolicyConfigError(where, "needs at least one op")
    return names


def randaugment_from_body(
    cls: Any, body: dict[str, Any], semantics: dict[str, Any], image_spec: ImageSpec, where: str, **kwargs: Any
) -> Policy:
    """Build a RandAugment-style kind (``num_ops``, ``magnitude_bin``, ``ops``; image or text) from its file body."""
    as_object(body, where, allowed=("num_ops", "magnitude_bin", "ops"))
    try:
        return cls(
            get(body, "num_ops", where),
            get(body, "magnitude_bin", where),
            semantics["num_bins"],
            ops=as_list(get(body, "ops", where), join(where, "ops")),
            image_spec=image_spec,
            **kwargs,
        )
    except PolicyConfigError as exc:  # constructor argument "magnitude" is "magnitude_bin" in the file
        raise PolicyConfigError(
            join(where, "magnitude_bin" if exc.field == "magnitude" else exc.field), exc.reason
        ) from None


def _bound(items: list, where: str, most: int) -> list:
    """``items`` if it has at most ``most`` entries, else a one-line error naming the field."""
    if len(items) > most:
        raise PolicyConfigError(where, f"has {len(items):,} entries, over the limit of {most:,}")
    return items


def _entry(value: Any, where: str, modality: Modality = IMAGE) -> OpEntry:
    """(op, probability, magnitude) from a tuple/list of 3 or an object with those keys; None magnitude -> 0."""
    if isinstance(value, Mapping):
        obj = as_object(value, where, allowed=("op", "probability", "magnitude"))
        op, p, m = get(obj, "op", where), get(obj, "probability", where), get(obj, "magnitude", where)
    else:
        items = as_list(value, where)
        if len(items) != 3:
            raise PolicyConfigError(where, f"expected (op, probability, magnitude), got {len(items)} items")
        op, p, m = items
    op = modality.op_names[_op_index(op, join(where, "op"), modality)]
    p = as_number(p, join(where, "probability"), 0.0, 1.0)
    m = 0.0 if m is None else as_number(m, join(where, "magnitude"), 0.0, 1.0)
    return (op, p, m)


class SubPolicies(Policy):
    """AutoAugment-style policy: per sample, one sub-policy uniformly; each of its ops fires with its probability.

    ``subpolicies``: list of sub-policies, each a list of ``(op, probability, magnitude)`` with magnitude
    normalized in [0, 1] (None for parameter-free ops). Signed ops get a random sign per sample.
    ``magnitude_sampling="uniform"`` draws each magnitude uniformly in [0, magnitude] per sample.
    ``num_bins`` records the grid the magnitudes came from (informational, e.g. 10 for AutoAugment).
    Written once over the modality protocol: ``TextSubPolicies`` is this kind on text (``policy/text.py``).
    """

    def __init__(
        self,
        subpolicies: Iterable[Iterable[Any]],
        *,
        magnitude_sampling: str = "fixed",
        space: str = "standard",
        num_bins: int | None = None,
        image_spec: ImageSpec | None = None,
    ) -> None:
        super().__init__(space=space, image_spec=image_spec)
        self._modality = get_modality(type(self).modality)
        rows = as_list(list(subpolicies) if not isinstance(subpolicies, (list, tuple)) else subpolicies, "subpolicies")
        if not rows:
            raise PolicyConfigError(
                "subpolicies", "needs at least one sub-policy (use Sequence([]) for no augmentation)"
            )
        _bound(rows, "subpolicies", MAX_SUBPOLICIES)
        self.subpolicies: list[SubPolicy] = [
            [
                _entry(e, join(join("subpolicies", i), j), self._modality)
                for j, e in enumerate(_bound(as_list(row, join("subpolicies", i)), join("subpolicies", i), MAX_NUM_OPS))
            ]
            for i, row in enumerate(rows)
        ]
        self.magnitude_sampling = as_choice(magnitude_sampling, "magnitude_sampling", MAGNITUDE_SAMPLING)
        self._num_bins = None if num_bins is None else as_int(num_bins, "num_bins", low=2, high=MAX_NUM_BINS)
        if self._num_bins is not None:
            for i, row in enumerate(self.subpolicies):
                for j, (_, _, m) in enumerate(row):
                    if abs(m * (self._num_bins - 1) - round(m * (self._num_bins - 1))) > 1e-6:
                        raise PolicyConfigError(
                            f"subpolicies[{i}][{j}].magnitude",
                            f"{m!r} is not on the grid of num_bins={self._num_bins} "
                            f"(b / {self._num_bins - 1}); use num_bins=None for free magnitudes",
                        )
        self._build_tables()

    def _build_tables(self) -> None:
        # Padded tables [n_subpolicies, max_len]: padding is Identity with probability 0.
        rows, width = len(self.subpolicies), max(len(row) for row in self.subpolicies)
        self._ops = torch.full((rows, width), self._modality.identity, dtype=torch.long)
        self._prob = torch.zeros(rows, width)
        self._mag = torch.zeros(rows, width)
        for i, row in enumerate(self.subpolicies):
            for j, (op, p, m) in enumerate(row):
                self._ops[i, j], self._prob[i, j], self._mag[i, j] = self._modality.op_names.index(op), p, m

    @classmethod
    def trusted(
        cls,
        subpolicies: list[list[OpEntry]],
        *,
        space: str | None = None,
        num_bins: int | None = None,
        magnitude_sampling: str = "fixed",
    ):
        """The policy of entries that are valid by construction (an action of a checked ``ActionSpec``: op names
        of the kind's modality, probabilities and magnitudes in [0, 1], on ``num_bins``'s grid), built without
        the file validators that ``__init__`` runs on user input (issue 34: an env step builds one per decision)."""
        modality = get_modality(cls.modality)
        policy = cls._bare(modality.space(space))
        policy._modality = modality
        policy.subpolicies = [[(op, float(p), float(m)) for op, p, m in row] for row in subpolicies]
        policy.magnitude_sampling, policy._num_bins = magnitude_sampling, num_bins
        policy._build_tables()
        return policy

    def num_bins(self) -> int | None:
        return self._num_bins

    def sample_batch(self, batch_size: int, image_size: tuple[int, ...], g: torch.Generator, progress: float | None):
        dev = g.device
        table_ops, table_prob, table_mag = self._ops.to(dev), self._prob.to(dev), self._mag.to(dev)
        choice = torch.randint(0, table_ops.shape[0], (batch_size,), generator=g, device=dev)
        # Binned fixed magnitudes map through torchvision's table exactly; sampled ones are continuous.
        bins = self._num_bins if self.magnitude_sampling == "fixed" else None
        slots = []
        for k in range(table_ops.shape[1]):
            op_index, prob, mag = table_ops[choice, k], table_prob[choice, k], table_mag[choice, k]
            # strict "<": probability 0 never fires, probability 1 always does.
            mask = torch.rand(batch_size, generator=g, device=dev) < prob
            if self.magnitude_sampling == "uniform":
                mag = mag * torch.rand(batch_size, generator=g, device=dev)
            slots.append(self._modality.slot(op_index, mag, mask, g, space=self.space, size=image_size, num_bins=bins))
        return self._modality.cat(slots, batch_size, g)

    def op_distribution(self, progress: float | None = None) -> dict[str, float]:
        dist: dict[str, float] = {}
        for row in self.subpolicies:
            for op, p, _ in row:
                dist[op] = dist.get(op, 0.0) + p / len(self.subpolicies)
        return dist

    def body(self) -> dict[str, Any]:
        return {
            "magnitude_sampling": self.magnitude_sampling,
            "subpolicies": [
                [{"op": op, "probability": p, "magnitude": m} for op, p, m in row] for row in self.subpolicies
            ],
        }

    @classmethod
    def from_body(cls, body: dict[str, Any], semantics: dict[str, Any], image_spec: ImageSpec, where: str) -> Policy:
        as_object(body, where, allowed=("magnitude_sampling", "subpolicies"))
        return cls(
            as_list(get(body, "subpolicies", where), join(where, "subpolicies")),
            magnitude_sampling=get(body, "magnitude_sampling", where),
            space=semantics["space"],
            num_bins=semantics["num_bins"],
            image_spec=image_spec,
        )

    def describe(self, indent: str = "") -> str:
        rows = ",\n".join(f"{indent}    {[tuple(e) for e in row]!r}" for row in self.subpolicies)
        return (
            f"{indent}{type(self).__name__}(space={self.space!r}, magnitude_sampling={self.magnitude_sampling!r}, "
            f"num_bins={self._num_bins!r}, subpolicies=[\n{rows}])"
        )


class _BinnedOpSet(Policy):
    """Shared by RandAugment and TrivialAugmentWide: a set of ops drawn uniformly per sample, on a bin grid."""

    needs_num_bins = True

    def __init__(self, num_bins: int, ops: Iterable[str], *, space: str, image_spec: ImageSpec | None) -> None:
        super().__init__(space=space, image_spec=image_spec)
        self._set_ops(as_int(num_bins, "num_bins", low=2, high=MAX_NUM_BINS), _op_list(list(ops), "ops", self._m()))

    def _m(self) -> Modality:
        return get_modality(type(self).modality)

    def _set_ops(self, num_bins: int, ops: tuple[str, ...]) -> None:
        self._modality = self._m()
        self._num_bins, self.ops = num_bins, tuple(ops)
        self._index = torch.tensor([self._modality.op_names.index(n) for n in self.ops])

    def num_bins(self) -> int | None:
        return self._num_bins

    def _draw_ops(self, batch_size: int, g: torch.Generator) -> torch.Tensor:
        """long [B] op indices, uniform over the set."""
        return self._index.to(g.device)[torch.randint(0, len(self._index), (batch_size,), generator=g, device=g.device)]


class RandAugment(_BinnedOpSet):
    """Per sample, ``num_ops`` ops drawn uniformly (with replacement) from ``ops``, at bin ``magnitude`` of
    ``num_bins``, each with a random sign (torchvision.transforms.v2.RandAugment). Written once over the modality
    protocol: ``TextRandAugment`` is this kind on text (``policy/text.py``)."""

    def __init__(
        self,
        num_ops: int = 2,
        magnitude: int = 9,
        num_bins: int = 31,
        *,
        ops: Iterable[str] = RANDAUGMENT_OPS,
        space: str = "standard",
        image_spec: ImageSpec | None = None,
    ) -> None:
        super().__init__(num_bins, ops, space=space, image_spec=image_spec)
        self.num_ops = as_int(num_ops, "num_ops", low=0, high=MAX_NUM_OPS)
        self.magnitude = as_int(magnitude, "magnitude", 0, self._num_bins - 1)

    @classmethod
    def trusted(cls, num_ops: int, magnitude: int, num_bins: int, ops: tuple[str, ...], *, space: str | None = None):
        """The policy of an action of a checked ``ActionSpec`` (N, M and the ops valid by construction), built
        without the file validators (``SubPolicies.trusted``)."""
        policy = cls._bare(get_modality(cls.modality).space(space))
        policy._set_ops(int(num_bins), ops)
        policy.num_ops, policy.magnitude = int(num_ops), int(magnitude)
        return policy

    def sample_batch(self, batch_size: int, image_size: tuple[int, ...], g: torch.Generator, progress: float | None):
        dev = g.device
        mag = torch.full((batch_size,), float(ops.bin_to_magnitude(self.magnitude, self._num_bins)), device=dev)
        mask = torch.ones(batch_size, dtype=torch.bool, device=dev)
        slots = [
            self._modality.slot(
                self._draw_ops(batch_size, g), mag, mask, g, space=self.space, size=image_size, num_bins=self._num_bins
            )
            for _ in range(self.num_ops)
        ]
        return self._modality.cat(slots, batch_size, g)

    def op_distribution(self, progress: float | None = None) -> dict[str, float]:
        dist: dict[str, float] = {}
        for op in self.ops:
            dist[op] = dist.get(op, 0.0) + self.num_ops / len(self.ops)
        return dist

    def body(self) -> dict[str, Any]:
        return {"num_ops": self.num_ops, "magnitude_bin": self.magnitude, "ops": list(self.ops)}

    @classmethod
    def from_body(cls, body: dict[str, Any], semantics: dict[str, Any], image_spec: ImageSpec, where: str) -> Policy:
        return randaugment_from_body(cls, body, semantics, image_spec, where, space=semantics["space"])

    def describe(self, indent: str = "") -> str:
        space = f", space={self.space!r}" if len(self._modality.spaces) > 1 else ""
        return (
            f"{indent}{type(self).__name__}(num_ops={self.num_ops}, magnitude={self.magnitude}, "
            f"num_bins={self._num_bins}{space}, ops={list(self.ops)!r})"
        )


class TrivialAugmentWide(_BinnedOpSet):
    """Per sample one op uniformly from ``ops`` at a uniformly random bin of ``num_bins``, random sign, in the
    ``wide`` magnitude space (torchvision.transforms.v2.TrivialAugmentWide)."""

    def __init__(
        self,
        num_bins: int = 31,
        *,
        ops: Iterable[str] = TRIVIALAUGMENT_OPS,
        space: str = "wide",
        image_spec: ImageSpec | None = None,
    ) -> None:
        super().__init__(num_bins, ops, space=space, image_spec=image_spec)

    def sample_batch(
        self, batch_size: int, image_size: tuple[int, int], g: torch.Generator, progress: float | None
    ) -> AugmentParams:
        dev = g.device
        op_index = self._draw_ops(batch_size, g)
        bins = torch.randint(0, self._num_bins, (batch_size,), generator=g, device=dev)
        mag = bins.float() / (self._num_bins - 1)
        sign = torch.randint(0, 2, (batch_size,), generator=g, device=dev).float() * 2 - 1
        mask = torch.ones(batch_size, dtype=torch.bool, device=dev)
        return make_slot(op_index, mag, sign, mask, self.space, image_size, g, self._num_bins)

    def op_distribution(self, progress: float | None = None) -> dict[str, float]:
        dist: dict[str, float] = {}
        for op in self.ops:
            dist[op] = dist.get(op, 0.0) + 1.0 / len(self.ops)
        return dist

    def body(self) -> dict[str, Any]:
        return {"ops": list(self.ops)}

    @classmethod
    def from_body(cls, body: dict[str, Any], semantics: dict[str, Any], image_spec: ImageSpec, where: str) -> Policy:
        as_object(body, where, allowed=("ops",))
        return cls(
            semantics["num_bins"],
            ops=as_list(get(body, "ops", where), join(where, "ops")),
            space=semantics["space"],
            image_spec=image_spec,
        )

    def describe(self, indent: str = "") -> str:
        return f"{indent}TrivialAugmentWide(num_bins={self._num_bins}, space={self.space!r}, ops={list(self.ops)!r})"


def _children_space(policies: Iterable[Policy]) -> str:
    spaces = {p.space for p in policies}
    return spaces.pop() if len(spaces) == 1 else ("standard" if not spaces else "mixed")


class _Container(Policy):
    """Shared by Sequence and Schedule: training-state hooks reach every child policy."""

    container = True
    policies: torch.nn.ModuleList

    @property
    def observes_training(self) -> bool:  # type: ignore[override]
        return any(p.observes_training for p in self.policies)

    @property
    def modality(self) -> str | None:  # type: ignore[override]
        found = {p.modality for p in self.policies} - {None}
        if len(found) > 1:
            raise ValueError(f"{type(self).__name__} mixes image and text policies; use one modality")
        return found.pop() if found else None

    def observe(self, features: Mapping[str, float]) -> None:
        for p in self.policies:
            p.observe(features)

    def reset(self, seed: int | None = None) -> None:
        for p in self.policies:
            p.reset(seed)

    # The batch hooks of a policy that learns inside the run reach it through its container too (a flip before an
    # entropy-adaptive op, a schedule's phase): the loop sees one observer. Each distinct policy once; every one
    # observes every batch (a schedule's next phase starts with a warm memory), but only the policies now applied
    # answer for validation (``_applied``: a schedule's current phase), so idle phases add no validation passes.
    def _observers(self) -> list[Policy]:
        seen: dict[int, Policy] = {}
        for p in self.policies:
            if p.observes_batches:
                seen.setdefault(id(p), p)
        return list(seen.values())

    def _applied(self) -> list[Policy]:
        return self._observers()

    @property
    def observes_batches(self) -> bool:  # type: ignore[override]
        return any(p.observes_batches for p in self.policies)

    @property
    def validation_size(self) -> int:  # type: ignore[override]
        return max((int(p.validation_size) for p in self._applied()), default=0)

    def attach(self, model: torch.nn.Module) -> None:
        for p in self._observers():
            p.attach(model)

    def before_batch(self, ids: torch.Tensor | None = None) -> None:
        for p in self._observers():
            p.before_batch(ids)

    def after_batch(self, ids=None, logits=None, targets=None, mask=None) -> None:
        for p in self._observers():
            p.after_batch(ids=ids, logits=logits, targets=targets, mask=mask)

    def needs_validation(self) -> bool:
        return any(p.needs_validation() for p in self._applied())

    def validate_batch(self, predict: Any, inputs: Any, labels: torch.Tensor) -> int:
        wanting = [p for p in self._applied() if p.needs_validation()]
        return sum(int(p.validate_batch(predict, inputs, labels)) for p in wanting)


def _check_policy(value: Any, where: str) -> Policy:
    if not isinstance(value, Policy):
        hint = " (batch transforms such as synthetic data apply to a whole batch and do not nest)"
        raise PolicyConfigError(
            where, f"expected a Policy, got {type(value).__name__}" + hint * bool(getattr(value, "needs_labels", False))
        )
    return value


class Sequence(_Container):
    """Apply ``policies`` in order (e.g. flip-crop, then AutoAugment, then Cutout). ``Sequence([])`` is a no-op."""

    def __init__(self, policies: Iterable[Policy], *, image_spec: ImageSpec | None = None) -> None:
        policies = [
            _check_policy(p, join("policies", i))
            for i, p in enumerate(_bound(list(policies), "policies", MAX_POLICIES))
        ]
        super().__init__(space=_children_space(policies), image_spec=image_spec)
        self.policies = torch.nn.ModuleList(policies)

    @classmethod
    def trusted(cls, policies: list[Policy]) -> Sequence:
        """A Sequence of policies built in process (``SubPolicies.trusted``), without the file validators."""
        sequence = cls._bare(_children_space(policies))
        sequence.policies = torch.nn.ModuleList(policies)
        return sequence

    def sample_batch(
        self, batch_size: int, image_size: tuple[int, int], g: torch.Generator, progress: float | None
    ) -> AugmentParams:
        parts = [p.sample_batch(batch_size, image_size, g, progress) for p in self.policies]
        return cat_params(parts, batch_size, g.device)

    def op_distribution(self, progress: float | None = None) -> dict[str, float]:
        dist: dict[str, float] = {}
        for p in self.policies:
            for op, n in p.op_distribution(progress).items():
                dist[op] = dist.get(op, 0.0) + n
        return dist

    def body(self) -> dict[str, Any]:
        return {"policies": [p.to_dict() for p in self.policies]}

    @classmethod
    def from_body(cls, body: dict[str, Any], semantics: dict[str, Any], image_spec: ImageSpec, where: str) -> Policy:
        as_object(body, where, allowed=("policies",))
        items = as_list(get(body, "policies", where), join(where, "policies"))
        return cls(
            [policy_from_dict(v, image_spec, join(join(where, "policies"), i)) for i, v in enumerate(items)],
            image_spec=image_spec,
        )

    def describe(self, indent: str = "") -> str:
        if not len(self.policies):
            return f"{indent}Sequence([])"
        inner = ",\n".join(p.describe(indent + "    ") for p in self.policies)
        return f"{indent}Sequence([\n{inner}])"


class Schedule(_Container):
    """Piecewise policy over training: ``phases`` = [(end_progress, policy), ...], ends increasing, last 1.0.

    Phase i covers progress in [end_{i-1}, end_i) (the last one includes 1.0). ``progress`` comes from the call;
    when it is None, from ``schedule.progress`` (set it from the training loop, e.g. inside a DataLoader
    pipeline; it defaults to 0). ``table()`` lists each phase's op distribution and expected cost.
    """

    def __init__(self, phases: Iterable[tuple[float, Policy]], *, image_spec: ImageSpec | None = None) -> None:
        rows = _bound(as_list(list(phases), "phases"), "phases", MAX_POLICIES)
        if not rows:
            raise PolicyConfigError("phases", "needs at least one (end_progress, policy) phase")
        ends, policies, previous = [], [], 0.0
        for i, row in enumerate(rows):
            items = as_list(row, join("phases", i))
            if len(items) != 2:
                raise PolicyConfigError(join("phases", i), "expected (end_progress, policy)")
            end = as_number(items[0], join(join("phases", i), "end_progress"), 0.0, 1.0)
            if end <= previous:
                raise PolicyConfigError(
                    join(join("phases", i), "end_progress"),
                    f"{end!r} must be greater than the previous phase's end ({previous!r})",
                )
            ends.append(end)
            policies.append(_check_policy(items[1], join(join("phases", i), "policy")))
            previous = end
        if ends[-1] != 1.0:
            raise PolicyConfigError(
                join(join("phases", len(ends) - 1), "end_progress"), f"the last phase must end at 1.0, got {ends[-1]!r}"
            )
        super().__init__(space=_children_space(policies), image_spec=image_spec)
        self.ends = ends
        self.policies = torch.nn.ModuleList(policies)
        self.progress = 0.0
        self._phase = 0  # the phase the last batch drew from (set by sample_batch)

    def _applied(self) -> list[Policy]:
        current = self.policies[min(self._phase, len(self.policies) - 1)]
        return [current] if current.observes_batches else []

    def phase_at(self, progress: float | None) -> int:
        p = self.progress if progress is None else progress
        p = as_number(p, "progress", 0.0, 1.0)
        return next(i for i, end in enumerate(self.ends) if p < end or i == len(self.ends) - 1)

    def sample_batch(
        self, batch_size: int, image_size: tuple[int, int], g: torch.Generator, progress: float | None
    ) -> AugmentParams:
        self._phase = self.phase_at(progress)  # the phase now applied: the one that answers for validation
        return self.policies[self._phase].sample_batch(batch_size, image_size, g, progress)

    def op_distribution(self, progress: float | None = None) -> dict[str, float]:
        """At ``progress``; with None, the average over training (phases weighted by their length)."""
        if progress is not None:
            return self.policies[self.phase_at(progress)].op_distribution(progress)
        dist: dict[str, float] = {}
        for start, end, policy in zip([0.0] + self.ends[:-1], self.ends, self.policies):
            for op, n in policy.op_distribution((start + end) / 2).items():
                dist[op] = dist.get(op, 0.0) + n * (end - start)
        return dist

    def table(self) -> list[dict[str, Any]]:
        """One row per phase: start, end, kind, op distribution (expected applications per image), cost."""
        rows = []
        for i, (start, end, policy) in enumerate(zip([0.0] + self.ends[:-1], self.ends, self.policies)):
            mid = (start + end) / 2
            rows.append(
                {
                    "phase": i,
                    "start": start,
                    "end": end,
                    "kind": policy.kind,
                    "ops": policy.op_distribution(mid),
                    "expected_cost": policy.expected_cost(mid),
                }
            )
        return rows

    def body(self) -> dict[str, Any]:
        return {"phases": [{"end_progress": e, "policy": p.to_dict()} for e, p in zip(self.ends, self.policies)]}

    @classmethod
    def from_body(cls, body: dict[str, Any], semantics: dict[str, Any], image_spec: ImageSpec, where: str) -> Policy:
        as_object(body, where, allowed=("phases",))
        phases = []
        for i, row in enumerate(as_list(get(body, "phases", where), join(where, "phases"))):
            here = join(join(where, "phases"), i)
            obj = as_object(row, here, allowed=("end_progress", "policy"))
            phases.append(
                (
                    get(obj, "end_progress", here),
                    policy_from_dict(get(obj, "policy", here), image_spec, join(here, "policy")),
                )
            )
        try:
            return cls(phases, image_spec=image_spec)
        except PolicyConfigError as exc:
            raise PolicyConfigError(join(where, exc.field), exc.reason) from None

    def describe(self, indent: str = "") -> str:
        inner = ",\n".join(
            f"{indent}    ({e!r},\n{p.describe(indent + '     ')})" for e, p in zip(self.ends, self.policies)
        )
        return f"{indent}Schedule([\n{inner}])"


IMAGE.register_role("subpolicies", SubPolicies)
IMAGE.register_role("randaugment", RandAugment)
for _name, _cls in (
    ("subpolicies", SubPolicies),
    ("randaugment", RandAugment),
    ("trivialaugment", TrivialAugmentWide),
    ("sequence", Sequence),
    ("schedule", Schedule),
):
    register_kind(_name, _cls)
