"""Augmentation policies: plain-data kinds with per-sample sampling, exact replay and a JSON round trip.

Semantics follow torchvision.transforms.v2 (the reference): AutoAugment (Cubuk et al., 2019, sub-policies of
``(op, probability, magnitude)``), RandAugment (Cubuk et al., 2020, N ops uniformly at a fixed magnitude bin)
and TrivialAugmentWide (Mueller & Hutter, 2021, one op at a uniform random bin, wide ranges). The shape of the
API follows Kornia's ``kornia.augmentation.auto``: a policy is plain data accepted by a public constructor, and
sampling is separate from applying so a sample replays exactly::

    policy = SubPolicies([[("Rotate", 0.6, 1.0), ("Equalize", 0.8, None)], [("Invert", 0.5, None)]])
    params = policy.sample(images, generator)   # AugmentParams: op_index/param/aux/mask per slot and sample
    out = policy.apply(images, params)          # batched kernels from policy_search.ops.image, no per-image loop
    out = policy(images, generator=g)           # the same in one call; policy(images, params=params) replays
    policy.save("policy.json", provenance={"task": "cifar10"}); load_policy("policy.json")

Randomness comes only from the ``torch.Generator`` passed in. With none, each policy uses its own generator,
created on first use in each process and seeded from OS entropy (so DataLoader workers differ), or from
``policy.manual_seed(seed)`` (offset by the worker id inside DataLoader workers); the global torch RNG is never
touched. Sampling runs on the generator's device (CPU by default) and the params move to the images' device.

This module is the public face; the machinery is split by idea: ``base`` (base class, params, kind registry),
``kinds`` (the built-in kinds), ``file`` (the JSON envelope and its validation), ``presets`` (named policies),
``heuristic``, ``action_space`` / ``controller`` / ``export`` (what an agent's action means, the frozen
controller, schedule distillation). Layer: imports only ``policy_search.ops``.
"""

from __future__ import annotations

import os
from pathlib import Path

from policy_search.policy.base import (
    KINDS,
    Augmentation,
    AugmentParams,
    BatchTransform,
    ImageSpec,
    OpEntry,
    Policy,
    SubPolicy,
    TextParams,
    TokenBatch,
    augment_batch,
    check_images,
    make_slot,
    policy_from_dict,
    register_kind,
)
from policy_search.policy.file import PolicyConfigError, PolicyFileError, read_document
from policy_search.policy.kinds import (
    MAGNITUDE_SAMPLING,
    RANDAUGMENT_OPS,
    TRIVIALAUGMENT_OPS,
    RandAugment,
    Schedule,
    Sequence,
    SubPolicies,
    TrivialAugmentWide,
)
from policy_search.policy.text import TEXT_OPS, TextRandAugment, TextSubPolicies

__all__ = [
    "KINDS",
    "MAGNITUDE_SAMPLING",
    "RANDAUGMENT_OPS",
    "TRIVIALAUGMENT_OPS",
    "AugmentParams",
    "Augmentation",
    "BatchTransform",
    "ImageSpec",
    "OpEntry",
    "Policy",
    "PolicyConfigError",
    "PolicyFileError",
    "RandAugment",
    "Schedule",
    "Sequence",
    "SubPolicies",
    "SubPolicy",
    "TrivialAugmentWide",
    "TEXT_OPS",
    "TextParams",
    "TextRandAugment",
    "TextSubPolicies",
    "TokenBatch",
    "augment_batch",
    "check_images",
    "load_policy",
    "make_slot",
    "policy_from_dict",
    "register_kind",
]


def load_policy(path_or_preset: str | os.PathLike[str]) -> Augmentation:
    """Load a policy file (an existing path) or a preset by name (``policy_search.policy.presets.PRESETS``)."""
    from policy_search.policy.presets import PRESETS, policy_preset

    if isinstance(path_or_preset, os.PathLike) or (isinstance(path_or_preset, str) and os.path.isfile(path_or_preset)):
        path = Path(path_or_preset)
        if not path.is_file():
            what = "is a folder, not a policy file" if path.is_dir() else "does not exist"
            raise FileNotFoundError(f"policy file {str(path)!r} {what}")
        doc = read_document(path)
        try:
            policy = policy_from_dict(
                {k: doc[k] for k in ("kind", "magnitude_semantics", "body")}, ImageSpec.from_dict(doc["image_spec"])
            )
        except PolicyConfigError as exc:
            raise PolicyFileError(exc.field, exc.reason, str(path)) from None
        policy.provenance = dict(doc["provenance"])
        return policy
    if isinstance(path_or_preset, str) and path_or_preset in PRESETS:
        return policy_preset(path_or_preset)
    raise ValueError(
        f"{path_or_preset!r} is neither an existing policy file nor a preset name; presets: {', '.join(PRESETS)}"
    )
