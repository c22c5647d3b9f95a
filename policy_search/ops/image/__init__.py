"""Batched, per-sample augmentation op kernels, magnitude spaces and relative op costs.

Semantics follow the op sets of AutoAugment (Cubuk et al., CVPR 2019), RandAugment (Cubuk et al., CVPR-W 2020)
and TrivialAugment (Mueller & Hutter, ICCV 2021) as implemented by ``torchvision.transforms.v2`` (0.29): each
kernel reproduces the call that ``_AutoAugmentBase._apply_image_or_video_transform`` makes, with the same
floating-point steps, so that ``OPS[name](x, p)[i]`` equals the torchvision function applied to ``x[i]`` with
``p[i]`` (see docs/OPS.md for the parity table). Two ops come from outside that family: ``PadCrop`` (the
zero-padded random crop of ``RandomCrop(32, padding=4)``) and ``Cutout`` (DeVries & Taylor, 2017).

Magnitude spaces live in ``policy_search.ops.image.magnitude`` and are re-exported here; ``apply_ops`` /
``apply_slots`` run the fused CPU kernels of ``policy_search.ops.image.fused`` when they can.

Kernels take uint8[B,C,H,W] (C in {1,3}) and a float32[B] physical parameter per sample, hold no randomness
(callers pass parameters, positions and masks), never loop over images in Python, and run unchanged on any
device.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import torch

from policy_search.ops.image import fused as ops_fused
from policy_search.ops.image import geometry
from policy_search.ops.image import lut as tables
from policy_search.ops.image.magnitude import (  # noqa: F401 - re-exported: ops.MAGNITUDE_SPACES etc.
    MAGNITUDE_SPACES,
    NONE,
    MagnitudeRange,
    bin_to_magnitude,
    in_spaces,
    magnitude_to_param,
)

Tensor = torch.Tensor
Kernel = Callable[..., Tensor]

# Relative cost per image: kernel time relative to Brightness (= 1.0), Identity = 0; a deterministic cost model
# for the reward, not a speed promise. Measured 2026-11-21 with `.venv/bin/python benchmarks/op_costs.py`
# (CPU, 1 thread, uint8[256,3,32,32], median over 25 interleaved rounds of the ratio to Brightness) on a shared
# 2-core machine under heavy load from other jobs (load average ~6), after the table-lookup / shared-warp
# rewrite of the kernels: Brightness is now a table lookup, and each geometric op's index map is cached per
# parameter (the script uses one parameter per op, so these are the cached, steady-state warp costs). Costs
# vary up to ~2x between runs on this machine. Raw timings: benchmarks/results/op_costs.json.
# (the costs are the `cost` column of OP_TABLE below)


# ----------------------------------------------------------------------------------------------- validation
def _check_images(images: Tensor) -> None:
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor uint8[B,C,H,W], got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise TypeError(
            f"images must have dtype torch.uint8, got {images.dtype}; convert with .to(torch.uint8) "
            "from 0..255 values (float images are not accepted, to keep torchvision parity exact)"
        )
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"images must be [B,C,H,W] with C in {{1,3}}, got shape {tuple(images.shape)}; "
            "add a batch dimension with images.unsqueeze(0) for a single image"
        )


def _check_params(images: Tensor, params: Tensor | None, name: str) -> Tensor:
    """Returns params as float32[B] on the images' device; None is allowed only for parameter-free ops."""
    batch = images.shape[0]
    if params is None:
        if name in PARAMETER_FREE:
            return torch.zeros(batch, dtype=torch.float32, device=images.device)
        raise ValueError(f"op {name!r} needs params float32[{batch}] (its physical parameter per sample), got None")
    if not isinstance(params, Tensor) or params.shape != (batch,):
        shape = tuple(params.shape) if isinstance(params, Tensor) else type(params).__name__
        raise ValueError(
            f"params for op {name!r} must be a tensor of shape [{batch}] (one value per image), "
            f"got {shape}; build it with torch.full(({batch},), value)"
        )
    if params.is_complex() or params.dtype == torch.bool:
        raise TypeError(f"params for op {name!r} must be real numbers (float32), got {params.dtype}")
    return params.to(device=images.device, dtype=torch.float32)


def _check_aux(images: Tensor, aux: Tensor | None, name: str) -> Tensor | None:
    if aux is None:
        return None
    batch = images.shape[0]
    if not isinstance(aux, Tensor) or aux.ndim != 2 or aux.shape[0] != batch or aux.shape[1] < 2:
        shape = tuple(aux.shape) if isinstance(aux, Tensor) else type(aux).__name__
        raise ValueError(
            f"aux for op {name!r} must be float32[{batch},2] of uniform draws in [0,1) "
            f"(or None for centred), got {shape}"
        )
    return aux[:, :2].to(device=images.device, dtype=torch.float32)


def _bshape(values: Tensor) -> Tensor:
    return values.view(-1, 1, 1, 1)


# ----------------------------------------------------------------------------------------------- geometry
def _geometric(images: Tensor, params: Tensor, kind: int) -> Tensor:
    kinds = torch.full(params.shape, kind, dtype=torch.long, device=images.device)
    return geometry.warp_ops(images, kinds, params)


# ----------------------------------------------------------------------------------------------- colour
def _color(images: Tensor, factor: Tensor, aux: Tensor | None = None) -> Tensor:
    if images.shape[1] == 1:  # torchvision (and PIL) leave grayscale images as they are
        return images.clone()
    x = images.float()
    gray = tables.grayscale_floor(x)
    return tables.blend(x.mul_(_bshape(factor)), gray, factor)


# Exact integer division for the sharpness blur: floor(n / 26) == (n * _DIV26_MUL) >> _DIV26_SHIFT for every
# 0 <= n <= 2 * 13 * 255 + 13 (checked exhaustively in tests/test_ops.py); int32 never overflows on that range.
# (one pair of constants, shared with the fused kernels)
_DIV26_MUL, _DIV26_SHIFT = ops_fused.DIV26_MUL, ops_fused.DIV26_SHIFT


def _sharpness(images: Tensor, factor: Tensor, aux: Tensor | None = None) -> Tensor:
    height, width = images.shape[2:]
    if height <= 2 or width <= 2:
        return images.clone()
    # torchvision blurs with the float32 kernel [[1,1,1],[1,5,1],[1,1,1]] / 13 and rounds. The exact blur k / 13
    # (k an integer) is never a half, and the float error is far below 1/26, so integer arithmetic gives the same
    # rounded values without conv2d: round(k / 13) = floor((2k + 13) / 26). The 3x3 sum is separable.
    x = images.to(torch.int32)
    inner = x[..., 1:-1, 1:-1]
    rows = x[..., :-2] + x[..., 2:]
    rows += x[..., 1:-1]
    total = rows[..., :-2, :] + rows[..., 2:, :]
    total += rows[..., 1:-1, :]
    total.add_(inner, alpha=4)  # centre weight 5 = 1 (in the box) + 4
    # floor((2 total + 13) / 26) by multiply and shift
    blurred = total.mul_(2 * _DIV26_MUL).add_(13 * _DIV26_MUL).bitwise_right_shift_(_DIV26_SHIFT)
    # inner + (1-f) * (blurred - inner): a fused multiply-add in torchvision; exact here in float64 (a 9-bit
    # integer times 1 - f has at most 40 bits, plus an 8-bit integer), then rounded once to float32.
    mixed = blurred.sub_(inner).double().mul_(_bshape(1.0 - factor.double())).add_(inner)
    output = images.clone()
    output[..., 1:-1, 1:-1] = mixed.float().clamp_(0, 255)  # the uint8 copy truncates, as .to(torch.uint8)
    return output


def _posterize(images: Tensor, params: Tensor, aux: Tensor | None = None) -> Tensor:
    bits = torch.trunc(params).clamp_(0, 8).to(torch.int32)
    return images & _bshape(((255 << (8 - bits)) & 255).to(torch.uint8))


def _invert(images: Tensor, params: Tensor | None = None, aux: Tensor | None = None) -> Tensor:
    return images.bitwise_not()


def _horizontal_flip(images: Tensor, params: Tensor | None = None, aux: Tensor | None = None) -> Tensor:
    return images.flip(-1)


# ----------------------------------------------------------------------------------------------- position ops
def _pad_crop(images: Tensor, params: Tensor, aux: Tensor | None) -> Tensor:
    padding = torch.trunc(params).clamp_(min=0).long()
    batch, channels, height, width = images.shape
    if aux is None:
        offset = padding.unsqueeze(1).expand(batch, 2)
    else:
        offset = torch.floor(aux * (2 * padding + 1).unsqueeze(1)).long().minimum(2 * padding.unsqueeze(1))
    shift = offset - padding.unsqueeze(1)  # source = output + shift, in [-p, p]
    ys = torch.arange(height, device=images.device) + shift[:, :1]  # [B,H]
    xs = torch.arange(width, device=images.device) + shift[:, 1:]  # [B,W]
    inside = ((ys >= 0) & (ys < height)).unsqueeze(2) & ((xs >= 0) & (xs < width)).unsqueeze(1)
    index = ys.clamp(0, height - 1).unsqueeze(2) * width + xs.clamp(0, width - 1).unsqueeze(1)  # [B,H,W]
    flat = images.reshape(batch, channels, height * width)
    out = flat.gather(2, index.view(batch, 1, height * width).expand(batch, channels, height * width))
    return out.view_as(images) * inside.unsqueeze(1)


def _cutout(images: Tensor, params: Tensor, aux: Tensor | None) -> Tensor:
    side = torch.trunc(params).clamp_(min=0).long()
    batch, _, height, width = images.shape
    size = torch.tensor([height, width], device=images.device)
    centre = size.floor_divide(2).expand(batch, 2) if aux is None else torch.floor(aux * size).long()
    start = centre - (side // 2).unsqueeze(1)  # [B,2]
    end = start + side.unsqueeze(1)
    ys = torch.arange(height, device=images.device)
    xs = torch.arange(width, device=images.device)
    in_y = (ys >= start[:, :1]) & (ys < end[:, :1])
    in_x = (xs >= start[:, 1:]) & (xs < end[:, 1:])
    hole = (in_y.unsqueeze(2) & in_x.unsqueeze(1)).unsqueeze(1)
    return images.masked_fill(hole, 0)


# Table-op kernels on checked inputs: the op's per-image table (ops.image.lut.BUILDERS), then one lookup.
def _lookup(name: str) -> Callable[[Tensor, Tensor, Tensor | None], Tensor]:
    build = tables.BUILDERS[name]
    return lambda images, params, aux=None: tables.apply_tables(images, build(images, params))


def _equalize(images: Tensor, params: Tensor | None = None, aux: Tensor | None = None) -> Tensor:
    # the pixel index is built once and shared by the histogram and the lookup
    index = tables.flat_index(images)
    return tables.apply_tables(images, tables.equalize(images, None, index), index)


def _identity(images: Tensor, params: Tensor | None = None, aux: Tensor | None = None) -> Tensor:
    return images.clone()


def _warp(kind: int) -> Callable[[Tensor, Tensor, Tensor | None], Tensor]:
    return lambda images, params, aux=None: _geometric(images, params, kind)


# ----------------------------------------------------------------------------------------------- the op table
@dataclass(frozen=True)
class OpRow:
    """Everything the library knows about one op; every other op structure is derived from ``OP_TABLE``."""

    name: str
    kernel: Callable[[Tensor, Tensor, Tensor | None], Tensor]
    """The batched kernel on checked inputs: uint8[B,C,H,W], float32[B] parameter, float32[B,2] draws or None."""
    group: str
    """How ``apply_ops`` batches it: identity, geometric (one shared warp), table (one shared lookup) or own."""
    cost: float
    """Relative cost per image (Brightness = 1; see the comment above OP_TABLE)."""
    takes_param: bool
    """False for parameter-free ops (their params may be None)."""
    uses_aux: bool
    """Whether it reads the position draws (PadCrop's offset, Cutout's centre)."""
    doc: str
    """What the op does, with its torchvision reference."""
    magnitudes: tuple[tuple[str, MagnitudeRange], ...] = in_spaces(NONE)
    """Its range in each magnitude space (``in_spaces(standard, wide)``); parameter-free ops take the default."""

    @property
    def fused_code(self) -> int | None:
        """Its code in the fused CPU kernels (= its index in OP_NAMES, checked below), or None where the fused
        kernels do not implement it: batches holding it then run the torch kernels (same pixels, slower)."""
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", self.name).upper()  # HorizontalFlip -> HORIZONTAL_FLIP
        return getattr(ops_fused, snake if hasattr(ops_fused, snake) else self.name.upper(), None)

    def magnitude(self, space: str = "standard") -> MagnitudeRange | None:
        """Its magnitude range in ``space`` (``standard`` or ``wide``; None where the space leaves it out)."""
        return dict(self.magnitudes).get(space)


# Relative cost per image (the `cost` column): kernel time relative to Brightness (= 1.0), Identity = 0; a
# deterministic cost model for the reward, not a speed promise. Measured 2026-11-21 with
# `.venv/bin/python benchmarks/op_costs.py` (CPU, 1 thread, uint8[256,3,32,32], median over 25 interleaved rounds of
# the ratio to Brightness) on a shared 2-core machine under heavy load from other jobs (load average ~6), after the
# table-lookup / shared-warp rewrite of the kernels: Brightness is a table lookup, and each geometric op's index
# map is cached per parameter (the script uses one parameter per op, so these are the cached, steady-state warp
# costs). Costs vary up to ~2x between runs on this machine. Raw timings: benchmarks/results/op_costs.json.
# Magnitude ranges (the last column; parameter-free ops leave it out): standard = torchvision's AutoAugment /
# RandAugment ranges: shear [-0.3, 0.3], translate [-150/331 W, 150/331 W] px (+-14.5 at 32), rotate [-30, 30]
# degrees, enhance factor [0.1, 1.9], posterize [8, 4] bits; wide = TrivialAugmentWide: shear [-0.99, 0.99],
# translate [-32, 32] px, rotate [-135, 135] degrees, enhance [0.01, 1.99], posterize [8, 2] bits. Solarize: a
# threshold in [255, 0]; PadCrop: [0, 4] px padding (RandomCrop(32, padding=4)); Cutout: a side in
# [0, 0.5 * min(H, W)] px (16 px at 32x32); those three are the same in both spaces.
ENHANCE = in_spaces(MagnitudeRange(0.9, True, "enhance"), MagnitudeRange(0.99, True, "enhance"))
OP_TABLE: tuple[OpRow, ...] = (
    OpRow("Identity", _identity, "identity", 0.0, False, False, "copy, unchanged"),
    OpRow("ShearX", _warp(geometry.SHEAR_X), "geometric", 0.86, True, False,
          "sheared along x by factor params[B] (torchvision AutoAugment ShearX)",
          in_spaces(MagnitudeRange(0.3, True, "linear"), MagnitudeRange(0.99, True, "linear"))),
    OpRow("ShearY", _warp(geometry.SHEAR_Y), "geometric", 0.79, True, False,
          "sheared along y by factor params[B] (torchvision AutoAugment ShearY)",
          in_spaces(MagnitudeRange(0.3, True, "linear"), MagnitudeRange(0.99, True, "linear"))),
    OpRow("TranslateX", _warp(geometry.TRANSLATE_X), "geometric", 0.87, True, False,
          "shifted right by params[B] pixels (truncated toward zero like torchvision's int())",
          in_spaces(MagnitudeRange(150.0 / 331.0, True, "width"), MagnitudeRange(32.0, True, "linear"))),
    OpRow("TranslateY", _warp(geometry.TRANSLATE_Y), "geometric", 0.76, True, False,
          "shifted down by params[B] pixels (truncated toward zero like torchvision's int())",
          in_spaces(MagnitudeRange(150.0 / 331.0, True, "height"), MagnitudeRange(32.0, True, "linear"))),
    OpRow("Rotate", _warp(geometry.ROTATE), "geometric", 0.79, True, False,
          "rotated counter-clockwise by params[B] degrees about the centre (F.rotate, no expand)",
          in_spaces(MagnitudeRange(30.0, True, "linear"), MagnitudeRange(135.0, True, "linear"))),
    OpRow("Brightness", _lookup("Brightness"), "table", 1.0, True, False,
          "times enhancement factor params[B] (F.adjust_brightness; 1.0 = unchanged)",
          ENHANCE),
    OpRow("Color", _color, "own", 2.46, True, False,
          "saturation scaled by factor params[B] (F.adjust_saturation); 1-channel images unchanged",
          ENHANCE),
    OpRow("Contrast", _lookup("Contrast"), "table", 1.33, True, False,
          "contrast scaled by factor params[B] about the mean grey level (F.adjust_contrast)",
          ENHANCE),
    OpRow("Sharpness", _sharpness, "own", 4.81, True, False,
          "sharpened (factor > 1) or smoothed (< 1) by params[B]; borders kept (F.adjust_sharpness)",
          ENHANCE),
    OpRow("Posterize", _posterize, "own", 0.25, True, False,
          "keeping the top int(params[B]) bits per channel, bits clamped to [0, 8] (F.posterize)",
          in_spaces(MagnitudeRange(4.0, False, "posterize"), MagnitudeRange(2.0, False, "posterize"))),
    OpRow("Solarize", _lookup("Solarize"), "table", 0.93, True, False,
          "with pixels >= threshold params[B] (0..255) inverted (F.solarize)",
          in_spaces(MagnitudeRange(255.0, False, "solarize"))),
    OpRow("AutoContrast", _lookup("AutoContrast"), "table", 1.42, False, False,
          "with each channel stretched to 0..255 (F.autocontrast)"),
    OpRow("Equalize", _equalize, "table", 2.62, False, False,
          "histogram-equalized per image and channel with PIL's LUT rule (F.equalize)"),
    OpRow("Invert", _invert, "own", 0.03, False, False, "as 255 - x (F.invert)"),
    OpRow("HorizontalFlip", _horizontal_flip, "own", 0.04, False, False, "mirrored left-right (F.horizontal_flip)"),
    OpRow("PadCrop", _pad_crop, "own", 1.03, True, True,
          "zero-padded by int(params[B]) pixels per side, then cropped back to H x W at offset "
          "floor(aux * (2p + 1)) (RandomCrop's draw; aux None crops the centre)",
          in_spaces(MagnitudeRange(4.0, False, "linear"))),
    OpRow("Cutout", _cutout, "own", 0.84, True, True,
          "with a square of side int(params[B]) pixels set to 0 around centre floor(aux * (H, W)) (the image "
          "centre when aux is None), clipped at the borders (DeVries & Taylor)",
          in_spaces(MagnitudeRange(0.5, False, "side"))),
)  # fmt: skip
OP_ROWS: dict[str, OpRow] = {row.name: row for row in OP_TABLE}
OP_NAMES: tuple[str, ...] = tuple(OP_ROWS)
PARAMETER_FREE = frozenset(row.name for row in OP_TABLE if not row.takes_param)
OP_COST: dict[str, float] = {row.name: row.cost for row in OP_TABLE}


def _public(row: OpRow) -> Kernel:
    """The checked public kernel of ``row``: validates images, params (and draws), then runs ``row.kernel``."""

    def kernel(images: Tensor, params: Tensor | None = None, aux: Tensor | None = None) -> Tensor:
        _check_images(images)
        checked = _check_params(images, params, row.name)
        return row.kernel(images, checked, _check_aux(images, aux, row.name) if row.uses_aux else None)

    kernel.__name__ = kernel.__qualname__ = re.sub(r"(?<!^)(?=[A-Z])", "_", row.name).lower()
    kernel.__doc__ = f"uint8[B,C,H,W] {row.doc}."
    return kernel


OPS: dict[str, Kernel] = {row.name: _public(row) for row in OP_TABLE}


# ----------------------------------------------------------------------------------------------- apply_ops
# apply_ops sorts the samples of a batch into contiguous runs by op, in this order, and runs one code path per
# group: the five geometric ops share one warp (ops_geometry.warp_ops); the five point-wise ops whose result is
# a per-image (per-channel) table of the 256 pixel values share one table lookup (ops_lut.apply_table_run); the
# rest run their own kernel on their run (Posterize and Invert too: one bitwise op on their samples costs less
# than their share of the lookup). Each entry computes exactly what the op's public kernel computes.
_GEOMETRIC_OPS = tuple(row.name for row in OP_TABLE if row.group == "geometric")
_TABLE_OPS = tuple(tables.BUILDERS)  # the lookup's order; the same set as the table rows (checked below)
_OWN_KERNEL_OPS: dict[str, Callable[[Tensor, Tensor, Tensor | None], Tensor]] = {
    row.name: row.kernel for row in OP_TABLE if row.group == "own"
}
assert set(_TABLE_OPS) == {row.name for row in OP_TABLE if row.group == "table"}
_RUN_ORDER = ("Identity", *_GEOMETRIC_OPS, *_TABLE_OPS, *_OWN_KERNEL_OPS)
assert sorted(_RUN_ORDER) == sorted(OP_NAMES)
_RANK = tuple(_RUN_ORDER.index(name) for name in OP_NAMES)  # OP_NAMES index -> position in _RUN_ORDER
assert all(row.fused_code in (None, i) for i, row in enumerate(OP_TABLE)), "fused op codes follow OP_TABLE"
_UNFUSED = tuple(i for i, row in enumerate(OP_TABLE) if row.fused_code is None)  # ops the fused kernels lack
for _row in OP_TABLE:  # the magnitude spaces, derived from the table's magnitude column
    for _space, _range in _row.magnitudes:
        MAGNITUDE_SPACES[_space][_row.name] = _range
assert all(set(space) == set(OP_NAMES) for space in MAGNITUDE_SPACES.values()), "every op has a range in every space"


def _fusable(images: Tensor, params: Tensor, op_index: Tensor) -> bool:
    """Whether the fused CPU kernel can run this call: its inputs fit, and every op in it has a fused code."""
    if not ops_fused.usable(images, params):
        return False
    return not _UNFUSED or not bool(torch.isin(op_index, torch.tensor(_UNFUSED, device=op_index.device)).any())


def apply_ops(
    images: Tensor, op_index: Tensor, params: Tensor, aux: Tensor | None = None, mask: Tensor | None = None
) -> Tensor:
    """Applies op OP_NAMES[op_index[i]] with params[i] (and aux[i]) to images[i]; rows with mask False pass through.

    images uint8[B,C,H,W], op_index long[B], params float32[B], aux float32[B,2] or None, mask bool[B] or None.
    The non-Identity samples are sorted by op (one index_select in, one index_copy_ out); the five geometric ops
    then share one warp, the table ops (Brightness, Contrast, Solarize, AutoContrast, Equalize) one table lookup,
    and every other op present runs its kernel once on its samples. On CPU with numba installed the call runs
    instead in the fused kernel of ``policy_search.ops.image.fused`` (one compiled pass, same pixels; the GPU and
    ``POLICY_SEARCH_KERNELS=torch`` use the path above). The result equals OPS[name] applied sample by sample.
    """
    _check_images(images)
    batch = images.shape[0]
    if not isinstance(op_index, Tensor) or op_index.shape != (batch,) or op_index.is_floating_point():
        got = f"{op_index.dtype} {tuple(op_index.shape)}" if isinstance(op_index, Tensor) else type(op_index).__name__
        raise ValueError(f"op_index must be an integer tensor of shape [{batch}] indexing OP_NAMES, got {got}")
    params = _check_params(images, params, "apply_ops")
    aux = _check_aux(images, aux, "apply_ops")
    device = images.device
    op_index = op_index.to(device=device, dtype=torch.long)
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.shape != (batch,):
            raise ValueError(
                f"mask must be a bool tensor of shape [{batch}] (True = apply), got "
                f"{tuple(getattr(mask, 'shape', ())) or type(mask).__name__}"
            )
        op_index = op_index.masked_fill(~mask.to(device=device, dtype=torch.bool), 0)  # inactive = Identity
    if _fusable(images, params, op_index):  # CPU: one compiled pass over the batch (policy_search/ops_fused.py)
        return ops_fused.apply_slots(images, op_index[None], params[None], None if aux is None else aux[None])
    rank = _rank_table(device)[op_index.clamp(-1, len(OP_NAMES)).add_(1)]
    # The only host sync: the run length of each op (the last entry counts out-of-range op indices).
    stats = torch.bincount(rank, minlength=len(OP_NAMES) + 1).tolist()
    if stats[-1]:
        present = torch.unique(op_index).tolist()
        raise ValueError(f"op_index values must lie in [0, {len(OP_NAMES) - 1}] (OP_NAMES), got {present}")
    counts = dict(zip(_RUN_ORDER, stats))
    if counts["Identity"] == batch:
        return images.clone()
    # The non-Identity samples sorted by op; each op's run is then processed in place and copied back.
    order = torch.argsort(rank, stable=True)[counts["Identity"] :]
    runs = images.index_select(0, order)
    run_params = params.index_select(0, order)
    run_aux = None if aux is None else aux.index_select(0, order)
    start = 0
    geometric = sum(counts[name] for name in _GEOMETRIC_OPS)
    if geometric:
        end = start + geometric
        kind = op_index.index_select(0, order[start:end]) - OP_NAMES.index(_GEOMETRIC_OPS[0])
        runs[start:end] = geometry.warp_ops(runs[start:end], kind, run_params[start:end])
        start = end
    table = [counts[name] for name in _TABLE_OPS]
    if sum(table):
        end = start + sum(table)
        runs[start:end] = tables.apply_table_run(runs[start:end], run_params[start:end], table)
        start = end
    for name, kernel in _OWN_KERNEL_OPS.items():
        if counts[name]:
            end = start + counts[name]
            sub_aux = None if run_aux is None else run_aux[start:end]
            runs[start:end] = kernel(runs[start:end], run_params[start:end], sub_aux)
            start = end
    out = images.clone()
    _rows(out).index_copy_(0, order, _rows(runs))
    return out


def apply_slots(
    images: Tensor, op_index: Tensor, params: Tensor, aux: Tensor | None = None, mask: Tensor | None = None
) -> Tensor:
    """Slots applied in order, each like ``apply_ops``: op_index long[S,B], params float32[S,B], aux float32[S,B,2]
    or None, mask bool[S,B] or None. On CPU with numba, all slots run in one fused pass (``ops_fused``)."""
    _check_images(images)
    batch = images.shape[0]
    if not isinstance(op_index, Tensor) or op_index.ndim != 2 or op_index.shape[1] != batch:
        got = tuple(op_index.shape) if isinstance(op_index, Tensor) else type(op_index).__name__
        raise ValueError(f"op_index must be [slots, {batch}] for {batch} images, got {got}")
    slots = op_index.shape[0]
    if params is None:  # parameter-free ops only (as apply_ops allows)
        params = torch.zeros(slots, batch, device=images.device)
    for name, value, shape in (
        ("params", params, (slots, batch)),
        ("mask", mask, (slots, batch)),
        ("aux", aux, (slots, batch, 2)),
    ):
        if value is not None and (not isinstance(value, Tensor) or tuple(value.shape[: len(shape)]) != shape):
            got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"{name} must have shape {list(shape)} to match op_index, got {got}")
    return run_slots(images, op_index, params, aux, mask)


def run_slots(images: Tensor, op_index: Tensor, params: Tensor, aux: Tensor | None, mask: Tensor | None) -> Tensor:
    """``apply_slots`` without its checks, for callers whose inputs are already checked (a policy checks its batch
    once and samples params of the right shapes: one validation per batch)."""
    slots = op_index.shape[0]
    if slots and _fusable(images, params, op_index):
        return ops_fused.apply_slots(images, op_index, params, aux, mask)
    out = images.clone() if not slots else images
    for s in range(slots):
        out = apply_ops(out, op_index[s], params[s], None if aux is None else aux[s], None if mask is None else mask[s])
    return out


def _rows(images: Tensor) -> Tensor:
    """[B, row] view of a contiguous uint8[B,C,H,W] in the widest integer type that divides a row (index_copy_
    moves whole elements, so 8-byte elements copy a row eight times faster than bytes)."""
    flat = images.view(images.shape[0], -1)
    for dtype, size in ((torch.int64, 8), (torch.int32, 4), (torch.int16, 2)):
        if flat.shape[1] % size == 0 and images.storage_offset() % size == 0 and images.data_ptr() % size == 0:
            return flat.view(dtype)
    return flat


@functools.lru_cache(maxsize=8)
def _rank_table(device: torch.device) -> Tensor:
    """Run of op index k at entry k + 1; entries 0 and len(OP_NAMES) + 1 (indices out of range) a run of their own."""
    return torch.tensor([len(OP_NAMES), *_RANK, len(OP_NAMES)], dtype=torch.long, device=device)
