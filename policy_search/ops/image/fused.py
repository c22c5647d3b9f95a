"""Fused CPU path: every slot of a sampled augmentation applied image by image in one compiled loop (numba).

The batched torch kernels in ``policy_search.ops.image`` are the reference and the GPU path. On CPU their cost at
training batch sizes is dominated by the fixed price of each tensor call (sorting the batch by op, one call per
op group, copies in and out): about 1.5-2 ms per slot at batch 256, more than the pixel work. Here the whole
sample (all slots) runs in one ``numba.njit`` function that walks the batch once; each image is read once into a
small buffer, every op of every slot is applied to it while it sits in cache, and it is written once.

Exactness: each op repeats, per pixel, the floating-point steps of its torch kernel (which repeat
torchvision's): float32 products where torch multiplies in float32, float64 where the torch kernel works in
float64, truncation to uint8 where torch converts. torchvision's grayscale uses ``add_(x, alpha=w)``, which
torch computes as a fused multiply-add on CPUs with FMA (AVX2 / AVX-512) and as a product then a sum elsewhere;
``_torch_fuses_add_alpha`` asks torch which, once, and the kernel follows. The geometric ops gather through the
same cached index maps as the torch path (``ops_geometry.index_rows``), so their results are identical by
construction; new maps round their float32 sampling grid here too (``grid_to_index``, the same float32 steps as
the torch code it replaces). tests/test_ops_fused.py checks every op against torchvision and against the torch
path, and Color / Contrast / AutoContrast exhaustively over pixel values.

Used automatically for CPU uint8 batches when numba is installed, unless ``POLICY_SEARCH_KERNELS=torch``;
``POLICY_SEARCH_KERNELS=fused`` makes a missing numba an error instead of a silent fallback. Compiled code is
cached on disk (numba ``cache=True``), so only the first process on a machine pays the ~5 s compile.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from policy_search.ops.image import geometry as ops_geometry
from policy_search.ops.image.jit import BACKENDS, backend, enabled, njit, numba  # noqa: F401 - re-exported

Tensor = torch.Tensor

# Contrast's mean grey level is a float32 sum in torch: exact (order-independent) only while the sum of H*W
# values up to 255 stays below 2**24. Larger images use the torch path.
MAX_PIXELS = (1 << 24) // 255
# Parameters are cast to integers for Posterize / PadCrop / Cutout; keep far from integer overflow.
MAX_ABS_PARAM = float(1 << 20)

# Op codes: indices into ops.image.OP_NAMES (checked in ops/image/__init__.py).
(
    IDENTITY,
    SHEAR_X,
    SHEAR_Y,
    TRANSLATE_X,
    TRANSLATE_Y,
    ROTATE,
    BRIGHTNESS,
    COLOR,
    CONTRAST,
    SHARPNESS,
    POSTERIZE,
    SOLARIZE,
    AUTOCONTRAST,
    EQUALIZE,
    INVERT,
    HORIZONTAL_FLIP,
    PAD_CROP,
    CUTOUT,
) = range(18)


def usable(images: Tensor, param: Tensor | None = None) -> bool:
    """Whether the fused path applies: ``enabled`` for the images' device, at most MAX_PIXELS pixels, and finite
    parameters below MAX_ABS_PARAM (anything else takes the torch path, which defines the behaviour)."""
    if not enabled(images.device) or images.shape[-2] * images.shape[-1] > MAX_PIXELS:
        return False
    return param is None or param.numel() == 0 or bool(param.abs().max() < MAX_ABS_PARAM)


@functools.lru_cache(maxsize=1)
def _torch_fuses_add_alpha() -> bool:
    """Whether torch's CPU ``a.add_(b, alpha=w)`` on float32 rounds once (fused multiply-add) on this machine."""
    values = torch.arange(256, dtype=torch.float32)
    first = values.repeat_interleave(256).contiguous()
    second = values.repeat(256).contiguous()
    got = first.mul(0.2989).add_(second, alpha=0.587).numpy()
    a = (first.numpy() * np.float32(0.2989)).astype(np.float32)
    fused = (a.astype(np.float64) + second.numpy().astype(np.float64) * float(np.float32(0.587))).astype(np.float32)
    return bool(np.array_equal(got, fused))


def apply_slots(
    images: Tensor, op_index: Tensor, param: Tensor, aux: Tensor | None = None, mask: Tensor | None = None
) -> Tensor:
    """uint8[B,C,H,W] with slot s applying op ``op_index[s, i]`` (param, aux) to image i where ``mask[s, i]``.

    op_index long[S,B], param float[S,B], aux float32[S,B,2] or None (centred PadCrop / Cutout), mask bool[S,B]
    or None (every slot applies).
    Same result as ``ops.apply_ops`` called slot after slot. The caller has checked ``usable(images)`` and the
    shapes; parameters must be finite (|p| < 2**20), which sampled policies guarantee.
    """
    batch, channels, height, width = images.shape
    slots = op_index.shape[0]
    source = images.detach()
    if not source.is_contiguous():
        source = source.contiguous()
    out = torch.empty(source.shape, dtype=torch.uint8)
    if batch == 0:
        return out
    # Bookkeeping in numpy (zero-copy views of the CPU tensors): at small batches torch's per-call cost dominates.
    op = np.ascontiguousarray(op_index.detach().cpu().numpy(), dtype=np.int64)
    if op.size and (op.min() < 0 or op.max() > CUTOUT):
        raise ValueError(f"op_index values must lie in [0, {CUTOUT}] (ops.OP_NAMES), got {np.unique(op).tolist()}")
    par = np.ascontiguousarray(param.detach().cpu().numpy(), dtype=np.float32)
    active = op != IDENTITY
    if mask is not None:
        active &= np.asarray(mask.detach().cpu().numpy(), dtype=np.bool_)
    if aux is None:  # floor(0.5 * (2p + 1)) = p and floor(0.5 * H) = H // 2: centred PadCrop and Cutout
        draws = np.full((slots, batch, 2), 0.5, dtype=np.float32)
    else:
        draws = np.ascontiguousarray(aux.detach().cpu().numpy()[..., :2], dtype=np.float32)
    # Geometric maps of every slot, computed (or found in the cache) in one call so that they share one table.
    where = np.flatnonzero(active & (op >= SHEAR_X) & (op <= ROTATE))
    row = np.full(slots * batch, -1, dtype=np.int64)
    if where.size:
        table, rows = ops_geometry.index_rows(
            torch.from_numpy(op.reshape(-1)[where] - SHEAR_X),
            torch.from_numpy(par.reshape(-1)[where]),
            height,
            width,
            source.device,
        )
        row[where] = rows.numpy()
        table = table.numpy()
    else:
        table = _unused_table(height * width)
    _kernel(
        source.view(batch, channels, height * width).numpy(),
        out.view(batch, channels, height * width).numpy(),
        op,
        par,
        draws,
        active,
        table,
        row.reshape(slots, batch),
        height,
        width,
        _torch_fuses_add_alpha(),
    )
    return out


@functools.lru_cache(maxsize=8)
def _unused_table(pixels: int) -> np.ndarray:
    """A one-row index table for batches without geometric ops (never read: keeps the compiled types fixed)."""
    return np.zeros((1, pixels), dtype=np.int64)


# ----------------------------------------------------------------------------------------------- kernels
# Module-level functions and constants (not closures), so that numba's on-disk cache recognises them across
# processes. Decorating compiles nothing: each is compiled on its first call.
f32, f64 = np.float32, np.float64
GRAY_R, GRAY_G, GRAY_B = f32(0.2989), f32(0.587), f32(0.114)
INV_255 = f32(1.0 / 255)
# floor(n / 26) == (n * DIV26_MUL) >> DIV26_SHIFT for 0 <= n <= 2 * 13 * 255 + 13 (the sharpness blur's rounding;
# ops/image/__init__.py uses the same pair, tests/test_ops.py checks every n)
DIV26_MUL, DIV26_SHIFT = 40330, 20


@njit
def _to_u8(value):
    # torch: .clamp_(0, 255) then .to(torch.uint8), which truncates toward zero
    if value <= 0:
        return np.uint8(0)
    if value >= 255:
        return np.uint8(255)
    return np.uint8(int(value))


@njit
def _madd(acc, x, weight, fused):
    # float32 acc + weight * x: one rounding when torch fuses (exact in float64 for 8-bit x), else two
    if fused:
        return f32(f64(acc) + f64(x) * f64(weight))
    return f32(acc + f32(x * weight))


@njit
def _gray_floor(r, g, b, fused):
    # ops_lut.grayscale_floor / torchvision _rgb_to_grayscale_image: r*0.2989, add_(g, 0.587), add_(b, 0.114)
    value = f32(f32(r) * GRAY_R)
    value = _madd(value, f32(g), GRAY_G, fused)
    value = _madd(value, f32(b), GRAY_B, fused)
    return np.floor(value)


@njit
def _blend_value(scaled, other, alpha):
    # ops_lut.blend: float64(scaled) + float64(other) * alpha, rounded to float32, clamped, truncated
    return _to_u8(f32(f64(scaled) + f64(other) * alpha))


@njit
def _copy(src, dst):
    # explicit loops: numba's slice assignment (dst[:] = src) is ~8x slower on these small arrays
    for c in range(src.shape[0]):
        for p in range(src.shape[1]):
            dst[c, p] = src[c, p]


@njit
def _apply_lut(src, dst, lut, c):
    for p in range(src.shape[1]):
        dst[c, p] = lut[src[c, p]]


@njit
def _op_geometric(src, dst, index):
    n = src.shape[1]
    for c in range(src.shape[0]):
        for p in range(n):
            i = index[p]
            dst[c, p] = src[c, i] if i < n else 0


@njit
def _op_brightness(src, dst, factor, lut):
    for v in range(256):
        lut[v] = _to_u8(f32(f32(v) * factor))
    for c in range(src.shape[0]):
        _apply_lut(src, dst, lut, c)


@njit
def _op_color(src, dst, factor, fused):
    if src.shape[0] == 1:  # grayscale images pass unchanged (torchvision and PIL)
        _copy(src, dst)
        return
    alpha = 1.0 - f64(factor)
    for p in range(src.shape[1]):
        r, g, b = src[0, p], src[1, p], src[2, p]
        gray = _gray_floor(r, g, b, fused)
        dst[0, p] = _blend_value(f32(f32(r) * factor), gray, alpha)
        dst[1, p] = _blend_value(f32(f32(g) * factor), gray, alpha)
        dst[2, p] = _blend_value(f32(f32(b) * factor), gray, alpha)


@njit
def _op_contrast(src, dst, factor, fused, lut):
    n = src.shape[1]
    total = 0.0  # integers: exact in float64, as torch's float32 sum is below 2**24 (MAX_PIXELS)
    if src.shape[0] == 3:
        for p in range(n):
            total += _gray_floor(src[0, p], src[1, p], src[2, p], fused)
    else:
        for p in range(n):
            total += src[0, p]
    mean = f32(f32(total) / f32(n))
    alpha = 1.0 - f64(factor)
    for v in range(256):
        lut[v] = _blend_value(f32(f32(v) * factor), mean, alpha)
    for c in range(src.shape[0]):
        _apply_lut(src, dst, lut, c)


@njit
def _op_sharpness(src, dst, factor, height, width, rows):
    # ops._sharpness: 3x3 blur [[1,1,1],[1,5,1],[1,1,1]] / 13 rounded in integers, mixed back in float64
    _copy(src, dst)
    if height <= 2 or width <= 2:
        return
    keep = 1.0 - f64(factor)
    for c in range(src.shape[0]):
        for y in range(1, height - 1):
            above, here, below = (y - 1) * width, y * width, (y + 1) * width
            for x in range(width):  # column sums of the three rows
                rows[x] = np.int32(src[c, above + x]) + np.int32(src[c, here + x]) + np.int32(src[c, below + x])
            for x in range(1, width - 1):
                inner = np.int32(src[c, here + x])
                total = rows[x - 1] + rows[x] + rows[x + 1] + 4 * inner
                # floor((2 total + 13) / 26) by multiply and shift (exact on this range, ops._DIV26_MUL)
                blurred = ((2 * total + 13) * np.int32(DIV26_MUL)) >> np.int32(DIV26_SHIFT)
                mixed = f32(f64(blurred - inner) * keep + f64(inner))
                dst[c, here + x] = np.uint8(min(max(mixed, f32(0.0)), f32(255.0)))


@njit
def _op_posterize(src, dst, bits_param):
    bits = min(max(int(bits_param), 0), 8)
    keep = np.uint8((255 << (8 - bits)) & 255)
    for c in range(src.shape[0]):
        for p in range(src.shape[1]):
            dst[c, p] = src[c, p] & keep


@njit
def _op_solarize(src, dst, threshold, lut):
    for v in range(256):
        lut[v] = 255 - v if f32(v) >= threshold else v
    for c in range(src.shape[0]):
        _apply_lut(src, dst, lut, c)


@njit
def _op_autocontrast(src, dst, lut):
    for c in range(src.shape[0]):
        low, high = 255, 0
        for p in range(src.shape[1]):
            v = src[c, p]
            low = min(low, v)
            high = max(high, v)
        if low == high:  # torch: minimum 0, scale 1, i.e. unchanged
            for p in range(src.shape[1]):
                dst[c, p] = src[c, p]
            continue
        minimum = f32(low)
        inv_scale = f32(f32(f32(high) - minimum) * INV_255)
        for v in range(256):
            lut[v] = _to_u8(f32(f32(f32(v) - minimum) / inv_scale))
        _apply_lut(src, dst, lut, c)


@njit
def _op_equalize(src, dst, lut, hist):
    n = src.shape[1]
    for c in range(src.shape[0]):
        hist[:] = 0
        for p in range(n):
            hist[src[c, p]] += 1
        top = 255
        while hist[top] == 0:
            top -= 1
        step = (n - hist[top]) // 255
        if step == 0:  # PIL: too few pixels below the brightest value, channel unchanged
            for p in range(n):
                dst[c, p] = src[c, p]
            continue
        below = 0  # cum_hist[v - 1]
        for v in range(256):
            lut[v] = min((below + step // 2) // step, 255)
            below += hist[v]
        _apply_lut(src, dst, lut, c)


@njit
def _op_invert(src, dst):
    for c in range(src.shape[0]):
        for p in range(src.shape[1]):
            dst[c, p] = 255 - src[c, p]


@njit
def _op_flip(src, dst, height, width):
    for c in range(src.shape[0]):
        for y in range(height):
            row = y * width
            for x in range(width):
                dst[c, row + x] = src[c, row + width - 1 - x]


@njit
def _op_pad_crop(src, dst, padding_param, draw_y, draw_x, height, width):
    padding = max(int(padding_param), 0)
    span = 2 * padding
    shift_y = min(int(np.floor(f32(draw_y * f32(span + 1)))), span) - padding
    shift_x = min(int(np.floor(f32(draw_x * f32(span + 1)))), span) - padding
    for c in range(src.shape[0]):
        for y in range(height):
            sy = y + shift_y
            for x in range(width):
                sx = x + shift_x
                inside = 0 <= sy < height and 0 <= sx < width
                dst[c, y * width + x] = src[c, sy * width + sx] if inside else 0


@njit
def _op_cutout(src, dst, side_param, draw_y, draw_x, height, width):
    _copy(src, dst)
    side = max(int(side_param), 0)
    top = int(np.floor(f32(draw_y * f32(height)))) - side // 2
    left = int(np.floor(f32(draw_x * f32(width)))) - side // 2
    for c in range(src.shape[0]):
        for y in range(max(top, 0), min(top + side, height)):
            for x in range(max(left, 0), min(left + side, width)):
                dst[c, y * width + x] = 0


@njit
def _apply_one(op, src, dst, p, draw_y, draw_x, index, height, width, fused, lut, hist, rows):
    if op <= ROTATE:
        _op_geometric(src, dst, index)
    elif op == BRIGHTNESS:
        _op_brightness(src, dst, p, lut)
    elif op == COLOR:
        _op_color(src, dst, p, fused)
    elif op == CONTRAST:
        _op_contrast(src, dst, p, fused, lut)
    elif op == SHARPNESS:
        _op_sharpness(src, dst, p, height, width, rows)
    elif op == POSTERIZE:
        _op_posterize(src, dst, p)
    elif op == SOLARIZE:
        _op_solarize(src, dst, p, lut)
    elif op == AUTOCONTRAST:
        _op_autocontrast(src, dst, lut)
    elif op == EQUALIZE:
        _op_equalize(src, dst, lut, hist)
    elif op == INVERT:
        _op_invert(src, dst)
    elif op == HORIZONTAL_FLIP:
        _op_flip(src, dst, height, width)
    elif op == PAD_CROP:
        _op_pad_crop(src, dst, p, draw_y, draw_x, height, width)
    else:
        _op_cutout(src, dst, p, draw_y, draw_x, height, width)


@njit
def _kernel(images, out, op_index, param, aux, active, table, row, height, width, fused):
    slots, batch = op_index.shape
    channels, n = images.shape[1], images.shape[2]
    buffers = np.empty((2, channels, n), dtype=np.uint8)
    lut = np.empty(256, dtype=np.uint8)
    hist = np.empty(256, dtype=np.int64)
    rows = np.empty(width, dtype=np.int32)
    for i in range(batch):
        last = -1
        for s in range(slots):
            if active[s, i]:
                last = s
        if last < 0:
            _copy(images[i], out[i])
            continue
        current = -1  # -1: the image itself; else the buffer holding the result so far
        for s in range(last + 1):
            if not active[s, i]:
                continue
            src = images[i] if current < 0 else buffers[current]
            target = 0 if current != 0 else 1
            dst = out[i] if s == last else buffers[target]  # the last op writes the output directly
            index = table[max(row[s, i], 0)]  # read by the geometric ops only
            _apply_one(
                op_index[s, i],
                src,
                dst,
                param[s, i],
                aux[s, i, 0],
                aux[s, i, 1],
                index,
                height,
                width,
                fused,
                lut,
                hist,
                rows,
            )
            current = target
