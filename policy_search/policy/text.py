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

from collections.abc import Iterable
from typing import Any

from policy_search.ops.text import MAX_RATE
from policy_search.policy.base import ImageSpec, Policy, register_kind
from policy_search.policy.file import as_list, as_object, get, join
from policy_search.policy.kinds import RandAugment, SubPolicies, randaugment_from_body
from policy_search.policy.modality import TAGGING_OPS, TEXT, TEXT_OPS

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


class TextSubPolicies(SubPolicies):
    """``SubPolicies`` on text: per sample one sub-policy uniformly; each of its ``(op, probability,
    magnitude)`` fires with its probability at rate ``MAX_RATE[op] * magnitude``. Files written before the kinds
    were shared have no ``magnitude_sampling`` (it is ``fixed``); files keep leaving it out when it is."""

    modality = "text"

    def __init__(
        self,
        subpolicies: Iterable[Iterable[Any]],
        *,
        magnitude_sampling: str = "fixed",
        space: str = "text",
        num_bins: int | None = None,
        image_spec: ImageSpec | None = None,
    ) -> None:
        super().__init__(
            subpolicies, magnitude_sampling=magnitude_sampling, space=space, num_bins=num_bins, image_spec=image_spec
        )

    def body(self) -> dict[str, Any]:
        body = super().body()
        if body["magnitude_sampling"] == "fixed":
            del body["magnitude_sampling"]
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any], semantics: dict[str, Any], image_spec: ImageSpec, where: str) -> Policy:
        as_object(body, where, allowed=("magnitude_sampling", "subpolicies"))
        return cls(
            as_list(get(body, "subpolicies", where), join(where, "subpolicies")),
            magnitude_sampling=body.get("magnitude_sampling", "fixed"),
            num_bins=semantics["num_bins"],
            image_spec=image_spec,
        )


class TextRandAugment(RandAugment):
    """``RandAugment`` on text: per sample ``num_ops`` ops drawn uniformly (with replacement) from ``ops`` at bin
    ``magnitude`` of ``num_bins`` (normalized magnitude b / (num_bins - 1), rate ``MAX_RATE[op]`` times that)."""

    modality = "text"

    def __init__(
        self,
        num_ops: int = 1,
        magnitude: int = 2,
        num_bins: int = 10,
        *,
        ops: Iterable[str] = TEXT_OPS,
        space: str = "text",
        image_spec: ImageSpec | None = None,
    ) -> None:
        super().__init__(num_ops, magnitude, num_bins, ops=ops, space=space, image_spec=image_spec)

    @classmethod
    def from_body(cls, body: dict[str, Any], semantics: dict[str, Any], image_spec: ImageSpec, where: str) -> Policy:
        return randaugment_from_body(cls, body, semantics, image_spec, where)


TEXT.register_role("subpolicies", TextSubPolicies)
TEXT.register_role("randaugment", TextRandAugment)
register_kind("text-subpolicies", TextSubPolicies)
register_kind("text-randaugment", TextRandAugment)
