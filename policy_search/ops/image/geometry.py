"""Affine warps for the geometric ops (ShearX/Y, TranslateX/Y, Rotate), batched over samples and ops.

Every geometric op is torchvision's ``F.affine`` / ``F.rotate`` with nearest interpolation and fill 0, i.e. one
inverse affine matrix per sample (``_get_inverse_affine_matrix``), a float32 sampling grid (``_affine_grid``)
and ``grid_sample(mode="nearest", padding_mode="zeros", align_corners=False)``. Here the five ops share one code
path: their per-sample parameters become the (angle, translate, shear, center) of one matrix formula, the grid
gives each output pixel its nearest source pixel (or none), and a single uint8 ``gather`` moves the pixels.
Nothing is converted to float but the coordinates, samples that share an (op, parameter) pair share one grid, and
each pair's map is cached across calls (``_IndexCache``): binned policies (RandAugment, TrivialAugment,
AutoAugment) then warp with one lookup and one gather.
"""

from __future__ import annotations

import functools
import math
import threading

import numpy as np
import torch

from policy_search.ops.image.jit import enabled, njit

Tensor = torch.Tensor

# Order of the geometric ops inside this module (``kind`` below): offsets from ShearX in ops.OP_NAMES.
SHEAR_X, SHEAR_Y, TRANSLATE_X, TRANSLATE_Y, ROTATE = range(5)


def inverse_affine(
    center: tuple[Tensor | float, Tensor | float],
    angle: Tensor,
    translate: tuple[Tensor, Tensor],
    shear: tuple[Tensor, Tensor],
) -> Tensor:
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


def op_matrices(kind: Tensor, params: Tensor, height: int, width: int) -> Tensor:
    """float64[B,2,3] inverse matrices of geometric op ``kind[i]`` (SHEAR_X..ROTATE) with float32 ``params[i]``.

    ShearX/Y: shear = degrees(atan(m)) on one axis about center [0, 0] (the top-left corner, i.e. [-W/2, -H/2]
    from the image centre); TranslateX/Y: translate = int(p) px on one axis; Rotate: angle = -(p % 360) (F.rotate).
    Each sample gets exactly the float64 values its own op's call builds (zeros elsewhere), so one evaluation of
    the formula serves all five ops.
    """
    p = params.double()
    zero = torch.zeros_like(p)
    degrees = torch.atan(p) * (180.0 / math.pi)
    shift = torch.trunc(p)  # torchvision passes translate=[int(magnitude), 0]
    shear = (torch.where(kind == SHEAR_X, degrees, zero), torch.where(kind == SHEAR_Y, degrees, zero))
    translate = (torch.where(kind == TRANSLATE_X, shift, zero), torch.where(kind == TRANSLATE_Y, shift, zero))
    angle = torch.where(kind == ROTATE, -torch.remainder(p, 360.0), zero)  # F.rotate: angle % 360, negated
    is_shear = kind <= SHEAR_Y
    center = (torch.where(is_shear, -width * 0.5, 0.0).double(), torch.where(is_shear, -height * 0.5, 0.0).double())
    return inverse_affine(center, angle, translate, shear)


@functools.lru_cache(maxsize=16)
def _base_grid(height: int, width: int, device: torch.device) -> Tensor:
    """float32[1, H*W, 3] of torchvision's `_affine_grid`: pixel centres relative to the image centre, and 1."""
    base = torch.empty(1, height, width, 3, dtype=torch.float32, device=device)
    base[..., 0].copy_(torch.linspace((1.0 - width) * 0.5, (width - 1.0) * 0.5, steps=width, device=device))
    base[..., 1].copy_(
        torch.linspace((1.0 - height) * 0.5, (height - 1.0) * 0.5, steps=height, device=device).unsqueeze_(-1)
    )
    base[..., 2].fill_(1)
    return base.view(1, height * width, 3)


def source_index(matrix: Tensor, height: int, width: int) -> Tensor:
    """long[B, H*W]: the flat source pixel y * W + x each output pixel copies, or H*W where the source lies
    outside the image (zeros padding).

    The grid is torchvision's `_affine_grid` (float32 theta rescaled by [W/2, H/2], times the base grid, as a
    batched ``bmm`` like torchvision's per-image ``bmm``); the rounding is grid_sample's nearest mode with
    align_corners=False, x = round_half_even((g + 1) * W/2 - 1/2). The dot products have length 3 and their float32
    rounding depends on the BLAS kernel: one ``mm`` over all samples matched torchvision on one machine and
    differed on 2-3% of grid values on another (AMD EPYC), where the batched ``bmm`` matches exactly.
    """
    device, batch = matrix.device, matrix.shape[0]
    theta = matrix.to(dtype=torch.float32)
    rescaled = theta.transpose(1, 2).div(torch.tensor([0.5 * width, 0.5 * height], device=device))  # [B,3,2]
    base = _base_grid(height, width, device)
    grid = base.expand(batch, height * width, 3).bmm(rescaled).transpose(0, 1).reshape(height * width, 2 * batch)
    if enabled(device):
        return grid_to_index(grid, height, width)  # the steps below in one compiled pass
    coords = grid.view(height * width, batch, 2)  # [H*W, B, (x, y)]
    size = torch.tensor([width, height], dtype=torch.float32, device=device)
    coords.add_(1).mul_(size * 0.5).sub_(0.5).round_()
    inside = ((coords >= 0) & (coords < size)).all(dim=-1)
    flat = torch.add(coords[..., 0], coords[..., 1], alpha=width).masked_fill_(~inside, height * width)
    return torch.empty(batch, height * width, dtype=torch.long, device=device).copy_(flat.t())


def warp_by_index(images: Tensor, index: Tensor) -> Tensor:
    """uint8[B,C,H,W] whose pixel p is images[b, :, index[b, p]] (flat y * W + x), or 0 where it is H*W."""
    batch, channels, height, width = images.shape
    source = images.new_empty(batch, channels, height * width + 1)
    source[..., :-1] = images.view(batch, channels, height * width)
    source[..., -1] = 0
    out = source.gather(2, index.unsqueeze(1).expand(batch, channels, height * width))
    return out.view(batch, channels, height, width)


class _IndexCache:
    """Source-index maps already computed, keyed by (op kind, float32 parameter bits), for one image size and
    device. Binned policies (RandAugment, TrivialAugment, AutoAugment) draw geometric parameters from a small
    finite set, so after the first batches a warp is a table lookup plus one gather; continuous magnitudes fill
    the cache until ``max_bytes`` and then start it afresh. The maps are exactly what ``source_index`` returns,
    so cached and fresh results are identical."""

    def __init__(self, height: int, width: int, device: torch.device, max_bytes: int = 32 << 20) -> None:
        self.rows: dict[int, int] = {}
        self.capacity = max(64, max_bytes // (8 * height * width))
        self.table = torch.empty(0, height * width, dtype=torch.long, device=device)
        self.lock = threading.Lock()

    def lookup(self, keys: list[int]) -> list[int]:
        return [self.rows.get(k, -1) for k in keys]

    def insert(self, keys: list[int], maps: Tensor) -> list[int]:
        """Store ``maps`` [len(keys), H*W] (the caller checked ``fits``); returns their rows."""
        start = len(self.rows)
        if start + len(keys) > self.table.shape[0]:  # grow geometrically, up to capacity
            size = min(max(2 * self.table.shape[0], start + len(keys), 64), self.capacity)
            grown = self.table.new_empty(size, self.table.shape[1])
            grown[:start] = self.table[:start]
            self.table = grown
        self.table[start : start + len(keys)] = maps
        rows = list(range(start, start + len(keys)))
        self.rows.update(zip(keys, rows))
        return rows

    def fits(self, count: int) -> bool:
        return len(self.rows) + count <= self.capacity

    def clear(self) -> None:
        # A fresh table rather than overwriting rows in place: a caller in another thread (the fused CPU kernels
        # release the GIL) may still be gathering through rows of the old one.
        self.rows.clear()
        self.table = self.table.new_empty(0, self.table.shape[1])


_CACHES: dict[tuple[int, int, torch.device], _IndexCache] = {}
_CACHES_LOCK = threading.Lock()


def index_rows(kind: Tensor, params: Tensor, height: int, width: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Source-index maps for geometric op ``kind[i]`` with ``params[i]``: (table long[R, H*W], rows long[B]);
    sample i's map is ``table[rows[i]]`` (see ``source_index``).

    One map per distinct (op, parameter) pair, computed once and kept in the cache (``_IndexCache``); the table
    is the cache's own (valid until the next call) unless there are more distinct pairs than it holds.
    """
    batch = kind.shape[0]
    key = torch.add(params.view(torch.int32).long(), kind, alpha=1 << 33)  # (op, float32 bits), one int64
    unique, inverse = torch.unique(key, return_inverse=True)
    keys = unique.tolist()
    with _CACHES_LOCK:
        cache = _CACHES.get((height, width, device))
        if cache is None:
            cache = _CACHES.setdefault((height, width, device), _IndexCache(height, width, device))
    if len(keys) > cache.capacity:  # more distinct transforms than the cache holds: compute them all
        first = torch.empty_like(unique).scatter_(0, inverse, torch.arange(batch, device=device))
        return source_index(op_matrices(kind[first], params[first], height, width), height, width), inverse
    # One thread at a time reads and fills a cache (rows are numbered by insertion order); the maps already handed
    # out are never overwritten, so gathering through them needs no lock.
    with cache.lock:
        rows = cache.lookup(keys)
        missing = [i for i, row in enumerate(rows) if row < 0]
        if missing and not cache.fits(len(missing)):
            cache.clear()
            rows, missing = [-1] * len(keys), list(range(len(keys)))
        if missing:
            first = torch.empty_like(unique).scatter_(0, inverse, torch.arange(batch, device=device))
            sample = first[torch.tensor(missing, device=device)]
            maps = source_index(op_matrices(kind[sample], params[sample], height, width), height, width)
            for i, row in zip(missing, cache.insert([keys[i] for i in missing], maps)):
                rows[i] = row
        table = cache.table
    return table, torch.tensor(rows, device=device)[inverse]


def warp_ops(images: Tensor, kind: Tensor, params: Tensor) -> Tensor:
    """uint8[B,C,H,W]: geometric op ``kind[i]`` (SHEAR_X..ROTATE) with ``params[i]`` applied to images[i].

    One source-index map per distinct (op, parameter) pair (``index_rows``), then one gather for the batch.
    """
    batch, _, height, width = images.shape
    if batch == 0:
        return images.clone()
    table, rows = index_rows(kind, params, height, width, images.device)
    return warp_by_index(images, table.index_select(0, rows))


def grid_to_index(grid: Tensor, height: int, width: int) -> Tensor:
    """long[B, H*W] source indices from a float32 sampling grid [H*W, 2B] of (x, y) pairs (``source_index``
    after its matmul): the same float32 steps as its torch code, in one pass."""
    pixels, pairs = grid.shape
    out = torch.empty(pairs // 2, pixels, dtype=torch.long)
    _grid_to_index(grid.contiguous().numpy(), out.numpy(), height, width)
    return out


f32 = np.float32


@njit
def _grid_to_index(grid, out, height, width):
    # ops_geometry.source_index: coords.add_(1).mul_(size * 0.5).sub_(0.5).round_() in float32, then inside-test
    # and y * W + x (H * W outside)
    half_w, half_h = f32(width) * f32(0.5), f32(height) * f32(0.5)
    pixels = grid.shape[0]
    for p in range(pixels):
        for b in range(out.shape[0]):
            x = np.rint(f32(f32(f32(grid[p, 2 * b] + f32(1.0)) * half_w) - f32(0.5)))
            y = np.rint(f32(f32(f32(grid[p, 2 * b + 1] + f32(1.0)) * half_h) - f32(0.5)))
            if 0 <= x < width and 0 <= y < height:
                out[b, p] = int(x) + width * int(y)
            else:
                out[b, p] = pixels
