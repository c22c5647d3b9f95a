"""The modality protocol: what a policy needs to know about the data it augments, once per modality.

A policy kind is written once over this protocol (``SubPolicies``, ``RandAugment``, the online learners) and
works on any modality registered here: images (uint8 tensors, ``policy_search.ops.image``) and text (a
``TokenBatch``, ``policy_search.ops.text``). A modality says how to recognise and check its batches, how big a
batch is, how one slot of per-sample ops becomes sampled params (drawing its own randoms: signs and positions
for images, a seed for text), and how params are applied; it also carries its op table's names and costs, its
magnitude spaces and the search defaults (the compact action's op set, op families, whether the compact action
has flip and crop heads). ``modality_of(batch)`` is the one place that looks at a batch's type; nothing else in
the library branches on the modality. Adding an op is one row of its modality's op table plus its kernel.

Why by hand: neither Kornia nor torchvision has text, and nlpaug has no batched per-sample params to replay; the
protocol is what lets one policy file format, one sampler and one replay serve both.

Random streams: each kind draws, per slot, what it decides (which sub-policy, op, mask), then the modality draws
the rest of the slot (``slot``) and, when all slots are drawn, anything per slot that it draws last (``cat``:
text's per-slot seeds). The order is part of a policy's behaviour: a seeded policy replays bit for bit.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor

from policy_search.ops import image as ops
from policy_search.ops import text as text_ops
from policy_search.ops.text import TokenBatch
from policy_search.policy.file import REFERENCE, TEXT_REFERENCE

__all__ = [
    "AugmentParams",
    "IMAGE",
    "IMAGE_FAMILIES",
    "MODALITIES",
    "Modality",
    "Params",
    "RANDAUGMENT_OPS",
    "TEXT",
    "TEXT_OPS",
    "TAGGING_OPS",
    "TextParams",
    "check_images",
    "check_tokens",
    "get_modality",
    "make_slot",
    "modality_of",
    "param_table",
]

# torchvision.transforms.v2.RandAugment / TrivialAugmentWide op set (Invert is in neither): the compact image
# action's ops.
RANDAUGMENT_OPS: tuple[str, ...] = (
    "Identity",
    "ShearX",
    "ShearY",
    "TranslateX",
    "TranslateY",
    "Rotate",
    "Brightness",
    "Color",
    "Contrast",
    "Sharpness",
    "Posterize",
    "Solarize",
    "AutoContrast",
    "Equalize",
)
IMAGE_FAMILIES: dict[str, tuple[str, ...]] = {
    "affine": ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"),
    "colour": ("Brightness", "Color", "Contrast", "Sharpness"),
    "tone": ("Posterize", "Solarize", "AutoContrast", "Equalize"),
}
# The ops every text task can use (the compact action's set); tagging adds the tagging ops (no-ops without tags).
TEXT_OPS: tuple[str, ...] = tuple(op.name for op in text_ops.OP_TABLE if op.name != "Identity" and not op.tagging)
TAGGING_OPS: tuple[str, ...] = (*TEXT_OPS, *(op.name for op in text_ops.OP_TABLE if op.tagging))


# ------------------------------------------------------------------------------------------------ sampled params
class _Slots:
    """Shape of sampled params: ``op_index`` is [S, B] (slots, samples) in every modality."""

    op_index: Tensor

    @property
    def num_slots(self) -> int:
        return int(self.op_index.shape[0])

    @property
    def batch_size(self) -> int:
        return int(self.op_index.shape[1])


@dataclass(frozen=True)
class AugmentParams(_Slots):
    """One sampled augmentation: S slots applied in order, each a per-sample op choice.

    op_index long[S,B] into ``ops.OP_NAMES``; param float32[S,B] physical parameter (torchvision units);
    aux float32[S,B,2] uniform position draws in [0,1) (PadCrop offset, Cutout centre); mask bool[S,B]
    (False: the sample passes this slot unchanged).
    """

    op_index: Tensor
    param: Tensor
    aux: Tensor
    mask: Tensor

    def to(self, device: torch.device | str) -> AugmentParams:
        # Blocking copies: a non_blocking device-to-host copy could be read before it lands.
        return AugmentParams(*(t.to(device) for t in (self.op_index, self.param, self.aux, self.mask)))

    @staticmethod
    def cat(parts: list[AugmentParams], batch_size: int, device: torch.device | str = "cpu") -> AugmentParams:
        if not parts:
            return AugmentParams(
                torch.zeros(0, batch_size, dtype=torch.long, device=device),
                torch.zeros(0, batch_size, device=device),
                torch.zeros(0, batch_size, 2, device=device),
                torch.zeros(0, batch_size, dtype=torch.bool, device=device),
            )
        return AugmentParams(*(torch.cat(ts) for ts in zip(*((p.op_index, p.param, p.aux, p.mask) for p in parts))))


@dataclass(frozen=True)
class TextParams(_Slots):
    """One sampled text augmentation: S slots applied in order, each a per-sample op choice.

    op_index long[S,B] into ``ops.text.TEXT_OP_NAMES``; rate float32[S,B] the op's rate (``MAX_RATE[op] * m``);
    seed long[S] the seed of each slot's uniform draws (``ops.text.apply_slots``); mask bool[S,B] (False: the
    sample passes this slot unchanged).
    """

    op_index: Tensor
    rate: Tensor
    seed: Tensor
    mask: Tensor

    def to(self, device: torch.device | str) -> TextParams:
        return TextParams(self.op_index.to(device), self.rate.to(device), self.seed, self.mask.to(device))

    @staticmethod
    def cat(parts: list[TextParams], batch_size: int, device: torch.device | str = "cpu") -> TextParams:
        if not parts:
            return TextParams(
                torch.zeros(0, batch_size, dtype=torch.long, device=device),
                torch.zeros(0, batch_size, device=device),
                torch.zeros(0, dtype=torch.long),
                torch.zeros(0, batch_size, dtype=torch.bool, device=device),
            )
        return TextParams(*(torch.cat(ts) for ts in zip(*((p.op_index, p.rate, p.seed, p.mask) for p in parts))))


Params = AugmentParams | TextParams


class TextSlot(NamedTuple):
    """One text slot before its seed is drawn (``Modality.slot`` on text; ``cat`` draws the seeds): per-sample op
    index, rate and mask, each [B]."""

    op_index: Tensor
    rate: Tensor
    mask: Tensor


# ------------------------------------------------------------------------------------------------------ checks
def check_tokens(tokens: Any) -> TokenBatch:
    """Validate a ``TokenBatch`` (ids long[B, L], lengths long[B], optional tags long[B, L])."""
    ids, lengths = tokens.ids, tokens.lengths
    if not isinstance(ids, Tensor) or ids.ndim != 2 or ids.dtype != torch.long:
        raise ValueError(f"TokenBatch.ids must be long[B, L], got {getattr(ids, 'dtype', type(ids).__name__)}")
    if not isinstance(lengths, Tensor) or lengths.shape != (ids.shape[0],) or lengths.dtype != torch.long:
        raise ValueError(
            f"TokenBatch.lengths must be long[{ids.shape[0]}], got {getattr(lengths, 'dtype', type(lengths).__name__)} "
            f"{tuple(getattr(lengths, 'shape', ()))}"
        )
    if len(lengths) and (int(lengths.min()) < 0 or int(lengths.max()) > ids.shape[1]):
        raise ValueError(
            f"TokenBatch.lengths must lie in [0, {ids.shape[1]}] (the width of ids), got {lengths.min().item()} to "
            f"{lengths.max().item()}"
        )
    if tokens.tags is not None and tokens.tags.shape != ids.shape:
        raise ValueError(
            f"TokenBatch.tags must have the shape of ids {tuple(ids.shape)}, got {tuple(tokens.tags.shape)}"
        )
    return tokens


def check_images(images: Any) -> tuple[Tensor, bool]:
    """Validate uint8 [C,H,W] or [B,C,H,W] (C in {1,3}); returns the batch view and whether it was one image."""
    if not isinstance(images, Tensor):
        raise TypeError(
            f"images must be a torch.Tensor uint8 [C,H,W] or [B,C,H,W], got {type(images).__name__}; "
            "convert PIL images with torchvision.transforms.v2.PILToTensor() first"
        )
    if images.dtype != torch.uint8:
        raise ValueError(
            f"images have dtype {images.dtype}; policies work on uint8 pixels in [0, 255]. Convert with "
            "torchvision.transforms.v2.ToDtype(torch.uint8, scale=True) "
            "(or (x * 255).round().to(torch.uint8)) "
            "before the policy and normalize after it"
        )
    if images.ndim not in (3, 4):
        raise ValueError(f"images have shape {tuple(images.shape)}; expected [C,H,W] (one image) or [B,C,H,W]")
    if images.shape[-1] < 1 or images.shape[-2] < 1:
        raise ValueError(f"images have shape {tuple(images.shape)}: height and width must be at least 1 pixel")
    if images.shape[-3] not in (1, 3):
        raise ValueError(
            f"images have shape {tuple(images.shape)} with {images.shape[-3]} channels at dim -3; "
            "expected 1 or 3 channels first (a channels-last [H,W,C] image needs .permute(2, 0, 1))"
        )
    return (images.unsqueeze(0), True) if images.ndim == 3 else (images, False)


# ------------------------------------------------------------------------------------------------ image slots
@functools.lru_cache(maxsize=64)
def param_table(space: str, image_size: tuple[int, int], num_bins: int) -> Tensor:
    """float32[len(OP_NAMES), num_bins, 2]: the physical parameter of every (op, bin, sign), sign -1 at index 0.

    Binned policies look parameters up here (one gather) instead of calling ``ops.magnitude_to_param`` per op
    and batch; the entries come from that function, so the values are the same bit for bit.
    """
    magnitude = torch.arange(num_bins, dtype=torch.float64) / (num_bins - 1)
    rows = [
        torch.stack(
            [
                ops.magnitude_to_param(
                    op,
                    magnitude,
                    torch.full((num_bins,), float(sign)),
                    space=space,
                    image_size=image_size,
                    num_bins=num_bins,
                ).to(torch.float32)
                for sign in (-1, 1)
            ],
            dim=-1,
        )
        for op in ops.OP_NAMES
    ]
    return torch.stack(rows)


def make_slot(
    op_index: Tensor,
    magnitude: Tensor,
    sign: Tensor,
    mask: Tensor,
    space: str,
    image_size: tuple[int, int],
    g: torch.Generator,
    num_bins: int | None = None,
) -> AugmentParams:
    """One image slot from per-sample op indices [B], normalized magnitudes [B], signs (+1/-1) [B] and masks [B].

    Draws the position randoms from ``g`` (always, so the stream does not depend on which ops were picked).
    With ``num_bins`` the magnitudes are bins and the parameter is torchvision's table entry bit for bit (one
    lookup); without, magnitudes are continuous and mapped op by op (a loop over the ops present, not samples).
    """
    aux = torch.rand(op_index.shape[0], 2, generator=g, device=g.device)
    if num_bins is not None:
        table = param_table(space, tuple(image_size), num_bins).to(op_index.device)
        bins = (magnitude.double() * (num_bins - 1)).round_().long().clamp_(0, num_bins - 1)
        param = table[op_index, bins, (sign > 0).long()]
    else:
        param = torch.zeros(op_index.shape[0], dtype=torch.float32, device=op_index.device)
        for i in torch.unique(op_index).tolist():
            sel = op_index == i
            param[sel] = ops.magnitude_to_param(
                ops.OP_NAMES[i], magnitude[sel], sign[sel], space=space, image_size=image_size
            ).to(torch.float32)
    # Identity does no work; masking it lets apply_ops skip those samples.
    mask = mask & (op_index != ops.OP_NAMES.index("Identity"))
    return AugmentParams(op_index[None], param[None], aux[None], mask[None])


def _rewrap(out: Tensor, like: Tensor) -> Tensor:
    # Keep torchvision's tv_tensors.Image type so the policy composes with other v2 transforms.
    if type(like) is not Tensor:
        try:
            from torchvision import tv_tensors

            if isinstance(like, tv_tensors.TVTensor):
                return tv_tensors.wrap(out, like=like)
        except ImportError:
            pass
    return out


# ---------------------------------------------------------------------------------------------- the protocol
class Modality(abc.ABC):
    """One kind of data a policy can augment (see the module docstring). Instances are registered once in
    ``MODALITIES``; kinds look theirs up by name (``get_modality``) or by batch (``modality_of``)."""

    name: ClassVar[str]
    op_names: ClassVar[tuple[str, ...]]  # the op table's names; sampled op_index values index this
    op_cost: ClassVar[Mapping[str, float]]
    spaces: ClassVar[tuple[str, ...]]  # magnitude spaces its policies may use; the first is the default
    reference: ClassVar[str]  # magnitude_semantics.reference of its policy files
    params_type: ClassVar[Any]  # AugmentParams, TextParams: .cat(parts, batch_size, device)
    inputs: ClassVar[str]  # what a batch of it is called in messages
    op_word: ClassVar[str]  # what one of its ops is called in messages ("op", "text op")
    hint: ClassVar[str]  # which policies to use for it, for messages
    search_ops: ClassVar[tuple[str, ...]]  # the compact action's op set
    tagging_ops: ClassVar[tuple[str, ...]] = ()  # added to it (and to the families, one each) on a tagging task
    families: ClassVar[Mapping[str, tuple[str, ...]]]  # op families: on/off heads of the families action
    search_action: ClassVar[str]  # train_agent's default action kind (--action-kind auto): the measured best
    geometric_heads: ClassVar[bool]  # the compact action has flip and crop heads
    identity: ClassVar[int]  # op_index of Identity
    size_rank: ClassVar[int]  # len(size(view)): what sample_batch's size argument tells a modality-free kind
    binned: ClassVar[bool]  # its magnitudes map through a bin table (images: torchvision's); text rates are linear
    online_ops: ClassVar[tuple[str, ...]]  # what the online rules (entropy-adaptive, online-augnet) draw from
    bases: ClassVar[tuple[str, ...]]  # per-sample base ops the online rules may apply before their op (flip, crop)
    signed: ClassVar[bool]  # its ops take a random sign per sample
    magnitude_free: ClassVar[frozenset[str]] = frozenset()  # ops that take no magnitude (autocontrast, equalize)

    def __init__(self) -> None:
        # The policy kinds built over this protocol, by role ("subpolicies", "randaugment"), filled in by the
        # modules that define them (register_role); actions and presets build policies through it.
        self.kinds: dict[str, type] = {}

    def space(self, requested: str | None = None) -> str:
        """``requested`` if it is one of this modality's magnitude spaces, else its default."""
        return requested if requested in self.spaces else self.spaces[0]

    @abc.abstractmethod
    def physical(self, op: str, magnitude: float, size: tuple[int, int] | None, num_bins: int) -> float:
        """``op``'s physical parameter at a normalized ``magnitude`` (images: in the op's units at ``size``, positive
        sign, in the standard space; text: its rate), for search logs."""

    @abc.abstractmethod
    def accepts(self, batch: Any) -> bool:
        """Whether ``batch`` is of this modality (the only type test in the library)."""

    @abc.abstractmethod
    def check(self, batch: Any) -> tuple[Any, bool]:
        """The validated batch view and whether ``batch`` was one unbatched sample; a one-line error otherwise."""

    @abc.abstractmethod
    def size(self, view: Any) -> tuple[int, ...]:
        """The per-sample size a kind samples for: (H, W) for images, (L,) for text."""

    @abc.abstractmethod
    def count(self, view: Any) -> int:
        """Samples in the batch."""

    @abc.abstractmethod
    def device(self, view: Any) -> torch.device:
        """Where the batch lives (sampled params are moved there)."""

    @abc.abstractmethod
    def slot(
        self,
        op_index: Tensor,
        magnitude: Tensor,
        mask: Tensor,
        g: torch.Generator,
        *,
        space: str,
        size: tuple[int, ...],
        num_bins: int | None = None,
        sign: Tensor | None = None,
    ) -> Any:
        """One slot from per-sample ``op_index`` [B] (into ``op_names``), normalized ``magnitude`` [B] and ``mask``
        [B], for ``cat``; draws the slot's own randoms from ``g`` (images: a sign unless given, positions; text
        returns a ``TextSlot`` whose seed ``cat`` draws)."""

    @abc.abstractmethod
    def cat(self, slots: Sequence[Any], batch_size: int, g: torch.Generator | None = None) -> Any:
        """Slots in order, as one params object (text draws each slot's seed here, from ``g``)."""

    @abc.abstractmethod
    def apply(self, view: Any, params: Any) -> Any:
        """``params`` applied to the validated batch view (same batch size; no further checks)."""

    def restore(self, out: Any, original: Any, single: bool) -> Any:
        """The output in the form the input came in (one sample unbatched, torchvision's tensor types kept)."""
        return out

    def check_params(self, params: Any) -> None:
        """Params handed in from outside (``Policy.apply``): each field a tensor of the shape its slots and samples
        say (``[S, B]``, ``aux`` ``[S, B, 2]``, ``seed`` ``[S]``); one line naming the field otherwise."""
        slots, batch = params.num_slots, params.batch_size
        for name in self.params_type.__dataclass_fields__:
            value = getattr(params, name)
            want = {"aux": (slots, batch, 2), "seed": (slots,)}.get(name, (slots, batch))
            if not isinstance(value, Tensor) or tuple(value.shape) != want:
                got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
                raise ValueError(f"params.{name} must have shape {list(want)} to match op_index, got {got}")

    def register_role(self, role: str, cls: type) -> type:
        """Record ``cls`` as this modality's policy kind for ``role`` (``subpolicies``, ``randaugment``)."""
        self.kinds[role] = cls
        return cls


class _Image(Modality):
    name = "image"
    op_names = ops.OP_NAMES
    op_cost = ops.OP_COST
    spaces = tuple(ops.MAGNITUDE_SPACES)
    reference = REFERENCE
    params_type = AugmentParams
    inputs = "images"
    op_word = "op"
    hint = "use an image policy (flip-crop, randaugment, ...)"
    search_ops = RANDAUGMENT_OPS
    families = IMAGE_FAMILIES
    search_action = "compact"  # issue 31's rounds 6-7: the incumbent race over the compact action met its goal
    geometric_heads = True
    identity = ops.OP_NAMES.index("Identity")
    size_rank = 2
    binned = True
    online_ops = RANDAUGMENT_OPS
    bases = ("HorizontalFlip", "PadCrop")
    signed = True
    magnitude_free = ops.PARAMETER_FREE

    def physical(self, op: str, magnitude: float, size: tuple[int, int] | None, num_bins: int) -> float:
        value = ops.magnitude_to_param(
            op, torch.tensor([magnitude]), torch.tensor([1.0]), "standard", size or (32, 32), num_bins=num_bins
        )
        return round(float(value[0]), 6)

    def accepts(self, batch: Any) -> bool:
        return isinstance(batch, Tensor)

    def check(self, batch: Any) -> tuple[Tensor, bool]:
        return check_images(batch)

    def size(self, view: Tensor) -> tuple[int, int]:
        return (int(view.shape[-2]), int(view.shape[-1]))

    def count(self, view: Tensor) -> int:
        return int(view.shape[0])

    def device(self, view: Tensor) -> torch.device:
        return view.device

    def slot(self, op_index, magnitude, mask, g, *, space, size, num_bins=None, sign=None) -> AugmentParams:
        if sign is None:
            sign = torch.randint(0, 2, (op_index.shape[0],), generator=g, device=g.device).float() * 2 - 1
        return make_slot(op_index, magnitude, sign, mask, space, (int(size[0]), int(size[1])), g, num_bins)

    def cat(self, slots, batch_size, g=None) -> AugmentParams:
        device = slots[0].op_index.device if slots else (g.device if g is not None else "cpu")
        return slots[0] if len(slots) == 1 else AugmentParams.cat(list(slots), batch_size, device)

    def apply(self, view: Tensor, params: AugmentParams) -> Tensor:
        params = params.to(view.device)
        return ops.run_slots(view, params.op_index, params.param, params.aux, params.mask)

    def restore(self, out: Tensor, original: Any, single: bool) -> Tensor:
        return _rewrap(out[0] if single else out, original)


class _Text(Modality):
    name = "text"
    op_names = text_ops.TEXT_OP_NAMES
    op_cost = text_ops.OP_COST
    spaces = ("text",)
    reference = TEXT_REFERENCE
    params_type = TextParams
    inputs = "a TokenBatch (text)"
    op_word = "text op"
    hint = "use a text policy (eda, text-progress-heuristic, or a policy searched on a text task)"
    search_ops = TEXT_OPS
    tagging_ops = tuple(op for op in TAGGING_OPS if op not in TEXT_OPS)
    families = {op: (op,) for op in TEXT_OPS}
    search_action = "families"  # the compact action over all text ops returned no augmentation in both text searches
    geometric_heads = False
    identity = text_ops.TEXT_OP_NAMES.index("Identity")
    size_rank = 1
    binned = False
    online_ops = ("SynonymReplacement", "RandomInsertion", "RandomSwap", "RandomDeletion")  # EDA's four, its order
    bases = ()
    signed = False

    def __init__(self) -> None:
        super().__init__()
        self._max_rate = torch.tensor([text_ops.MAX_RATE[n] for n in self.op_names])

    def physical(self, op: str, magnitude: float, size: tuple[int, int] | None, num_bins: int) -> float:
        return text_ops.MAX_RATE[op] * magnitude

    def accepts(self, batch: Any) -> bool:
        return isinstance(batch, TokenBatch)

    def check(self, batch: Any) -> tuple[TokenBatch, bool]:
        return check_tokens(batch), False

    def size(self, view: TokenBatch) -> tuple[int]:
        return (int(view.ids.shape[1]),)

    def count(self, view: TokenBatch) -> int:
        return len(view)

    def device(self, view: TokenBatch) -> torch.device:
        return view.device

    def slot(self, op_index, magnitude, mask, g, *, space, size, num_bins=None, sign=None) -> TextSlot:
        # A normalized magnitude m is the rate MAX_RATE[op] * m (float32, as the kernels compare it). A slot has no
        # seed yet: the seeds of all slots are drawn in cat, after every slot's draws.
        rate = self._max_rate.to(op_index.device)[op_index] * magnitude.to(torch.float32)
        return TextSlot(op_index, rate, mask)

    def cat(self, slots, batch_size, g=None) -> TextParams:
        if g is None:
            raise ValueError("text slots need the generator that drew them (their seeds are drawn last)")
        if not slots:
            return TextParams.cat([], batch_size, g.device)
        seeds = torch.randint(0, 2**62, (len(slots),), generator=g, device=g.device).cpu()
        op_index, rate, mask = (torch.stack(fields) for fields in zip(*slots, strict=True))
        return TextParams(op_index, rate, seeds, mask)

    def apply(self, view: TokenBatch, params: TextParams) -> TokenBatch:
        if params.num_slots == 0:
            return view
        p = params.to(view.device)
        return text_ops.apply_slots(view, p.op_index, p.rate, p.seed, p.mask)


IMAGE: Modality = _Image()
TEXT: Modality = _Text()
MODALITIES: dict[str, Modality] = {m.name: m for m in (IMAGE, TEXT)}  # what a policy, action spec or task uses


def get_modality(name: str) -> Modality:
    """The registered modality ``name``; a one-line error naming the known ones otherwise."""
    if name not in MODALITIES:
        raise ValueError(f"unknown modality {name!r}; choose one of {', '.join(MODALITIES)}")
    return MODALITIES[name]


def modality_of(batch: Any) -> Modality:
    """The modality whose batches ``batch`` is; images when none accepts it (their check then says what is
    wrong with it)."""
    for modality in MODALITIES.values():
        if modality.accepts(batch):
            return modality
    return IMAGE


def params_modality(params: Any) -> Modality | None:
    """The modality whose params ``params`` are (None when it is not params of any)."""
    for modality in MODALITIES.values():
        if isinstance(params, modality.params_type):
            return modality
    return None


def modality_of_space(space: str) -> Modality | None:
    """The modality whose magnitude space ``space`` is (None for ``mixed``: a container's)."""
    for modality in MODALITIES.values():
        if space in modality.spaces:
            return modality
    return None


def modality_of_size(size: tuple[int, ...]) -> Modality:
    """The modality whose per-sample size (``Modality.size``) has ``len(size)`` entries: how a kind that takes
    either modality (the online learners) knows which one ``sample_batch`` is drawing for."""
    for modality in MODALITIES.values():
        if modality.size_rank == len(size):
            return modality
    raise ValueError(f"no modality has per-sample size {tuple(size)}")
