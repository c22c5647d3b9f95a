"""Reference augmentation policies, as module-level data, built by name with ``policy_preset(name)``.

Provenance:
- ``flip-crop``: the standard CIFAR recipe (He et al., 2016): random horizontal flip (p=0.5), then zero-pad
  4 px and random-crop back (torchvision ``RandomCrop(32, padding=4)``).
- ``autoaugment-cifar10-only``: the 25 CIFAR-10 sub-policies of AutoAugment (Cubuk et al., 2019), copied from
  torchvision's ``AutoAugmentPolicy.CIFAR10`` table (magnitude bin b of 10 -> normalized b / 9), standard space.
  It is torchvision's ``v2.AutoAugment(AutoAugmentPolicy.CIFAR10)`` and nothing else (for parity checks).
- ``autoaugment-cifar10``: flip-crop, then those sub-policies; ``autoaugment-cifar10-cutout`` adds Cutout
  16 px afterwards, the full training recipe of the AutoAugment paper (Section 4.1, following DeVries & Taylor).
- ``randaugment``: flip-crop, then RandAugment N=2, M=9 of 31 bins (torchvision defaults).
- ``trivialaugment``: flip-crop, then TrivialAugmentWide, 31 bins (torchvision defaults, wide space).
- ``seed-recipe``: the seed experiments' fixed recipe: flip-crop, then rotation uniform in [-15, 15] degrees,
  brightness and contrast factors uniform in [0.9, 1.1] (ColorJitter(0.1, 0.1) ranges, applied in a fixed order
  instead of ColorJitter's random order).
- ``progress-ramp``: a hand-made schedule (the "progress heuristic"): flip-crop throughout, plus RandAugment
  N=2 whose magnitude bin rises 3 -> 6 -> 9 over thirds of training.
- ``progress-heuristic``: the learning-progress baseline (policy_search/heuristic.py): flip-crop, plus rotation
  and colour jitter levels raised while validation loss falls and lowered when it stagnates or rises.

Text presets (for ``TokenBatch`` inputs; ``none`` serves both modalities):
- ``eda``: the EDA recipe of Wei & Zou (2019) at its published rates (``policy.text.EDA``): per sample, with
  probability 0.9, one of synonym replacement, random insertion, random swap, random deletion at alpha 0.1.
- ``mention-replacement``: for tagging (CoNLL-2003), the mention replacement of Dai & Adel (2020): each entity
  mention replaced with probability 0.3 by a mention of the same type and length from the training split, tags
  unchanged (``policy.text.MENTION_REPLACEMENT``; a no-op on untagged text).
- ``text-progress-heuristic``: the learning-progress rule above over text levels (none, EDA at alpha 0.05, EDA).
- ``synthetic-text-0.2``: a fifth of each batch replaced by reviews of the same class from the class-conditional
  GPT-2-architecture LM (``policy_search.generative.text_lm``, trained on the training split on first use).
- ``synthetic-text-0.1``: the same at a tenth of each batch, the ratio picked on validation for ``imdb-small``
  (experiments/synthetic-ratio-imdb-small).
- ``synthetic-text-filtered-0.1``: the same with a LAMBADA-style filter (Anaby-Tavor et al. 2020;
  ``policy_search.generative.text_filter``): a generated review replaces a real one only if a word-presence
  classifier of the real reviews its generator learned from gives it its label with probability >= 0.9 (eight draws at most).

Presets that adapt per sample inside the run, for images and text alike (``policy_search.policy.online``):
- ``entropy-adaptive``: EntAugment-style (Yang et al. 2024): one op per sample (RandAugment's 14 ops, or EDA's four
  on text) at a magnitude that falls with the model's prediction entropy on that sample; no learning, no extra cost.
- ``online-augnet``: learns during the run how well each op preserves labels (accuracy on validation samples with
  the op applied over clean), turns flip on where it does, draws ops per sample in proportion (images: three, every
  sample at a quarter of the range times the op's learned level, ramped up over the first 30% of training; text:
  two, at the entropy rule's share of the level), each op's level being where the model keeps 80% of its clean accuracy; ~1.2 child runs.

Every image preset is generic: it runs on 1-channel images (MNIST) too, where Color is a no-op. Horizontal flips
change the meaning of some digits and letters; for such data prefer ``none`` or compose your own without flips.
"""

from __future__ import annotations

from collections.abc import Callable

from policy_search.policy.base import Augmentation, build_kind
from policy_search.policy.heuristic import ProgressHeuristic
from policy_search.policy.kinds import RandAugment, Schedule, Sequence, SubPolicies, TrivialAugmentWide
from policy_search.policy.text import EDA, MENTION_REPLACEMENT, TextSubPolicies

__all__ = [
    "AUTOAUGMENT_CIFAR10",
    "CUTOUT_16",
    "FLIP_CROP",
    "LEARNERS",
    "PRESETS",
    "SEED_RECIPE_JITTER",
    "policy_preset",
]

# (op, probability, magnitude bin of 10 or None), torchvision.transforms.v2.AutoAugment CIFAR10 policy.
AUTOAUGMENT_CIFAR10: list[list[tuple[str, float, int | None]]] = [
    [("Invert", 0.1, None), ("Contrast", 0.2, 6)],
    [("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)],
    [("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)],
    [("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)],
    [("AutoContrast", 0.5, None), ("Equalize", 0.9, None)],
    [("ShearY", 0.2, 7), ("Posterize", 0.3, 7)],
    [("Color", 0.4, 3), ("Brightness", 0.6, 7)],
    [("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)],
    [("Equalize", 0.6, None), ("Equalize", 0.5, None)],
    [("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)],
    [("Color", 0.7, 7), ("TranslateX", 0.5, 8)],
    [("Equalize", 0.3, None), ("AutoContrast", 0.4, None)],
    [("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)],
    [("Brightness", 0.9, 6), ("Color", 0.2, 8)],
    [("Solarize", 0.5, 2), ("Invert", 0.0, None)],
    [("Equalize", 0.2, None), ("AutoContrast", 0.6, None)],
    [("Equalize", 0.2, None), ("Equalize", 0.6, None)],
    [("Color", 0.9, 9), ("Equalize", 0.6, None)],
    [("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)],
    [("Brightness", 0.1, 3), ("Color", 0.7, 0)],
    [("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)],
    [("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)],
    [("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)],
    [("Equalize", 0.8, None), ("Invert", 0.1, None)],
    [("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)],
]
AUTOAUGMENT_BINS = 10

# HorizontalFlip p=0.5; PadCrop magnitude 1.0 = 4 px padding in both spaces (ops.MAGNITUDE_SPACES).
FLIP_CROP: list[list[tuple[str, float, float]]] = [[("HorizontalFlip", 0.5, 0.0), ("PadCrop", 1.0, 1.0)]]
# Cutout magnitude 1.0 = side 0.5 * min(H, W) = 16 px at 32x32.
CUTOUT_16: list[list[tuple[str, float, float]]] = [[("Cutout", 1.0, 1.0)]]
# Uniform magnitudes in [0, m] with a random sign, standard space: Rotate m = 0.5 -> [-15, 15] degrees (30 max);
# Brightness/Contrast m = 1/9 -> factor in [0.9, 1.1] (0.9 max).
SEED_RECIPE_JITTER: list[list[tuple[str, float, float]]] = [
    [("Rotate", 1.0, 0.5), ("Brightness", 1.0, 1.0 / 9.0), ("Contrast", 1.0, 1.0 / 9.0)]
]


def _autoaugment_cifar10() -> SubPolicies:
    table = [
        [(op, p, None if b is None else b / (AUTOAUGMENT_BINS - 1)) for op, p, b in row] for row in AUTOAUGMENT_CIFAR10
    ]
    return SubPolicies(table, num_bins=AUTOAUGMENT_BINS)


def _flip_crop() -> SubPolicies:
    return SubPolicies(FLIP_CROP)


def _ramp() -> Schedule:
    return Schedule(
        [
            (1 / 3, Sequence([_flip_crop(), RandAugment(2, 3)])),
            (2 / 3, Sequence([_flip_crop(), RandAugment(2, 6)])),
            (1.0, Sequence([_flip_crop(), RandAugment(2, 9)])),
        ]
    )


_BUILDERS: dict[str, Callable[[], Augmentation]] = {
    "none": lambda: Sequence([]),
    "flip-crop": _flip_crop,
    "autoaugment-cifar10": lambda: Sequence([_flip_crop(), _autoaugment_cifar10()]),
    "autoaugment-cifar10-only": _autoaugment_cifar10,
    "autoaugment-cifar10-cutout": lambda: Sequence([_flip_crop(), _autoaugment_cifar10(), SubPolicies(CUTOUT_16)]),
    "randaugment": lambda: Sequence([_flip_crop(), RandAugment(num_ops=2, magnitude=9, num_bins=31)]),
    "trivialaugment": lambda: Sequence([_flip_crop(), TrivialAugmentWide(num_bins=31)]),
    "seed-recipe": lambda: Sequence([_flip_crop(), SubPolicies(SEED_RECIPE_JITTER, magnitude_sampling="uniform")]),
    "progress-ramp": _ramp,
    "progress-heuristic": ProgressHeuristic,
    # The synthetic-data family lives above this layer (policy_search.generative.synthetic): built through the
    # kind registry, which imports it on first use.
    "synthetic-vae-0.2": lambda: build_kind("synthetic", "vae", 0.2),
    "synthetic-dcgan-0.2": lambda: build_kind("synthetic", "dcgan", 0.2),
    "eda": lambda: TextSubPolicies(EDA),
    "mention-replacement": lambda: TextSubPolicies(MENTION_REPLACEMENT),
    "text-progress-heuristic": lambda: ProgressHeuristic(modality="text"),
    "synthetic-text-0.2": lambda: build_kind("synthetic-text", 0.2),
    "synthetic-text-0.1": lambda: build_kind("synthetic-text", 0.1),
    "synthetic-text-filtered-0.1": lambda: build_kind("synthetic-text", 0.1, filter_threshold=0.9),
    # Policies that learn inside the run (policy/online.py), images and text alike
    "online-augnet": lambda: build_kind("online-augnet"),
    "entropy-adaptive": lambda: build_kind("entropy-adaptive"),
}
PRESETS: tuple[str, ...] = tuple(_BUILDERS)
# Presets that learn inside the run: benchmarks treat them as policies under test, not as free-recipe baselines.
LEARNERS: tuple[str, ...] = ("online-augnet",)


def policy_preset(name: str) -> Augmentation:
    """A fresh policy for preset ``name`` (one of PRESETS)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return _BUILDERS[name]()
