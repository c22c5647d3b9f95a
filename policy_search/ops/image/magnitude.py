"""Magnitude spaces: how a normalized magnitude in [0, 1] (or a bin) and a sign map to each op's physical parameter.

``standard`` follows torchvision's AutoAugment / RandAugment ranges, ``wide`` its TrivialAugmentWide ranges; each
range is written beside its entry. With ``num_bins`` the parameter is torchvision's own table entry bit for bit.
Re-exported by ``policy_search.ops.image`` (``ops.MAGNITUDE_SPACES``, ``ops.magnitude_to_param``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

Tensor = torch.Tensor


@dataclass(frozen=True)
class MagnitudeRange:
    """How a normalized magnitude m in [0,1] maps to an op's physical parameter.

    kind: "none" (parameter-free, 0), "linear" (sign * max * m), "width"/"height" (sign * max * m * W or H),
    "enhance" (1 + sign * max * m), "posterize" (bits = round(8 - (8 - max) * m), max = bits at m = 1),
    "solarize" (threshold = max * (1 - m)), "side" (max * m * min(H, W)).
    """

    max: float
    signed: bool
    kind: str


SPACES: tuple[str, ...] = ("standard", "wide")
NONE = MagnitudeRange(0.0, False, "none")


def in_spaces(standard: MagnitudeRange, wide: MagnitudeRange | None = None) -> tuple[tuple[str, MagnitudeRange], ...]:
    """An op's range in each space (``wide`` defaults to ``standard``): the magnitude column of ``OP_TABLE``."""
    return (("standard", standard), ("wide", standard if wide is None else wide))


# Per space, every op's range, in OP_TABLE's order. Filled from the table's magnitude column by
# policy_search.ops.image, which Python always imports before this module (its package), so the table is the one
# place an op's ranges are written. standard: torchvision's AutoAugment / RandAugment ranges; wide: its
# TrivialAugmentWide ranges (each written beside its row).
MAGNITUDE_SPACES: dict[str, dict[str, MagnitudeRange]] = {space: {} for space in SPACES}


def bin_to_magnitude(b: int | Tensor, num_bins: int) -> Tensor:
    """Normalized magnitude b / (num_bins - 1) as float32 (scalar or [B]) for bin b of num_bins."""
    if num_bins < 2:
        raise ValueError(f"num_bins must be >= 2 (bins 0 and max), got {num_bins}")
    return (torch.as_tensor(b, dtype=torch.float64) / (num_bins - 1)).float()


def _reference_value(rng: MagnitudeRange, size: tuple[int, int], bins: Tensor, num_bins: int) -> Tensor:
    """torchvision's `_AUGMENTATION_SPACE` value at bin indices (float64), reproduced with torch.linspace."""
    height, width = size
    if rng.kind == "posterize":  # torchvision: (8 - arange(n) / ((n - 1) / (8 - max))).round().int()
        table = (8 - (torch.arange(num_bins) / ((num_bins - 1) / (8 - rng.max)))).round().int()
    elif rng.kind == "solarize":
        table = torch.linspace(1.0, 0.0, num_bins)
    else:
        scale = {"width": width, "height": height, "side": min(height, width)}.get(rng.kind, 1)
        table = torch.linspace(0.0, rng.max * scale, num_bins)
    return table.to(bins.device).double()[bins]


def magnitude_to_param(
    op: str,
    magnitude: Tensor,
    sign: Tensor,
    space: str = "standard",
    image_size: tuple[int, int] = (32, 32),
    *,
    num_bins: int | None = None,
) -> Tensor:
    """Physical parameter float32[B] for normalized magnitudes float[B] in [0,1] and signs (+1/-1) float[B].

    Signed ops multiply by sign (others ignore it); enhancement ops return 1 + value (torchvision passes
    1.0 + magnitude); Solarize returns the uint8 threshold 255 * value; Posterize returns bits. With num_bins the
    magnitude is snapped to bin round(m * (num_bins - 1)) and the value is torchvision's float32 table entry
    bit for bit; without it the continuous formula is evaluated in float64 (within 1 ulp of the table).
    """
    if space not in MAGNITUDE_SPACES:
        raise ValueError(f"unknown magnitude space {space!r}; choose one of {sorted(MAGNITUDE_SPACES)}")
    if op not in MAGNITUDE_SPACES[space]:
        raise ValueError(f"unknown op {op!r}; choose one of {tuple(MAGNITUDE_SPACES[space])}")
    rng = MAGNITUDE_SPACES[space][op]
    m = torch.as_tensor(magnitude, dtype=torch.float64)
    if rng.kind == "none":
        return torch.zeros_like(m, dtype=torch.float32)
    height, width = image_size
    if num_bins is not None:
        bins = (m.clamp(0, 1) * (num_bins - 1)).round().long()
        value = _reference_value(rng, image_size, bins, num_bins)
    elif rng.kind == "posterize":  # rounding to 1e-6 keeps exact halves (ties to even) exact, as in the table
        value = torch.round(8 - torch.round((8 - rng.max) * m * 1e6) / 1e6)
    elif rng.kind == "solarize":
        value = 1.0 - m
    else:
        value = rng.max * m * {"width": width, "height": height, "side": min(height, width)}.get(rng.kind, 1)
    if rng.signed:
        value = value * torch.as_tensor(sign, dtype=torch.float64, device=value.device)
    if rng.kind == "enhance":
        value = 1.0 + value
    elif rng.kind == "solarize":
        value = 255.0 * value
    return value.float()
