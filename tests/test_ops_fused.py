"""The fused CPU kernels (policy_search/ops_fused.py) against torchvision, against the torch kernels, and over
every pixel value where an op does floating-point work."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as F
from test_ops import TORCHVISION_OPS, reference_batch, torchvision_params

from policy_search.ops import image as ops
from policy_search.ops.image import OP_NAMES, OPS, apply_ops, magnitude_to_param
from policy_search.ops.image import fused as ops_fused
from policy_search.policy.presets import policy_preset

pytestmark = pytest.mark.skipif(ops_fused.numba is None, reason="numba is not installed: no fused kernels")


@pytest.fixture
def fused(monkeypatch):
    monkeypatch.setenv("POLICY_SEARCH_KERNELS", "fused")


def fused_op(op: str, images: torch.Tensor, params: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
    batch = images.shape[0]
    index = torch.full((1, batch), OP_NAMES.index(op))
    return ops_fused.apply_slots(
        images, index, params[None], None if aux is None else aux[None], torch.ones(1, batch, dtype=torch.bool)
    )


@pytest.fixture(params=["cifar", "mnist"])
def images(request, cifar_batch, mnist_batch) -> torch.Tensor:
    return (cifar_batch if request.param == "cifar" else mnist_batch)[0]


@pytest.mark.parametrize("space,num_bins", [("standard", 31), ("wide", 31)])
@pytest.mark.parametrize("op", TORCHVISION_OPS)
def test_fused_op_matches_torchvision(op, space, num_bins, images, fused):
    params = torchvision_params(op, space, num_bins, images.shape[0], tuple(images.shape[-2:]))
    assert torch.equal(fused_op(op, images, params), reference_batch(op, images, params)), op


@pytest.mark.parametrize("op", OP_NAMES)
def test_fused_op_equals_torch_kernel_on_continuous_parameters(op, images, fused):
    generator = torch.Generator().manual_seed(OP_NAMES.index(op))
    batch = images.shape[0]
    magnitude = torch.rand(batch, generator=generator)
    sign = torch.where(torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0)
    params = magnitude_to_param(op, magnitude, sign, "wide", tuple(images.shape[-2:]))
    aux = torch.rand(batch, 2, generator=generator)
    assert torch.equal(fused_op(op, images, params, aux), OPS[op](images, params, aux)), op
    assert torch.equal(fused_op(op, images, params), OPS[op](images, params)), f"{op} without aux (centred)"


@pytest.mark.parametrize("preset", ["trivialaugment", "randaugment", "autoaugment-cifar10", "flip-crop", "seed-recipe"])
def test_policies_give_the_same_pixels_on_both_backends(preset, images, monkeypatch):
    policy = policy_preset(preset)
    for seed in range(3):
        params = policy.sample(images, generator=torch.Generator().manual_seed(seed))
        params = type(params)(
            params.op_index, params.param, params.aux, params.mask & (torch.rand(params.mask.shape) < 0.9)
        )  # some masked-out slots too
        monkeypatch.setenv("POLICY_SEARCH_KERNELS", "fused")
        fused_out = policy.apply(images, params)
        monkeypatch.setenv("POLICY_SEARCH_KERNELS", "torch")
        assert torch.equal(fused_out, policy.apply(images, params)), (preset, seed)


def all_colours() -> torch.Tensor:
    """uint8[256,3,256,256]: image r has red r, green = row, blue = column: every RGB colour once."""
    values = torch.arange(256, dtype=torch.uint8)
    images = torch.empty(256, 3, 256, 256, dtype=torch.uint8)
    images[:, 0] = values.view(256, 1, 1)
    images[:, 1] = values.view(1, 256, 1)
    images[:, 2] = values.view(1, 1, 256)
    return images


def test_color_and_contrast_match_torchvision_on_every_colour(fused):
    """Color blends each pixel with its own grey level (torch's fused multiply-adds, float64 blend): all 2**24
    colours at factors inside and at the ends of both magnitude ranges, against torchvision image by image."""
    images = all_colours()
    for factor in (0.01, 0.1, 0.55, 1.0, 1.37, 1.9, 1.99):
        params = torch.full((256,), factor)
        for op, call in (("Color", F.adjust_saturation), ("Contrast", F.adjust_contrast)):
            expected = torch.stack([call(image, factor) for image in images])
            assert torch.equal(fused_op(op, images, params), expected), (op, factor)


def test_autocontrast_table_matches_torch_for_every_range(fused):
    """Every (min, max) channel range: channel = clamp(0..255, min, max), so all values in between occur."""
    low, high = torch.triu_indices(256, 256)
    values = torch.arange(256).view(1, 256)
    channel = values.clamp(low.view(-1, 1), high.view(-1, 1)).to(torch.uint8)  # [pairs, 256]
    images = channel.view(-1, 1, 16, 16)
    assert torch.equal(
        fused_op("AutoContrast", images, torch.zeros(images.shape[0])), OPS["AutoContrast"](images, None)
    )


def test_table_ops_match_torch_for_every_value_and_many_parameters(fused):
    values = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(2000, 3, 16, 16).contiguous()
    generator = torch.Generator().manual_seed(0)
    for op, params in (
        ("Brightness", torch.rand(2000, generator=generator) * 2),
        ("Solarize", torch.rand(2000, generator=generator) * 300 - 20),
        ("Posterize", torch.randint(0, 9, (2000,), generator=generator).float()),
    ):
        assert torch.equal(fused_op(op, values, params), OPS[op](values, params)), op


def test_unfused_grayscale_rounds_twice(fused, monkeypatch):
    """On a CPU where torch does not fuse add_(x, alpha=w) the kernel follows, rounding product and sum apart."""
    image = all_colours()[[0, 77, 255]]
    monkeypatch.setattr(ops_fused, "_torch_fuses_add_alpha", lambda: False)
    factor = torch.full((3,), 0.3)
    got = fused_op("Color", image, factor).numpy().astype(np.int64)
    x = image.numpy().astype(np.float32)
    f32 = np.float32
    gray = x[:, 0] * f32(0.2989)
    gray = (gray + (x[:, 1] * f32(0.587)).astype(f32)).astype(f32)
    gray = np.floor((gray + (x[:, 2] * f32(0.114)).astype(f32)).astype(f32))[:, None]
    scaled = (x * f32(0.3)).astype(f32).astype(np.float64)
    expected = np.clip((scaled + gray.astype(np.float64) * (1.0 - np.float64(f32(0.3)))).astype(f32), 0, 255)
    assert np.array_equal(got, expected.astype(np.uint8).astype(np.int64))


def test_backend_setting_and_fallbacks(monkeypatch, cifar_batch):
    images = cifar_batch[0][:8]
    monkeypatch.setenv("POLICY_SEARCH_KERNELS", "gpu-please")
    with pytest.raises(ValueError, match="POLICY_SEARCH_KERNELS='gpu-please'.*auto"):
        ops_fused.usable(images)
    monkeypatch.setenv("POLICY_SEARCH_KERNELS", "torch")
    assert not ops_fused.usable(images)
    monkeypatch.setenv("POLICY_SEARCH_KERNELS", "auto")
    assert ops_fused.usable(images)
    assert not ops_fused.usable(images, torch.tensor([1.0, float("nan")]))  # left to the torch kernels
    assert not ops_fused.usable(images, torch.tensor([1e30]))
    big = torch.randint(0, 256, (2, 3, 300, 300), dtype=torch.uint8)  # contrast's float32 mean is inexact there
    assert not ops_fused.usable(big)
    params = torch.full((2,), 1.5)
    assert torch.equal(
        apply_ops(big, torch.full((2,), OP_NAMES.index("Contrast")), params), OPS["Contrast"](big, params)
    )
    with pytest.raises(ValueError, match="op_index"):
        ops_fused.apply_slots(images, torch.full((1, 8), 18), torch.ones(1, 8), None, torch.ones(1, 8, dtype=bool))
    from policy_search.ops.image import jit

    monkeypatch.setattr(jit, "numba", None)
    monkeypatch.setenv("POLICY_SEARCH_KERNELS", "fused")
    with pytest.raises(RuntimeError, match="pip install numba"):
        ops_fused.backend()


def test_fused_output_is_fresh_and_input_untouched(cifar_batch, fused):
    images = cifar_batch[0][:16]
    before = images.clone()
    out = ops_fused.apply_slots(
        images, torch.zeros(2, 16, dtype=torch.long), torch.zeros(2, 16), None, torch.ones(2, 16, dtype=torch.bool)
    )
    assert torch.equal(out, images) and out.data_ptr() != images.data_ptr()
    assert torch.equal(images, before)
    strided = cifar_batch[0][::2]  # a non-contiguous view
    params = torch.full((1, 32), 1.7)
    index = torch.full((1, 32), OP_NAMES.index("Sharpness"))
    assert torch.equal(
        ops_fused.apply_slots(strided, index, params, None, torch.ones(1, 32, dtype=bool)),
        ops.OPS["Sharpness"](strided.contiguous(), params[0]),
    )


def test_apply_slots_checks_shapes_and_matches_apply_ops_slot_by_slot(cifar_batch, kernels):
    images = cifar_batch[0][:16]
    generator = torch.Generator().manual_seed(5)
    op_index = torch.randint(0, len(OP_NAMES), (3, 16), generator=generator)
    params = torch.rand(3, 16, generator=generator) * 4  # within every op's range, meaning aside
    aux = torch.rand(3, 16, 2, generator=generator)
    mask = torch.rand(3, 16, generator=generator) < 0.7
    expected = images
    for s in range(3):
        expected = apply_ops(expected, op_index[s], params[s], aux[s], mask[s])
    assert torch.equal(ops.apply_slots(images, op_index, params, aux, mask), expected)
    none = ops.apply_slots(images, op_index[:0], params[:0], aux[:0], mask[:0])
    assert torch.equal(none, images) and none.data_ptr() != images.data_ptr()
    with pytest.raises(ValueError, match=r"op_index must be \[slots, 16\]"):
        ops.apply_slots(images, op_index[0], params, aux, mask)
    with pytest.raises(ValueError, match=r"params must have shape \[3, 16\]"):
        ops.apply_slots(images, op_index, params[:2], aux, mask)
    with pytest.raises(ValueError, match=r"aux must have shape \[3, 16, 2\]"):
        ops.apply_slots(images, op_index, params, aux[..., 0], mask)


def test_threads_applying_at_once_get_the_sequential_pixels(cifar_batch, kernels, monkeypatch):
    """Kernels release the GIL (numba nogil, torch ops); with a geometry cache small enough to be cleared mid-run
    (continuous rotations), threads applying different samples at once must get exactly the sequential results."""
    from concurrent.futures import ThreadPoolExecutor

    from policy_search.ops.image import geometry as ops_geometry

    images = cifar_batch[0]
    monkeypatch.setattr(
        ops_geometry, "_CACHES", {(32, 32, images.device): ops_geometry._IndexCache(32, 32, images.device, max_bytes=0)}
    )  # 64 maps: every batch of 64 continuous angles clears it
    policy = policy_preset("seed-recipe")
    samples = [policy.sample(images, generator=torch.Generator().manual_seed(seed)) for seed in range(16)]
    expected = [policy.apply(images, params) for params in samples]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda params: policy.apply(images, params), samples))
    assert all(torch.equal(a, b) for a, b in zip(results, expected))


@pytest.mark.parametrize("size", [(32, 32), (28, 28), (17, 40)])
def test_compiled_grid_rounding_equals_the_torch_steps(size, monkeypatch):
    """ops_geometry.source_index rounds its sampling grid in one compiled pass on CPU; the torch steps it
    replaces give the same maps for every geometric op over wide parameter ranges (past 90 degrees too)."""
    from policy_search.ops.image import geometry as ops_geometry

    height, width = size
    generator = torch.Generator().manual_seed(height)
    kind = torch.arange(5).repeat(40)
    scale = torch.tensor([0.99, 0.99, width, height, 400.0])[kind]
    params = (torch.rand(200, generator=generator) * 2 - 1) * scale
    matrices = ops_geometry.op_matrices(kind, params, height, width)
    monkeypatch.setenv("POLICY_SEARCH_KERNELS", "torch")
    expected = ops_geometry.source_index(matrices, height, width)
    monkeypatch.setenv("POLICY_SEARCH_KERNELS", "auto")
    assert torch.equal(ops_geometry.source_index(matrices, height, width), expected)
