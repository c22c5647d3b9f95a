"""Parity of the batched op kernels with torchvision.transforms.v2.functional, plus behaviour and input checks.

Every kernel is compared image by image with the call torchvision's AutoAugment / RandAugment /
TrivialAugmentWide make (`_AutoAugmentBase._apply_image_or_video_transform`), on real CIFAR-10 and MNIST images,
with per-sample parameters covering every bin of the magnitude range and both signs.
"""

from __future__ import annotations

import math

import pytest
import torch
import torchvision.transforms.v2 as T
import torchvision.transforms.v2.functional as F

from policy_search.ops import image as ops
from policy_search.ops.image import MAGNITUDE_SPACES, OP_NAMES, OPS, apply_ops, bin_to_magnitude, magnitude_to_param

NEAREST = T.InterpolationMode.NEAREST
TORCHVISION_OPS = OP_NAMES[:16]  # every op with a torchvision reference besides PadCrop / Cutout
GEOMETRIC = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"}
# Allowed fraction of differing pixels per op (docs/OPS.md, "Parity"): 0 everywhere on CPU; the GPU test allows
# geometric ops this much, for grid coordinates that land exactly on a nearest-neighbour half-pixel boundary.
GPU_GEOMETRIC_TOLERANCE = 0.005
SPACES = {"standard": T.RandAugment, "wide": T.TrivialAugmentWide}


def reference(op: str, image: torch.Tensor, param: float) -> torch.Tensor:
    """torchvision's own call for one image [C,H,W] and one physical parameter, as AutoAugment makes it."""
    if op in ("ShearX", "ShearY"):
        degrees = math.degrees(math.atan(param))
        shear = [degrees, 0.0] if op == "ShearX" else [0.0, degrees]
        return F.affine(
            image, angle=0.0, translate=[0, 0], scale=1.0, shear=shear, interpolation=NEAREST, fill=None, center=[0, 0]
        )
    if op in ("TranslateX", "TranslateY"):
        translate = [int(param), 0] if op == "TranslateX" else [0, int(param)]
        return F.affine(
            image, angle=0.0, translate=translate, scale=1.0, shear=[0.0, 0.0], interpolation=NEAREST, fill=None
        )
    calls = {
        "Identity": lambda: image,
        "Rotate": lambda: F.rotate(image, angle=param, interpolation=NEAREST, fill=None),
        "Brightness": lambda: F.adjust_brightness(image, brightness_factor=param),
        "Color": lambda: F.adjust_saturation(image, saturation_factor=param),
        "Contrast": lambda: F.adjust_contrast(image, contrast_factor=param),
        "Sharpness": lambda: F.adjust_sharpness(image, sharpness_factor=param),
        "Posterize": lambda: F.posterize(image, bits=int(param)),
        "Solarize": lambda: F.solarize(image, threshold=param),
        "AutoContrast": lambda: F.autocontrast(image),
        "Equalize": lambda: F.equalize(image),
        "Invert": lambda: F.invert(image),
        "HorizontalFlip": lambda: F.horizontal_flip(image),
    }
    return calls[op]()


def reference_batch(op: str, images: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    return torch.stack([reference(op, images[i], float(params[i])) for i in range(images.shape[0])])


def torchvision_params(op: str, space: str, num_bins: int, batch: int, size: tuple[int, int]) -> torch.Tensor:
    """Per-sample physical parameters exactly as torchvision builds them: bin i % num_bins, alternating sign."""
    table, signed = SPACES[space]._AUGMENTATION_SPACE.get(op, (lambda n, h, w: None, False))
    values = table(num_bins, *size)
    out = []
    for i in range(batch):
        magnitude = 0.0 if values is None else float(values[i % num_bins])
        if signed and i % 2:
            magnitude *= -1
        if op in ("Brightness", "Color", "Contrast", "Sharpness"):
            magnitude = 1.0 + magnitude
        elif op == "Solarize":
            magnitude = 255 * magnitude
        out.append(magnitude)
    return torch.tensor(out, dtype=torch.float32)


def fraction_differing(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a != b).any(dim=1).float().mean().item()


@pytest.fixture(params=["cifar", "mnist"])
def images(request, cifar_batch, mnist_batch) -> torch.Tensor:
    return (cifar_batch if request.param == "cifar" else mnist_batch)[0]


# ----------------------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("space,num_bins", [("standard", 31), ("standard", 10), ("wide", 31)])
@pytest.mark.parametrize("op", TORCHVISION_OPS)
def test_kernel_matches_torchvision(op, space, num_bins, images):
    params = torchvision_params(op, space, num_bins, images.shape[0], tuple(images.shape[-2:]))
    out = OPS[op](images, params)
    expected = reference_batch(op, images, params)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    assert fraction_differing(out, expected) == 0.0, f"{op} differs from torchvision"


@pytest.mark.parametrize("op", ["Rotate", "ShearX", "TranslateY", "Brightness", "Contrast", "Sharpness", "Solarize"])
def test_kernel_matches_torchvision_off_grid(op, cifar_batch):
    """Continuous magnitudes between bins (and angles past 90 degrees) match torchvision too."""
    images = cifar_batch[0][:32]
    generator = torch.Generator().manual_seed(1)
    magnitude = torch.rand(32, generator=generator)
    sign = torch.where(torch.rand(32, generator=generator) < 0.5, -1.0, 1.0)
    params = magnitude_to_param(op, magnitude, sign, "wide", (32, 32))
    assert fraction_differing(OPS[op](images, params), reference_batch(op, images, params)) == 0.0


def test_rotate_special_angles_match_torchvision(cifar_batch):
    """torchvision takes fast paths (clone / rot90) at multiples of 90 degrees; the warp must agree."""
    images = cifar_batch[0][:8]
    params = torch.tensor([0.0, 90.0, 180.0, 270.0, -90.0, 360.0, 450.0, -180.0])
    assert torch.equal(OPS["Rotate"](images, params), reference_batch("Rotate", images, params))


@pytest.mark.parametrize("padding", [0, 1, 2, 4])
def test_padcrop_matches_pad_then_crop(padding, images):
    batch, _, height, width = images.shape
    aux = torch.rand(batch, 2, generator=torch.Generator().manual_seed(padding))
    aux[:4] = torch.tensor([[0.0, 0.0], [0.999999, 0.999999], [0.0, 0.999999], [0.5, 0.5]])
    params = torch.full((batch,), float(padding))
    out = OPS["PadCrop"](images, params, aux)
    for i in range(batch):
        top, left = (int(v) for v in torch.floor(aux[i] * (2 * padding + 1)))
        expected = F.crop(F.pad(images[i], [padding], fill=0), top, left, height, width)
        assert torch.equal(out[i], expected), f"sample {i}, padding {padding}, offset {(top, left)}"
    assert torch.equal(OPS["PadCrop"](images, params), images)  # aux None: centred crop = no shift


def test_cutout_matches_erase(images):
    batch, _, height, width = images.shape
    generator = torch.Generator().manual_seed(0)
    aux = torch.rand(batch, 2, generator=generator)
    aux[:3] = torch.tensor([[0.0, 0.0], [0.999999, 0.999999], [0.0, 0.5]])
    sides = torch.randint(0, height // 2 + 1, (batch,), generator=generator).float()
    sides[:4] = torch.tensor([0.0, 16.0, 15.0, 1.0])
    out = OPS["Cutout"](images, sides, aux)
    for i in range(batch):
        side = int(sides[i])
        cy, cx = int(aux[i, 0] * height), int(aux[i, 1] * width)
        y1, x1 = max(cy - side // 2, 0), max(cx - side // 2, 0)
        y2, x2 = min(cy - side // 2 + side, height), min(cx - side // 2 + side, width)
        expected = F.erase(images[i], y1, x1, max(y2 - y1, 0), max(x2 - x1, 0), torch.tensor(0, dtype=torch.uint8))
        assert torch.equal(out[i], expected), f"sample {i}, side {side}, centre {(cy, cx)}"
    centred = OPS["Cutout"](images, torch.full((batch,), 4.0))
    assert (centred[..., height // 2 - 2 : height // 2 + 2, width // 2 - 2 : width // 2 + 2] == 0).all()


# ----------------------------------------------------------------------------------------------- magnitudes
@pytest.mark.parametrize("space", ["standard", "wide"])
@pytest.mark.parametrize("num_bins", [2, 10, 13, 31])
@pytest.mark.parametrize("size", [(32, 32), (28, 28), (24, 40)])
def test_magnitude_to_param_equals_torchvision_table(space, num_bins, size):
    for op in SPACES[space]._AUGMENTATION_SPACE:
        bins = torch.arange(num_bins)
        for sign in (1.0, -1.0):
            expected = torch.tensor([_signed(op, space, float(v), sign) for v in _table(op, space, num_bins, size)])
            magnitude = bin_to_magnitude(bins, num_bins)
            signs = torch.full((num_bins,), sign)
            exact = magnitude_to_param(op, magnitude, signs, space, size, num_bins=num_bins)
            assert torch.equal(exact, expected), (op, sign)
            continuous = magnitude_to_param(op, magnitude, signs, space, size)
            assert torch.allclose(continuous, expected, rtol=1e-6, atol=2e-5), (op, sign)


def _table(op, space, num_bins, size):
    values = SPACES[space]._AUGMENTATION_SPACE[op][0](num_bins, *size)
    return [0.0] * num_bins if values is None else values


def _signed(op, space, value, sign):
    if SPACES[space]._AUGMENTATION_SPACE[op][1]:
        value *= sign
    if op in ("Brightness", "Color", "Contrast", "Sharpness"):
        return 1.0 + value
    return 255 * value if op == "Solarize" else value


def test_magnitude_spaces_cover_every_op_and_endpoints():
    assert set(MAGNITUDE_SPACES) == {"standard", "wide"}
    one, plus = torch.ones(1), torch.ones(1)
    expected = {
        "standard": {"ShearX": 0.3, "Rotate": 30.0, "TranslateX": 150 / 331 * 32, "Brightness": 1.9,
                     "Posterize": 4.0, "Solarize": 0.0, "PadCrop": 4.0, "Cutout": 16.0},
        "wide": {"ShearX": 0.99, "Rotate": 135.0, "TranslateX": 32.0, "Brightness": 1.99, "Posterize": 2.0,
                 "Solarize": 0.0, "PadCrop": 4.0, "Cutout": 16.0},
    }  # fmt: skip
    for space, table in MAGNITUDE_SPACES.items():
        assert set(table) == set(OP_NAMES)
        for op, value in expected[space].items():
            assert magnitude_to_param(op, one, plus, space, (32, 32)).item() == pytest.approx(value, rel=1e-6)
        assert magnitude_to_param("Rotate", one, -plus, space).item() < 0
        assert magnitude_to_param("Solarize", torch.zeros(1), plus, space).item() == 255.0
    assert bin_to_magnitude(15, 31).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="num_bins"):
        bin_to_magnitude(0, 1)
    with pytest.raises(ValueError, match="unknown magnitude space"):
        magnitude_to_param("Rotate", one, plus, "huge")
    with pytest.raises(ValueError, match="unknown op"):
        magnitude_to_param("Rotat", one, plus)


# ----------------------------------------------------------------------------------------------- behaviour
def test_every_op_keeps_dtype_shape_device_and_is_deterministic(cifar_batch):
    images = cifar_batch[0][:16]
    params = torch.linspace(0.0, 1.0, 16)
    aux = torch.rand(16, 2, generator=torch.Generator().manual_seed(0))
    for op in OP_NAMES:
        state = torch.get_rng_state()
        first = OPS[op](images, params, aux)
        assert torch.equal(torch.get_rng_state(), state), f"{op} touched the global RNG"
        assert first.dtype == torch.uint8 and first.shape == images.shape and first.device == images.device
        assert torch.equal(first, OPS[op](images, params, aux)), op
        assert OPS[op](images[:0], params[:0], aux[:0]).shape == (0, 3, 32, 32), op


def test_apply_ops_groups_by_op_and_respects_mask(cifar_batch, kernels):
    images = cifar_batch[0]
    batch = images.shape[0]
    generator = torch.Generator().manual_seed(3)
    op_index = torch.randint(0, len(OP_NAMES), (batch,), generator=generator)
    magnitude = torch.rand(batch, generator=generator)
    params = torch.stack([magnitude_to_param(OP_NAMES[k], magnitude[i : i + 1], torch.ones(1))[0]
                          for i, k in enumerate(op_index.tolist())])  # fmt: skip
    aux = torch.rand(batch, 2, generator=generator)
    mask = torch.rand(batch, generator=generator) < 0.7
    before = images.clone()
    out = apply_ops(images, op_index, params, aux, mask)
    assert torch.equal(images, before), "apply_ops must not modify its input"
    for k, name in enumerate(OP_NAMES):
        rows = torch.nonzero(op_index == k).squeeze(1)
        expected = OPS[name](images[rows], params[rows], aux[rows])
        applied = mask[rows]
        assert torch.equal(out[rows][applied], expected[applied]), name
        assert torch.equal(out[rows][~applied], images[rows][~applied]), name
    assert torch.equal(apply_ops(images, op_index, params, aux, torch.zeros(batch, dtype=torch.bool)), images)
    all_on = apply_ops(images, op_index, params, aux)
    assert torch.equal(all_on[mask], out[mask])


@pytest.mark.parametrize("only_tables", [False, True])
def test_apply_ops_random_mix_equals_each_kernel_alone(images, only_tables, kernels):
    """All table ops of a slot share one lookup, all geometric ops one warp: the mix must equal each op's kernel
    run alone on its samples, for RGB and 1-channel images, binned (wide) and continuous parameters
    (only_tables: just the point-wise ops, so the shared lookup holds every kind of table)."""
    batch = images.shape[0]
    generator = torch.Generator().manual_seed(11)
    table_ops = ("Brightness", "Contrast", "Solarize", "AutoContrast", "Equalize", "Posterize", "Invert")
    choices = torch.tensor([OP_NAMES.index(name) for name in (table_ops if only_tables else OP_NAMES)])
    op_index = choices[torch.randint(0, len(choices), (batch,), generator=generator)]
    magnitude = torch.rand(batch, generator=generator)
    sign = torch.where(torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0)
    params = torch.stack([
        magnitude_to_param(OP_NAMES[k], magnitude[i : i + 1], sign[i : i + 1], "wide", tuple(images.shape[-2:]),
                           num_bins=31 if i % 2 else None)[0]
        for i, k in enumerate(op_index.tolist())])  # fmt: skip
    aux = torch.rand(batch, 2, generator=generator)
    out = apply_ops(images, op_index, params, aux)
    expected = torch.empty_like(images)
    for k in op_index.unique().tolist():
        rows = torch.nonzero(op_index == k).squeeze(1)
        expected[rows] = OPS[OP_NAMES[k]](images[rows], params[rows], aux[rows])
    assert torch.equal(out, expected)


def test_input_validation_names_the_problem(cifar_batch, kernels):
    images = cifar_batch[0][:4]
    params = torch.ones(4)
    with pytest.raises(TypeError, match="uint8"):
        OPS["Rotate"](images.float(), params)
    with pytest.raises(ValueError, match=r"\[B,C,H,W\]"):
        OPS["Rotate"](images[0], params)
    with pytest.raises(ValueError, match="C in"):
        OPS["Brightness"](images[:, :2], params)
    with pytest.raises(ValueError, match=r"shape \[4\]"):
        OPS["Rotate"](images, torch.ones(3))
    with pytest.raises(ValueError, match="needs params"):
        OPS["Rotate"](images, None)
    with pytest.raises(ValueError, match="aux"):
        OPS["Cutout"](images, params, torch.rand(4))
    with pytest.raises(ValueError, match="op_index"):
        apply_ops(images, torch.full((4,), 99), params)
    with pytest.raises(ValueError, match="op_index"):
        apply_ops(images, torch.zeros(4), params)
    with pytest.raises(ValueError, match="mask"):
        apply_ops(images, torch.zeros(4, dtype=torch.long), params, mask=torch.ones(3, dtype=torch.bool))
    assert torch.equal(OPS["Invert"](images, None), 255 - images)  # parameter-free ops accept None


def test_op_table_is_complete():
    assert OP_NAMES == ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness",
                        "Color", "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize",
                        "Invert", "HorizontalFlip", "PadCrop", "Cutout")  # fmt: skip
    assert set(OPS) == set(OP_NAMES) == set(ops.OP_COST)
    assert ops.OP_COST["Identity"] == 0.0 and ops.OP_COST["Brightness"] == 1.0
    assert all(cost > 0 for name, cost in ops.OP_COST.items() if name != "Identity")


ADD_ONE_ROW = r"""
import importlib.util, pathlib, sys

import policy_search.ops

src = pathlib.Path(policy_search.ops.__file__).parent / "image" / "__init__.py"
text = src.read_text(encoding="utf-8")
start = text.index("OP_TABLE: tuple[OpRow, ...] = (")
end = text.index(")  # fmt: skip", start)
kernel = (
    "def _darken(images, params, aux=None):\n"
    "    return (images.float() * (1 - params.view(-1, 1, 1, 1))).round().clamp(0, 255).to(torch.uint8)\n\n\n"
)
row = '    OpRow("Darken", _darken, "own", 0.5, True, False, "darkened", in_spaces(MagnitudeRange(0.5, False, "linear"))),\n'
spec = importlib.util.spec_from_file_location("policy_search.ops.image", src, submodule_search_locations=[str(src.parent)])
module = importlib.util.module_from_spec(spec)
sys.modules["policy_search.ops.image"] = module
exec(compile(text[:start] + kernel + text[start:end] + row + text[end:], str(src), "exec"), module.__dict__)

import torch

from policy_search.ops import image as ops
from policy_search.policy.kinds import RandAugment

assert ops.OP_NAMES[-1] == "Darken" and ops.OP_ROWS["Darken"].fused_code is None and ops.OP_COST["Darken"] == 0.5
images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
for space in ("standard", "wide"):
    param = ops.magnitude_to_param("Darken", torch.full((8,), 0.5), torch.ones(8), space)
    assert torch.allclose(param, torch.full((8,), 0.25))
index = torch.tensor([0, 5, 18, 6, 18, 1, 14, 18])  # fused-coded ops beside the new one: the torch path runs all
params = torch.tensor([0.0, 10.0, 0.25, 1.5, 0.5, 0.2, 0.0, 1.0])
out = ops.apply_ops(images, index, params)
for i, k in enumerate(index.tolist()):
    one = ops.OPS[ops.OP_NAMES[k]](images[i : i + 1], params[i : i + 1])
    assert torch.equal(out[i : i + 1], one), ops.OP_NAMES[k]
policy = RandAugment(num_ops=2, magnitude=9, ops=("Darken", "Rotate"))
assert policy(images, generator=torch.Generator().manual_seed(1)).shape == images.shape
print("ok")
"""


def test_an_image_op_is_one_row_plus_its_kernel():
    """Issue 34: a new op (a row appended to OP_TABLE and its kernel, nothing else) is applied, batched with the
    others, has its magnitude in both spaces and its cost, and a policy can draw it; the fused CPU kernels, which
    do not know it, step aside for batches holding it."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", ADD_ONE_ROW], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


def test_magnitude_spaces_are_the_op_tables_magnitude_column():
    for row in ops.OP_TABLE:
        for space, ranges in MAGNITUDE_SPACES.items():
            assert ranges[row.name] is row.magnitude(space)
        assert (row.magnitude("standard").kind == "none") == (not row.takes_param)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("op", OP_NAMES)
def test_gpu_kernels_match_torchvision_on_gpu(op, cifar_batch):
    images = cifar_batch[0].cuda()
    aux = torch.rand(images.shape[0], 2, generator=torch.Generator().manual_seed(0))
    if op in ("PadCrop", "Cutout"):
        params = torch.arange(images.shape[0]).float() % 5 * (4 if op == "Cutout" else 1)
        out = OPS[op](images, params.cuda(), aux.cuda())
        assert out.device == images.device
        assert torch.equal(out.cpu(), OPS[op](images.cpu(), params, aux))
        return
    params = torchvision_params(op, "wide", 31, images.shape[0], (32, 32))
    out = OPS[op](images, params.cuda())
    assert out.device == images.device
    expected = reference_batch(op, images, params)
    tolerance = GPU_GEOMETRIC_TOLERANCE if op in GEOMETRIC else 0.0
    assert fraction_differing(out, expected) <= tolerance


def test_solarize_threshold_edges_match_float_comparison():
    """The uint8 fast path (x >= ceil(t)) equals torchvision's float comparison, including t <= 0 and t > 255."""
    images = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(9, 1, 16, 16)
    thresholds = torch.tensor([-1.0, 0.0, 0.5, 17.0, 17.000002, 254.9, 255.0, 255.5, 300.0])
    expected = torch.where(images.float() >= thresholds.view(-1, 1, 1, 1), 255 - images, images)
    assert torch.equal(OPS["Solarize"](images, thresholds), expected)


def test_sharpness_division_by_multiply_and_shift_is_exact():
    """The blur's floor((2k + 13) / 26) is computed as a multiply and shift: exact on the whole range of k."""
    k = torch.arange(0, 13 * 255 + 1, dtype=torch.int32)
    numerator = 2 * k + 13
    assert int(numerator.max()) * ops._DIV26_MUL < 2**31  # no int32 overflow
    assert torch.equal(
        (numerator * ops._DIV26_MUL) >> ops._DIV26_SHIFT, torch.div(numerator, 26, rounding_mode="floor")
    )


def test_geometric_index_cache_gives_the_fresh_result(cifar_batch, monkeypatch):
    """Warps reuse cached index maps per (op, parameter); a full cache starts afresh. Results never change."""
    from policy_search.ops.image import geometry as ops_geometry

    images = cifar_batch[0][:48]
    generator = torch.Generator().manual_seed(7)
    kind = torch.randint(0, 5, (48,), generator=generator)
    params = torch.randint(-8, 9, (48,), generator=generator).float() * torch.tensor([0.1, 0.1, 3.0, 3.0, 15.0])[kind]
    fresh = ops_geometry.warp_by_index(
        images, ops_geometry.source_index(ops_geometry.op_matrices(kind, params, 32, 32), 32, 32)
    )
    monkeypatch.setattr(ops_geometry, "_CACHES", {})
    assert torch.equal(ops_geometry.warp_ops(images, kind, params), fresh)  # fills the cache
    assert torch.equal(ops_geometry.warp_ops(images, kind, params), fresh)  # served from it
    tiny = ops_geometry._IndexCache(32, 32, images.device, max_bytes=0)  # capacity 64 < distinct maps here
    monkeypatch.setattr(ops_geometry, "_CACHES", {(32, 32, images.device): tiny})
    for start in (0, 16, 8):  # the third call overflows the cache, which starts afresh; results stay the same
        many = params[start : start + 32] + torch.arange(32).float() * 0.001 * (kind[start : start + 32] < 2)
        expected = ops_geometry.warp_by_index(
            images[start : start + 32],
            ops_geometry.source_index(ops_geometry.op_matrices(kind[start : start + 32], many, 32, 32), 32, 32),
        )
        assert torch.equal(ops_geometry.warp_ops(images[start : start + 32], kind[start : start + 32], many), expected)


def test_every_op_structure_is_derived_from_the_one_op_table():
    table = ops.OP_TABLE
    assert ops.OP_NAMES == tuple(row.name for row in table) and set(ops.OPS) == set(ops.OP_ROWS)
    assert ops.OP_COST == {row.name: row.cost for row in table}
    assert ops.PARAMETER_FREE == {row.name for row in table if not row.takes_param}
    assert [row.fused_code for row in table] == list(range(len(table)))
    assert {row.group for row in table} == {"identity", "geometric", "table", "own"}
    assert ops.OP_ROWS["Rotate"].magnitude("standard") is ops.MAGNITUDE_SPACES["standard"]["Rotate"]
    assert ops.OPS["Cutout"].__name__ == "cutout" and "DeVries" in ops.OPS["Cutout"].__doc__
