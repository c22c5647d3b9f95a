"""Point-wise ops as per-image tables of the 256 pixel values, applied to many images with one lookup.

Brightness, Contrast, Solarize, AutoContrast and Equalize each map a uint8 pixel through a function that depends
only on its value and on per-image (AutoContrast, Equalize: per-channel) numbers (so do Posterize and Invert, but
one bitwise op on their own samples is cheaper than a table lookup, measured: see benchmarks/README.md). Each
builder below evaluates torchvision's float32 steps on the 256 possible values of each image (channel) and
returns uint8[B, 1 or C, 256]; ``apply_tables`` then looks every pixel up in its image's table with one
``index_select`` on int32 indices. ``ops.apply_ops`` builds the tables of all such ops in a slot (one builder
call per op, over that op's samples) and applies them with a single lookup. The arithmetic per value is that of
the public kernels in ``policy_search.ops.image`` (which call the same builders), so results are identical.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

Tensor = torch.Tensor


@functools.lru_cache(maxsize=8)
def levels(device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """The 256 pixel values as uint8, float32 and inverted uint8 [256]: the domain of the tables."""
    values = torch.arange(256, device=device)
    return values.to(torch.uint8), values.to(torch.float32), (255 - values).to(torch.uint8)


@functools.lru_cache(maxsize=64)
def _row_offsets(rows: int, device: torch.device) -> Tensor:
    """int32[rows, 1]: 256 * row, the start of each (image, channel) table in a flat [rows * 256] table."""
    return torch.arange(0, rows * 256, 256, dtype=torch.int32, device=device).view(rows, 1)


def flat_index(images: Tensor) -> Tensor:
    """int32[B*C, H*W]: each pixel's position in a flat [B*C*256] table (256 * (b * C + c) + value)."""
    batch, channels, height, width = images.shape
    rows = batch * channels
    return images.reshape(rows, height * width).to(torch.int32).add_(_row_offsets(rows, images.device))


def apply_tables(images: Tensor, tables: Tensor, index: Tensor | None = None) -> Tensor:
    """uint8[B,C,H,W] with pixel v of image b, channel c replaced by tables[b, c, v] (uint8[B, 1 or C, 256])."""
    batch, channels = images.shape[:2]
    tables = tables.expand(batch, channels, 256).contiguous()
    index = flat_index(images) if index is None else index
    return tables.view(-1).index_select(0, index.view(-1)).view_as(images)


def grayscale_floor(images: Tensor) -> Tensor:
    """float32[B,1,H,W] floor of torchvision's rgb_to_grayscale (0.2989 R + 0.587 G + 0.114 B) of [B,3,H,W]."""
    r, g, b = images.unbind(dim=1)
    return r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).unsqueeze(1).floor_()


def blend(scaled: Tensor, image2: Tensor, factor: Tensor) -> Tensor:
    """torchvision `_blend` (image1 * ratio + image2 * (1 - ratio), clamp, truncate to uint8), per-sample ratio.

    ``scaled`` is float32 image1 * ratio (torchvision's first step, rounded to float32), ``image2`` broadcasts
    against it, ``factor`` is the ratio float32[B]. torchvision's `add_(image2, alpha=1-ratio)` is a fused
    multiply-add on float32; doing that addition in float64 and rounding once gives the same float32 (the
    products are exact in float64) on every device.
    """
    alpha = (1.0 - factor.double()).view(-1, *([1] * (scaled.ndim - 1)))
    return scaled.double().add_(image2 * alpha).float().clamp_(0, 255).to(torch.uint8)


# ----------------------------------------------------------------------------------------------- builders
# Each takes uint8[B,C,H,W] images and float32[B] params and returns uint8[B, 1 or C, 256].
def brightness(images: Tensor, factor: Tensor) -> Tensor:
    # F.adjust_brightness: x * factor in float32, clamped, truncated; a function of the pixel value alone.
    return levels(images.device)[1].mul(factor.unsqueeze(1)).clamp_(0, 255).to(torch.uint8).unsqueeze(1)


def contrast(images: Tensor, factor: Tensor) -> Tensor:
    # F.adjust_contrast blends with the image's mean grey level, one number per image: a per-image table.
    gray = grayscale_floor(images.float()) if images.shape[1] == 3 else images.float()
    # Sums of integers below 2**24 are exact in float32, so the per-image mean matches torchvision's bit for bit.
    mean = gray.mean(dim=(1, 2, 3)).view(-1, 1, 1)
    return blend(levels(images.device)[1] * factor.view(-1, 1, 1), mean, factor)


def solarize(images: Tensor, threshold: Tensor) -> Tensor:
    # F.solarize: pixels x >= t (float comparison, so t > 255 inverts nothing) become 255 - x.
    values, float_values, inverted = levels(images.device)
    return torch.where(float_values >= threshold.view(-1, 1, 1), inverted, values)


def autocontrast(images: Tensor, params: Tensor | None = None) -> Tensor:
    # F.autocontrast: each channel stretched from [min, max] to [0, 255] in float32, as a per-channel table.
    batch, channels, height, width = images.shape
    low, high = torch.aminmax(images.view(batch, channels, height * width), dim=-1)
    minimum, maximum = low.float().unsqueeze(2), high.float().unsqueeze(2)
    flat = maximum == minimum
    inv_scale = (maximum - minimum).mul_(1.0 / 255)
    minimum = minimum.masked_fill(flat, 0.0)
    inv_scale = inv_scale.masked_fill(flat, 1.0)
    return levels(images.device)[1].sub(minimum).div_(inv_scale).clamp_(0, 255).to(torch.uint8)


def equalize(images: Tensor, params: Tensor | None = None, index: Tensor | None = None) -> Tensor:
    # F.equalize: PIL's histogram-equalization table per image and channel. ``index`` = flat_index(images).
    batch, channels, height, width = images.shape
    rows = batch * channels
    index = flat_index(images) if index is None else index
    hist = torch.bincount(index.view(-1), minlength=rows * 256).view(rows, 256).to(torch.int32)
    cum_hist = hist.cumsum(dim=-1, dtype=torch.int32)
    last = cum_hist.argmax(dim=-1, keepdim=True)  # first bin reaching the total = the largest pixel value
    step = (height * width - hist.gather(-1, last)).div_(255, rounding_mode="floor")
    # PIL's table: lut[0] = 0, lut[v] = (cum_hist[v - 1] + step // 2) // step; cum_hist[v] - hist[v] is
    # cum_hist[v - 1] (and 0 at v = 0, where (step // 2) // step = 0 too).
    # (floor division in float64: exact for these integers, and vectorized where integer division is not)
    lut = (cum_hist - hist).add_(step // 2).double().div_(step.clamp(min=1)).floor_().clamp_(0, 255)
    lut = lut.to(torch.uint8)
    # PIL (and torchvision) leave a channel unchanged when all but its brightest pixels number fewer than 255.
    lut = torch.where(step != 0, lut, levels(images.device)[0])
    return lut.view(batch, channels, 256)


BUILDERS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "Brightness": brightness, "Contrast": contrast, "Solarize": solarize, "AutoContrast": autocontrast,
    "Equalize": equalize,
}  # fmt: skip


def apply_table_run(images: Tensor, params: Tensor, counts: list[int]) -> Tensor:
    """The table ops on images sorted by op in BUILDERS order (counts[i] samples of the i-th): one lookup."""
    channels = images.shape[1]
    tables, start = [], 0
    for build, count in zip(BUILDERS.values(), counts):
        if count:
            end = start + count
            tables.append(build(images[start:end], params[start:end]).expand(-1, channels, 256))
            start = end
    return apply_tables(images, tables[0] if len(tables) == 1 else torch.cat(tables))
