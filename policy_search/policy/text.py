"""Text policy kinds: ``text-subpolicies`` and ``text-randaugment``, the text counterparts of the image kinds.

They are ``Policy`` kinds like the image ones: same file format (``magnitude_semantics.space`` is ``"text"``,
reference ``policy_search.ops.text``), same registry, same containers (``Sequence``, ``Schedule``, the frozen
controller), same sample/apply split with exact replay. They take and return a ``TokenBatch``; the kernels are
``policy_search.ops.text``, where a normalized magnitude m in [0, 1] is the rate ``MAX_RATE[op] * m`` (0.5 for
every op: EDA's alpha of 0.1 is m = 0.2).

- ``TextSubPolicies``: AutoAugment-style: per sample one sub-policy uniformly, each ``(op, probability,
  magnitude)`` of it firing with its probability. The ``eda`` and ``mention-replacement`` presets are two of these
  (``EDA``, ``MENTION_REPLACEMENT``).
- ``TextRandAugment``: per sample ``num_ops`` ops drawn uniformly from ``ops`` at bin ``magnitude`` of
  ``num_bins`` (RandAugment's two numbers, over the text ops): the space the agents and Optuna search on text.

EDA (Wei & Zou, 2019, "EDA: Easy Data Augmentation Techniques for Boosting Performance on Text Classification
Tasks", and their reference code ``eda_nlp``): each augmented sentence comes from one of synonym replacement,
random insertion, random swap and random deletion at alpha = 0.1, nine augmented sentences per original
(``num_aug = 9``) with the original kept. On the fly that is: per sample, with probability 0.9 one of the four
ops, uniformly, at rate 0.1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from policy_search.ops.text import MAX_RATE, TEXT_OP_NAMES
from policy_search.ops.text import OP_TABLE as TEXT_OP_TABLE
from policy_search.policy.base import ImageSpec, Policy, TextParams, register_kind
from policy_search.policy.file import (
    MAX_NUM_BINS,
    MAX_NUM_OPS,
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
from policy_search.policy.kinds import randaugment_from_body

__all__ = [
    "EDA",
    "EDA_ALPHA",
    "MENTION_REPLACEMENT",
    "MENTION_REPLACEMENT_RATE",
    "TAGGING_OPS",
    "TEXT_OPS",
    "TextRandAugment",
    "TextSubPolicies",
]

# The ops every text task can use (the compact action's set); tagging adds the tagging ops (no-ops without tags).
TEXT_OPS: tuple[str, ...] = tuple(op.name for op in TEXT_OP_TABLE if op.name != "Identity" and not op.tagging)
TAGGING_OPS: tuple[str, ...] = (*TEXT_OPS, *(op.name for op in TEXT_OP_TABLE if op.tagging))
EDA_ALPHA = 0.1  # EDA's recommended alpha for SR, RI, RS and p for RD
EDA_KEEP_ORIGINAL = 1 / 10  # eda_nlp's default num_aug = 9 augmented sentences beside the original
_EDA_M = EDA_ALPHA / MAX_RATE["SynonymReplacement"]  # 0.2
EDA: list[list[tuple[str, float, float]]] = [
    [(op, 1 - EDA_KEEP_ORIGINAL, _EDA_M)]
    for op in ("SynonymReplacement", "RandomInsertion", "RandomSwap", "RandomDeletion")
]
# Mention replacement (Dai & Adel, 2020): every entity mention of every sentence replaced with probability p by a
# same-type mention of the training split. They tune p per dataset; 0.3 is our fixed choice, not tuned here.
MENTION_REPLACEMENT_RATE = 0.3
MENTION_REPLACEMENT: list[list[tuple[str, float, float]]] = [
    [("MentionReplacement", 1.0, MENTION_REPLACEMENT_RATE / MAX_RATE["MentionReplacement"])]
]


def _op(name: Any, where: str) -> int:
    return TEXT_OP_NAMES.index(as_choice(name, where, TEXT_OP_NAMES, "text op"))


def _seeds(n: int, g: torch.Generator) -> torch.Tensor:
    """long[n] seeds for the slots' draws, from ``g`` (so the policy's stream decides them)."""
    return torch.randint(0, 2**62, (n,), generator=g, device=g.device).cpu()


class TextSubPolicies(Policy):
    """Per sample one sub-policy uniformly; each of its ``(op, probability, magnitude)`` fires with its
    probability at rate ``MAX_RATE[op] * magnitude``."""

    modality = "text"

    def __init__(self, subpolicies: Iterable[Iterable[Any]], *, image_spec: ImageSpec | None = None) -> None:
        super().__init__(space="text", image_spec=image_spec)
        rows = as_list(list(subpolicies), "subpolicies")
        if not rows:
            raise PolicyConfigError("subpolicies", "needs at least one sub-policy (use Sequence([]) for none)")
        if len(rows) > MAX_SUBPOLICIES:
            raise PolicyConfigError("subpolicies", f"has {len(rows):,} entries, over the limit of {MAX_SUBPOLICIES:,}")
        self.subpolicies: list[list[tuple[str, float, float]]] = []
        for i, row in enumerate(rows):
            entries = []
            items = as_list(row, join("subpolicies", i))
            if len(items) > MAX_NUM_OPS:
                raise PolicyConfigError(
                    join("subpolicies", i), f"has {len(items):,} entries, over the limit of {MAX_NUM_OPS}"
                )
            for j, e in enumerate(items):
                where = join(join("subpolicies", i), j)
                if isinstance(e, Mapping):
                    obj = as_object(e, where, allowed=("op", "probability", "magnitude"))
                    op, p, m = get(obj, "op", where), get(obj, "probability", where), get(obj, "magnitude", where)
                else:
                    items = as_list(e, where)
                    if len(items) != 3:
                        raise PolicyConfigError(where, f"expected (op, probability, magnitude), got {len(items)} items")
                    op, p, m = items
                name = TEXT_OP_NAMES[_op(op, join(where, "op"))]
                entries.append(
                    (name, as_number(p, join(where, "probability"), 0, 1), as_number(m, join(where, "magnitude"), 0, 1))
                )
            self.subpolicies.append(entries)
        width = max(len(r) for r in self.subpolicies)
        self._ops = torch.zeros(len(rows), width, dtype=torch.long)  # padding: Identity, probability 0
        self._prob = torch.zeros(len(rows), width)
        self._rate = torch.zeros(len(rows), width)
        for i, row in enumerate(self.subpolicies):
            for j, (op, p, m) in enumerate(row):
                self._ops[i, j], self._prob[i, j], self._rate[i, j] = TEXT_OP_NAMES.index(op), p, m * MAX_RATE[op]

    @classmethod
    def allowed_spaces(cls) -> tuple[str, ...]:
        return ("text",)

    def sample_batch(self, batch_size: int, size: tuple[int, ...], g: torch.Generator, progress: float | None):
        dev = g.device
        choice = torch.randint(0, self._ops.shape[0], (batch_size,), generator=g, device=dev)
        ops, prob, rate = (t.to(dev)[choice].T for t in (self._ops, self._prob, self._rate))  # [S, B]
        mask = torch.rand(ops.shape, generator=g, device=dev) < prob  # strict: probability 0 never fires
        return TextParams(ops, rate, _seeds(ops.shape[0], g), mask)

    def op_distribution(self, progress: float | None = None) -> dict[str, float]:
        dist: dict[str, float] = {}
        for row in self.subpolicies:
            for op, p, _ in row:
                dist[op] = dist.get(op, 0.0) + p / len(self.subpolicies)
        return dist

    def body(self) -> dict[str, Any]:
        return {
            "subpolicies": [
                [{"op": op, "probability": p, "magnitude": m} for op, p, m in row] for row in self.subpolicies
            ]
        }

    @classmethod
    def from_body(cls, body: dict[str, Any], semantics: dict[str, Any], image_spec: ImageSpec, where: str) -> Policy:
        as_object(body, where, allowed=("subpolicies",))
        return cls(as_list(get(body, "subpolicies", where), join(where, "subpolicies")), image_spec=image_spec)

    def describe(self, indent: str = "") -> str:
        rows = ",\n".join(f"{indent}    {[tuple(e) for e in row]!r}" for row in self.subpolicies)
        return f"{indent}TextSubPolicies([\n{rows}])"


class TextRandAugment(Policy):
    """Per sample ``num_ops`` ops drawn uniformly (with replacement) from ``ops`` at bin ``magnitude`` of
    ``num_bins`` (normalized magnitude b / (num_bins - 1), rate ``MAX_RATE[op]`` times that)."""

    needs_num_bins = True
    modality = "text"

    def __init__(
        self,
        num_ops: int = 1,
        magnitude: int = 2,
        num_bins: int = 10,
        *,
        ops: Iterable[str] = TEXT_OPS,
        image_spec: ImageSpec | None = None,
    ) -> None:
        super().__init__(space="text", image_spec=image_spec)
        self._num_bins = as_int(num_bins, "num_bins", low=2, high=MAX_NUM_BINS)
        self.num_ops = as_int(num_ops, "num_ops", low=0, high=MAX_NUM_OPS)
        self.magnitude = as_int(magnitude, "magnitude", 0, self._num_bins - 1)
        names = [TEXT_OP_NAMES[_op(n, join("ops", i))] for i, n in enumerate(as_list(list(ops), "ops"))]
        if not names:
            raise PolicyConfigError("ops", "needs at least one op")
        self.ops = tuple(names)
        self._index = torch.tensor([TEXT_OP_NAMES.index(n) for n in self.ops])
        self._rates = torch.tensor([MAX_RATE[n] * self.magnitude / (self._num_bins - 1) for n in self.ops])

    @classmethod
    def allowed_spaces(cls) -> tuple[str, ...]:
        return ("text",)

    def num_bins(self) -> int | None:
        return self._num_bins

    def sample_batch(self, batch_size: int, size: tuple[int, ...], g: torch.Generator, progress: float | None):
        dev = g.device
        pick = torch.randint(0, len(self.ops), (self.num_ops, batch_size), generator=g, device=dev)
        ops, rate = self._index.to(dev)[pick], self._rates.to(dev)[pick]
        mask = torch.ones_like(ops, dtype=torch.bool)
        return TextParams(ops, rate, _seeds(self.num_ops, g), mask)

    def op_distribution(self, progress: float | None = None) -> dict[str, float]:
        return {op: self.num_ops / len(self.ops) for op in self.ops}

    def body(self) -> dict[str, Any]:
        return {"num_ops": self.num_ops, "magnitude_bin": self.magnitude, "ops": list(self.ops)}

    @classmethod
    def from_body(cls, body: dict[str, Any], semantics: dict[str, Any], image_spec: ImageSpec, where: str) -> Policy:
        return randaugment_from_body(cls, body, semantics, image_spec, where)

    def describe(self, indent: str = "") -> str:
        return (
            f"{indent}TextRandAugment(num_ops={self.num_ops}, magnitude={self.magnitude}, "
            f"num_bins={self._num_bins}, ops={list(self.ops)!r})"
        )


register_kind("text-subpolicies", TextSubPolicies)
register_kind("text-randaugment", TextRandAugment)
