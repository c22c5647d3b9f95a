"""Batched, per-sample augmentation op kernels, magnitude spaces and relative op costs.

Semantics follow the op sets of AutoAugment (Cubuk et al., CVPR 2019), RandAugment (Cubuk et al., CVPR-W 2020)
and TrivialAugment (Mueller & Hutter, ICCV 2021) as implemented by ``torchvision.transforms.v2`` (0.29): each
kernel reproduces the call that ``_AutoAugmentBase._apply_image_or_video_transform`` makes, with the same
floating-point steps, so that ``OPS[name](x, p)[i]`` equals the torchvision function applied to ``x[i]`` with
``p[i]`` (see docs/OPS.md for the parity table). Two ops come from outside that family: ``PadCrop`` (the
zero-padded random crop of ``RandomCrop(32, padding=4)``) and ``Cutout`` (DeVries & Taylor, 2017).

Kernels take uint8[B,C,H,W] (C in {1,3}) and a float32[B] physical parameter per sample, hold no randomness
(callers pass parameters, positions and masks), never loop over images in Python, and run unchanged on any
device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as nnf

Tensor = torch.Tensor
Kernel = Callable[..., Tensor]

OP_NAMES: tuple[str, ...] = (
    "Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
    "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize", "Invert", "HorizontalFlip", "PadCrop", "Cutout",
)  # fmt: skip
PARAMETER_FREE = frozenset({"Identity", "AutoContrast", "Equalize", "Invert", "HorizontalFlip"})

# Relative cost per image: kernel time relative to Brightness (= 1.0), Identity = 0; a deterministic cost model
# for the reward, not a speed promise. Measured 2026-11-21 with `.venv/bin/python benchmarks/op_costs.py`
# (CPU, 1 thread, uint8[256,3,32,32], median over 25 interleaved rounds of the ratio to Brightness) on a shared
# 2-core machine under other jobs' load: cheap ops repeat within ~20%, Color/Contrast/Sharpness/Equalize vary up
# to ~2x between runs. Raw timings: benchmarks/results/op_costs.json.
OP_COST: dict[str, float] = {
    "Identity": 0.0, "ShearX": 2.7, "ShearY": 1.9, "TranslateX": 1.89, "TranslateY": 1.94, "Rotate": 1.97,
    "Brightness": 1.0, "Color": 6.37, "Contrast": 3.85, "Sharpness": 19.02, "Posterize": 0.19, "Solarize": 1.41,
    "AutoContrast": 1.38, "Equalize": 7.8, "Invert": 0.06, "HorizontalFlip": 0.09, "PadCrop": 1.52, "Cutout": 1.32,
}


# ----------------------------------------------------------------------------------------------- validation
def _check_images(images: Tensor) -> None:
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor uint8[B,C,H,W], got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise TypeError(f"images must have dtype torch.uint8, got {images.dtype}; convert with .to(torch.uint8) "
                        "from 0..255 values (float images are not accepted, to keep torchvision parity exact)")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be [B,C,H,W] with C in {{1,3}}, got shape {tuple(images.shape)}; "
                         "add a batch dimension with images.unsqueeze(0) for a single image")


def _check_params(images: Tensor, params: Optional[Tensor], name: str) -> Tensor:
    """Returns params as float32[B] on the images' device; None is allowed only for parameter-free ops."""
    batch = images.shape[0]
    if params is None:
        if name in PARAMETER_FREE:
            return torch.zeros(batch, dtype=torch.float32, device=images.device)
        raise ValueError(f"op {name!r} needs params float32[{batch}] (its physical parameter per sample), got None")
    if not isinstance(params, Tensor) or params.shape != (batch,):
        shape = tuple(params.shape) if isinstance(params, Tensor) else type(params).__name__
        raise ValueError(f"params for op {name!r} must be a tensor of shape [{batch}] (one value per image), "
                         f"got {shape}; build it with torch.full(({batch},), value)")
    if params.is_complex() or params.dtype == torch.bool:
        raise TypeError(f"params for op {name!r} must be real numbers (float32), got {params.dtype}")
    return params.to(device=images.device, dtype=torch.float32)


def _check_aux(images: Tensor, aux: Optional[Tensor], name: str) -> Optional[Tensor]:
    if aux is None:
        return None
    batch = images.shape[0]
    if not isinstance(aux, Tensor) or aux.ndim != 2 or aux.shape[0] != batch or aux.shape[1] < 2:
        shape = tuple(aux.shape) if isinstance(aux, Tensor) else type(aux).__name__
        raise ValueError(f"aux for op {name!r} must be float32[{batch},2] of uniform draws in [0,1) "
                         f"(or None for centred), got {shape}")
    return aux[:, :2].to(device=images.device, dtype=torch.float32)


def _bshape(values: Tensor) -> Tensor:
    return values.view(-1, 1, 1, 1)


# ----------------------------------------------------------------------------------------------- geometry
def _inverse_affine(center: tuple[float, float], angle: Tensor, translate: tuple[Tensor, Tensor],
                    shear: tuple[Tensor, Tensor]) -> Tensor:
    """float64[B,2,3] inverse matrices, step for step as torchvision's `_get_inverse_affine_matrix` (scale 1).

    Same operation order in float64 as torchvision's Python floats, so the float32 theta it casts is identical.
    """
    deg2rad = math.pi / 180.0  # math.radians multiplies by this exact constant
    rot, sx, sy = angle * deg2rad, shear[0] * deg2rad, shear[1] * deg2rad
    cx, cy = center
    cos_sy, tan_sx, rot_minus_sy = torch.cos(sy), torch.tan(sx), rot - sy
    cx_plus_tx, cy_plus_ty = cx + translate[0], cy + translate[1]
    a = torch.cos(rot_minus_sy) / cos_sy
    b = -(a * tan_sx + torch.sin(rot))
    c = torch.sin(rot_minus_sy) / cos_sy
    d = torch.cos(rot) - c * tan_sx
    m0, m1, m3, m4 = d, -b, -c, a
    m2 = 0.0 + (cx - m0 * cx_plus_tx - m1 * cy_plus_ty)
    m5 = 0.0 + (cy - m3 * cx_plus_tx - m4 * cy_plus_ty)
    return torch.stack([m0, m1, m2, m3, m4, m5], dim=1).view(-1, 2, 3)


def _warp(images: Tensor, matrix: Tensor) -> Tensor:
    """Nearest-neighbour warp of uint8[B,C,H,W] by per-sample inverse matrices float64[B,2,3], fill 0.

    Mirrors torchvision's `_affine_grid` + `_apply_grid_transform` (same float32 grid arithmetic), batched.
    """
    batch, _, height, width = images.shape
    device = images.device
    theta = matrix.to(device=device, dtype=torch.float32)
    base = torch.empty(1, height, width, 3, dtype=torch.float32, device=device)
    base[..., 0].copy_(torch.linspace((1.0 - width) * 0.5, (width - 1.0) * 0.5, steps=width, device=device))
    base[..., 1].copy_(torch.linspace((1.0 - height) * 0.5, (height - 1.0) * 0.5, steps=height,
                                      device=device).unsqueeze_(-1))
    base[..., 2].fill_(1)
    rescaled = theta.transpose(1, 2).div(torch.tensor([0.5 * width, 0.5 * height], device=device))
    grid = base.view(1, height * width, 3).expand(batch, -1, -1).bmm(rescaled).view(batch, height, width, 2)
    out = nnf.grid_sample(images.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out.round_().to(torch.uint8)


def _zeros_like(values: Tensor) -> Tensor:
    return torch.zeros_like(values, dtype=torch.float64)


def _shear(images: Tensor, factor: Tensor, axis: int) -> Tensor:
    # torchvision passes shear=[degrees(atan(factor)), 0] about center=[0,0] (top-left corner), i.e.
    # center_f = [-W/2, -H/2] relative to the image centre.
    degrees = torch.atan(factor.double()) * (180.0 / math.pi)
    zero = _zeros_like(factor)
    shear = (degrees, zero) if axis == 0 else (zero, degrees)
    center = (-images.shape[3] * 0.5, -images.shape[2] * 0.5)
    return _warp(images, _inverse_affine(center, zero, (zero, zero), shear))


def shear_x(images: Tensor, params: Tensor, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] sheared along x by factor params[B] (torchvision AutoAugment ShearX)."""
    _check_images(images)
    return _shear(images, _check_params(images, params, "ShearX"), 0)


def shear_y(images: Tensor, params: Tensor, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] sheared along y by factor params[B] (torchvision AutoAugment ShearY)."""
    _check_images(images)
    return _shear(images, _check_params(images, params, "ShearY"), 1)


def _translate(images: Tensor, pixels: Tensor, axis: int) -> Tensor:
    shift = torch.trunc(pixels.double())  # torchvision passes translate=[int(magnitude), 0]
    zero = _zeros_like(pixels)
    translate = (shift, zero) if axis == 0 else (zero, shift)
    return _warp(images, _inverse_affine((0.0, 0.0), zero, translate, (zero, zero)))


def translate_x(images: Tensor, params: Tensor, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] shifted right by params[B] pixels (truncated toward zero like torchvision's int())."""
    _check_images(images)
    return _translate(images, _check_params(images, params, "TranslateX"), 0)


def translate_y(images: Tensor, params: Tensor, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] shifted down by params[B] pixels (truncated toward zero like torchvision's int())."""
    _check_images(images)
    return _translate(images, _check_params(images, params, "TranslateY"), 1)


def rotate(images: Tensor, params: Tensor, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] rotated counter-clockwise by params[B] degrees about the centre (F.rotate, no expand)."""
    _check_images(images)
    angle = torch.remainder(_check_params(images, params, "Rotate").double(), 360.0)  # F.rotate: angle % 360
    zero = _zeros_like(angle)
    return _warp(images, _inverse_affine((0.0, 0.0), -angle, (zero, zero), (zero, zero)))


# ----------------------------------------------------------------------------------------------- colour
def _blend(image1: Tensor, image2: Tensor, ratio: Tensor) -> Tensor:
    """torchvision `_blend`: image1*ratio + image2*(1-ratio), clamp, truncate to uint8, per-sample ratio.

    torchvision's `add_(image2, alpha=1-ratio)` is a fused multiply-add on float32; doing that addition in float64
    and rounding once gives the same float32 (the products are exact in float64) on every device.
    """
    ratio = _bshape(ratio)
    alpha = _bshape(1.0 - ratio.double().flatten())
    scaled = image1.float().mul(ratio)
    return scaled.double().add_(image2.double().mul(alpha)).float().clamp_(0, 255).to(torch.uint8)


def _grayscale_floor(images: Tensor) -> Tensor:
    r, g, b = images.unbind(dim=1)
    return r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).unsqueeze(1).floor_()


def brightness(images: Tensor, params: Tensor, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] times enhancement factor params[B] (F.adjust_brightness; 1.0 = unchanged)."""
    _check_images(images)
    factor = _bshape(_check_params(images, params, "Brightness"))
    return images.float().mul(factor).clamp_(0, 255).to(torch.uint8)


def color(images: Tensor, params: Tensor, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] saturation scaled by factor params[B] (F.adjust_saturation); 1-channel images unchanged."""
    _check_images(images)
    factor = _check_params(images, params, "Color")
    if images.shape[1] == 1:  # torchvision (and PIL) leave grayscale images as they are
        return images.clone()
    return _blend(images, _grayscale_floor(images), factor)


def contrast(images: Tensor, params: Tensor, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] contrast scaled by factor params[B] about the mean grey level (F.adjust_contrast)."""
    _check_images(images)
    factor = _check_params(images, params, "Contrast")
    gray = _grayscale_floor(images) if images.shape[1] == 3 else images.float()
    # Sums of integers below 2**24 are exact in float32, so the per-image mean matches torchvision's bit for bit.
    return _blend(images, gray.mean(dim=(1, 2, 3), keepdim=True), factor)


def sharpness(images: Tensor, params: Tensor, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] sharpened (factor > 1) or smoothed (< 1) by params[B]; borders kept (F.adjust_sharpness)."""
    _check_images(images)
    factor = _check_params(images, params, "Sharpness")
    height, width = images.shape[2:]
    if height <= 2 or width <= 2:
        return images.clone()
    # torchvision blurs with the float32 kernel [[1,1,1],[1,5,1],[1,1,1]] / 13 and rounds. The exact blur k / 13
    # (k an integer) is never a half, and the float error is far below 1/26, so integer arithmetic gives the same
    # rounded values without conv2d: round(k / 13) = floor((2k + 13) / 26).
    x = images.to(torch.int32)
    inner = x[..., 1:-1, 1:-1]
    total = 4 * inner
    for dy in range(3):  # nine shifted views, not a loop over images
        for dx in range(3):
            total = total + x[..., dy : height - 2 + dy, dx : width - 2 + dx]
    blurred = torch.div(2 * total + 13, 26, rounding_mode="floor")
    # inner + (1-f) * (blurred - inner): a fused multiply-add in torchvision, exact here in float64.
    alpha = _bshape(1.0 - factor.double())
    mixed = inner.double().add_((blurred - inner).double().mul_(alpha)).float().clamp_(0, 255).to(torch.uint8)
    output = images.clone()
    output[..., 1:-1, 1:-1] = mixed
    return output


def posterize(images: Tensor, params: Tensor, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] keeping the top int(params[B]) bits per channel, bits clamped to [0, 8] (F.posterize)."""
    _check_images(images)
    bits = torch.trunc(_check_params(images, params, "Posterize")).clamp_(0, 8).to(torch.int32)
    mask = ((255 << (8 - bits)) & 255).to(torch.uint8)
    return images & _bshape(mask)


def solarize(images: Tensor, params: Tensor, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] with pixels >= threshold params[B] (0..255) inverted (F.solarize)."""
    _check_images(images)
    threshold = _bshape(_check_params(images, params, "Solarize"))
    # For integer pixels, x >= t  <=>  x >= ceil(t): compare in uint8 (t > 255 inverts nothing, like torchvision).
    bound = torch.ceil(threshold).clamp_(0, 255).to(torch.uint8)
    flip = (images >= bound) & (threshold <= 255)
    return images ^ flip.to(torch.uint8).mul_(255)  # x ^ 255 = 255 - x; torch.where is ~5x slower on CPU


def autocontrast(images: Tensor, params: Optional[Tensor] = None, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] with each channel stretched to 0..255 (F.autocontrast)."""
    _check_images(images)
    _check_params(images, params, "AutoContrast")
    float_image = images.float()
    minimum = float_image.amin(dim=(-2, -1), keepdim=True)
    maximum = float_image.amax(dim=(-2, -1), keepdim=True)
    flat = maximum == minimum
    inv_scale = (maximum - minimum).mul_(1.0 / 255)
    minimum = minimum.masked_fill(flat, 0.0)
    inv_scale = inv_scale.masked_fill(flat, 1.0)
    return float_image.sub_(minimum).div_(inv_scale).clamp_(0, 255).to(torch.uint8)


def equalize(images: Tensor, params: Optional[Tensor] = None, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] histogram-equalized per image and channel with PIL's LUT rule (F.equalize)."""
    _check_images(images)
    _check_params(images, params, "Equalize")
    batch, channels, height, width = images.shape
    rows = batch * channels
    flat = images.reshape(rows, height * width).long()
    # One bincount for all rows: row r's histogram lives at bins [256 r, 256 r + 256).
    offsets = torch.arange(rows, device=images.device).mul_(256).unsqueeze_(1)
    hist = torch.bincount((flat + offsets).view(-1), minlength=rows * 256).view(rows, 256)
    cum_hist = hist.cumsum(dim=-1)
    last = cum_hist.argmax(dim=-1, keepdim=True)  # first bin reaching the total = the largest pixel value
    step = (height * width - hist.gather(-1, last)).div_(255, rounding_mode="floor")
    lut = (cum_hist[:, :-1] + step // 2).div_(step.clamp(min=1), rounding_mode="floor").clamp_(0, 255)
    lut = torch.cat([lut.new_zeros(rows, 1), lut], dim=-1).to(torch.uint8)
    equalized = lut.gather(-1, flat).view_as(images)
    # PIL (and torchvision) leave a channel unchanged when all but its brightest pixels number fewer than 255.
    return torch.where(step.ne(0).view(batch, channels, 1, 1), equalized, images)


def invert(images: Tensor, params: Optional[Tensor] = None, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] as 255 - x (F.invert)."""
    _check_images(images)
    _check_params(images, params, "Invert")
    return images.bitwise_not()


def identity(images: Tensor, params: Optional[Tensor] = None, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] copy, unchanged."""
    _check_images(images)
    _check_params(images, params, "Identity")
    return images.clone()


def horizontal_flip(images: Tensor, params: Optional[Tensor] = None, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] mirrored left-right (F.horizontal_flip)."""
    _check_images(images)
    _check_params(images, params, "HorizontalFlip")
    return images.flip(-1)


# ----------------------------------------------------------------------------------------------- position ops
def pad_crop(images: Tensor, params: Tensor, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] zero-padded by int(params[B]) pixels per side, then cropped back to H x W.

    The crop's top/left offset in [0, 2p] is floor(aux[:, 0|1] * (2p + 1)), the draw RandomCrop makes;
    aux None crops the centre (no shift). Equals F.pad(x, [p]) followed by F.crop(x, top, left, H, W).
    """
    _check_images(images)
    padding = torch.trunc(_check_params(images, params, "PadCrop")).clamp_(min=0).long()
    aux = _check_aux(images, aux, "PadCrop")
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


def cutout(images: Tensor, params: Tensor, aux: Optional[Tensor] = None) -> Tensor:
    """uint8[B,C,H,W] with a square of side int(params[B]) pixels set to 0, clipped at the borders.

    Centre (row, col) = floor(aux[:, 0] * H), floor(aux[:, 1] * W), or the image centre (H//2, W//2) when aux is
    None. The square spans [centre - s//2, centre - s//2 + s), so even sides match DeVries & Taylor's cutout.
    """
    _check_images(images)
    side = torch.trunc(_check_params(images, params, "Cutout")).clamp_(min=0).long()
    aux = _check_aux(images, aux, "Cutout")
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


OPS: dict[str, Kernel] = {
    "Identity": identity, "ShearX": shear_x, "ShearY": shear_y, "TranslateX": translate_x,
    "TranslateY": translate_y, "Rotate": rotate, "Brightness": brightness, "Color": color, "Contrast": contrast,
    "Sharpness": sharpness, "Posterize": posterize, "Solarize": solarize, "AutoContrast": autocontrast,
    "Equalize": equalize, "Invert": invert, "HorizontalFlip": horizontal_flip, "PadCrop": pad_crop,
    "Cutout": cutout,
}  # fmt: skip


def apply_ops(images: Tensor, op_index: Tensor, params: Tensor, aux: Optional[Tensor] = None,
              mask: Optional[Tensor] = None) -> Tensor:
    """Applies op OP_NAMES[op_index[i]] with params[i] (and aux[i]) to images[i]; rows with mask False pass through.

    images uint8[B,C,H,W], op_index long[B], params float32[B], aux float32[B,2] or None, mask bool[B] or None.
    Samples are grouped by op: one kernel call per distinct op present (index_select in, index_copy out).
    """
    _check_images(images)
    batch = images.shape[0]
    if not isinstance(op_index, Tensor) or op_index.shape != (batch,) or op_index.is_floating_point():
        got = f"{op_index.dtype} {tuple(op_index.shape)}" if isinstance(op_index, Tensor) else type(op_index).__name__
        raise ValueError(f"op_index must be an integer tensor of shape [{batch}] indexing OP_NAMES, got {got}")
    params = _check_params(images, params, "apply_ops")
    aux = _check_aux(images, aux, "apply_ops")
    op_index = op_index.to(device=images.device, dtype=torch.long)
    active = torch.ones(batch, dtype=torch.bool, device=images.device)
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.shape != (batch,):
            raise ValueError(f"mask must be a bool tensor of shape [{batch}] (True = apply), got "
                             f"{tuple(getattr(mask, 'shape', ())) or type(mask).__name__}")
        active = mask.to(device=images.device, dtype=torch.bool)
    present = torch.unique(op_index[active]).tolist()
    if present and (present[0] < 0 or present[-1] >= len(OP_NAMES)):
        raise ValueError(f"op_index values must lie in [0, {len(OP_NAMES) - 1}] (OP_NAMES), got {present}")
    out = images.clone()
    for k in present:  # at most len(OP_NAMES) iterations, never one per image
        if OP_NAMES[k] == "Identity":
            continue
        rows = torch.nonzero(active & (op_index == k)).squeeze(1)
        sub_aux = None if aux is None else aux.index_select(0, rows)
        result = OPS[OP_NAMES[k]](images.index_select(0, rows), params.index_select(0, rows), sub_aux)
        out.index_copy_(0, rows, result)
    return out


# ----------------------------------------------------------------------------------------------- magnitudes
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


def _space(shear: float, translate: MagnitudeRange, rotate: float, enhance: float, bits: int) -> dict:
    none = MagnitudeRange(0.0, False, "none")
    return {
        "Identity": none,
        "ShearX": MagnitudeRange(shear, True, "linear"),
        "ShearY": MagnitudeRange(shear, True, "linear"),
        "TranslateX": MagnitudeRange(translate.max, True, translate.kind),
        "TranslateY": MagnitudeRange(translate.max, True, "height" if translate.kind == "width" else "linear"),
        "Rotate": MagnitudeRange(rotate, True, "linear"),
        **{op: MagnitudeRange(enhance, True, "enhance") for op in ("Brightness", "Color", "Contrast", "Sharpness")},
        "Posterize": MagnitudeRange(float(bits), False, "posterize"),
        "Solarize": MagnitudeRange(255.0, False, "solarize"),  # range [255, 0] threshold (uint8)
        "AutoContrast": none, "Equalize": none, "Invert": none, "HorizontalFlip": none,
        "PadCrop": MagnitudeRange(4.0, False, "linear"),  # range [0, 4] px padding, RandomCrop(32, padding=4)
        "Cutout": MagnitudeRange(0.5, False, "side"),  # range [0, 0.5 * min(H, W)] px side (16 px at 32x32)
    }  # fmt: skip


MAGNITUDE_SPACES: dict[str, dict[str, MagnitudeRange]] = {
    # AutoAugment / RandAugment (torchvision): shear range [-0.3, 0.3]; translate [-150/331 W, 150/331 W] px
    # (+-14.5 at 32); rotate [-30, 30] degrees; enhance factor [0.1, 1.9]; posterize [8, 4] bits.
    "standard": _space(0.3, MagnitudeRange(150.0 / 331.0, True, "width"), 30.0, 0.9, 4),
    # TrivialAugmentWide (torchvision): shear [-0.99, 0.99]; translate [-32, 32] px; rotate [-135, 135] degrees;
    # enhance factor [0.01, 1.99]; posterize [8, 2] bits.
    "wide": _space(0.99, MagnitudeRange(32.0, True, "linear"), 135.0, 0.99, 2),
}


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


def magnitude_to_param(op: str, magnitude: Tensor, sign: Tensor, space: str = "standard",
                       image_size: tuple[int, int] = (32, 32), *, num_bins: Optional[int] = None) -> Tensor:
    """Physical parameter float32[B] for normalized magnitudes float[B] in [0,1] and signs (+1/-1) float[B].

    Signed ops multiply by sign (others ignore it); enhancement ops return 1 + value (torchvision passes
    1.0 + magnitude); Solarize returns the uint8 threshold 255 * value; Posterize returns bits. With num_bins the
    magnitude is snapped to bin round(m * (num_bins - 1)) and the value is torchvision's float32 table entry
    bit for bit; without it the continuous formula is evaluated in float64 (within 1 ulp of the table).
    """
    if space not in MAGNITUDE_SPACES:
        raise ValueError(f"unknown magnitude space {space!r}; choose one of {sorted(MAGNITUDE_SPACES)}")
    if op not in MAGNITUDE_SPACES[space]:
        raise ValueError(f"unknown op {op!r}; choose one of {OP_NAMES}")
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
