"""Policy machinery shared by every kind: the base module, sampled params, the kind registry, image checks.

The public API is re-exported by ``policy_search.policy`` (see its docstring for provenance and usage); the
kinds themselves live in ``policy_search.policy.kinds``. A new kind (e.g. a frozen controller) subclasses
``Policy``, implements ``sample_batch``, ``op_distribution``, ``body`` and ``from_body``, and calls
``register_kind(name, cls)``; everything else (forward, replay, save, load, cost) comes from the base. Kinds
that replace samples or change labels (synthetic data) are the other family, ``BatchTransform``; both share the
file format through ``Augmentation``, and ``augment_batch`` applies either to a labelled batch.

Default randomness: with no generator passed, each policy uses its own ``torch.Generator``, created on first
use in each process and seeded from OS entropy, or from ``policy.manual_seed(seed)`` (offset by the worker id
inside DataLoader workers). The global torch RNG is never read or advanced.
"""

from __future__ import annotations

import abc
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from policy_search.ops.text import TokenBatch
from policy_search.policy.file import (
    PolicyConfigError,
    as_choice,
    as_int,
    as_number,
    as_object,
    check_image_spec,
    check_semantics,
    default_provenance,
    get,
    join,
    write_document,
)
from policy_search.policy.modality import (
    MODALITIES,
    AugmentParams,
    Modality,
    Params,
    TextParams,
    check_images,
    check_tokens,
    get_modality,
    make_slot,
    modality_of,
    modality_of_space,
    param_table,
    params_modality,
)

__all__ = [
    "AugmentParams",
    "Augmentation",
    "BatchTransform",
    "ImageSpec",
    "KINDS",
    "OpEntry",
    "Policy",
    "SubPolicy",
    "TextParams",
    "augment_batch",
    "check_images",
    "check_tokens",
    "param_table",
    "TokenBatch",
    "make_slot",
    "policy_from_dict",
    "register_kind",
]

OpEntry = tuple[str, float, float]  # (op name, probability in [0, 1], normalized magnitude in [0, 1])
SubPolicy = list[OpEntry]

KINDS: dict[str, type[Augmentation]] = {}
_OP_COST: dict[str, float] = {k: v for m in MODALITIES.values() for k, v in m.op_cost.items()}  # every op's cost
# Kinds defined in modules that sit above this one (they need the env's action spec, generators, ...): imported
# on first use so `load_policy` finds them without this module importing them eagerly.
LAZY_KINDS: dict[str, str] = {
    "controller": "policy_search.policy.controller",
    "progress-heuristic": "policy_search.policy.heuristic",
    "online-augnet": "policy_search.policy.online",
    "entropy-adaptive": "policy_search.policy.online",
    "synthetic": "policy_search.generative.synthetic",
    "synthetic-text": "policy_search.generative.text_lm",
}


def ensure_kind(name: str) -> None:
    """Import the module that registers kind ``name`` if it is a known lazily-registered kind."""
    if name not in KINDS and name in LAZY_KINDS:
        import importlib

        importlib.import_module(LAZY_KINDS[name])


def build_kind(name: str, *args: Any, **kwargs: Any) -> Augmentation:
    """A new policy of kind ``name``, importing the module that registers it first if it sits in a higher layer
    (how lower layers build, say, the synthetic-data op without importing it)."""
    ensure_kind(name)
    if name not in KINDS:
        raise ValueError(f"unknown policy kind {name!r}; known: {', '.join(sorted(set(KINDS) | set(LAZY_KINDS)))}")
    return KINDS[name](*args, **kwargs)


def register_kind(name: str, cls: type[Augmentation]) -> type[Augmentation]:
    """Make ``cls`` loadable from policy files whose ``kind`` is ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, (Policy, BatchTransform))):
        raise TypeError(f"register_kind({name!r}, ...) needs a Policy or BatchTransform subclass, got {cls!r}")
    if name in KINDS and KINDS[name] is not cls:
        raise ValueError(f"policy kind {name!r} is already registered to {KINDS[name].__name__}")
    cls.kind = name
    KINDS[name] = cls
    return cls


@dataclass(frozen=True)
class ImageSpec:
    """The images a policy was searched on (informational: policies run on any size, 1 or 3 channels)."""

    channels: int = 3
    height: int = 32
    width: int = 32

    def to_dict(self) -> dict[str, int]:
        return {"channels": self.channels, "height": self.height, "width": self.width}

    @classmethod
    def from_dict(cls, value: Any, where: str = "image_spec") -> ImageSpec:
        return cls(**check_image_spec(value, where))


def cat_params(parts: list[Params], batch_size: int, device: torch.device | str = "cpu") -> Params:
    """Slots of ``parts`` in order (a Sequence); empty parts (no slots) fit either modality."""
    parts = [p for p in parts if p.num_slots]
    kinds = {type(p) for p in parts}
    if len(kinds) > 1:
        raise ValueError("a Sequence mixes image and text policies; its policies must all work on one modality")
    if not parts:
        return AugmentParams.cat([], batch_size, device)
    return type(parts[0]).cat(parts, batch_size, device)  # type: ignore[arg-type]


class Augmentation(nn.Module, abc.ABC):
    """What a policy file holds, in one of two families that share the file envelope, the kind registry, seeding
    and cost accounting:

    - ``Policy``: per-sample pixel ops; ``policy(images, generator, progress) -> images`` (one tensor, always).
    - ``BatchTransform``: transforms of a labelled batch that replace samples or change labels (synthetic data;
      later mixing ops such as MixUp); ``transform(images, labels, generator=..., progress=...) -> (images,
      labels)`` (one pair, always).

    ``augment_batch`` applies either to a labelled batch, which is how training loops call them.
    """

    kind: ClassVar[str] = ""
    container: ClassVar[bool] = False  # holds other policies (its magnitude space is that of its children)
    needs_num_bins: ClassVar[bool] = False  # magnitude_semantics.num_bins must be an integer in its files
    # docs/ARCHITECTURE.md "Policies that watch training": kinds that adapt to training state set this and
    # implement observe()/reset(). needs_labels: applied through augment_batch (it replaces samples or labels).
    observes_training: ClassVar[bool] = False
    needs_labels: ClassVar[bool] = False
    # Kinds that learn inside the run, per batch (policy/online.py) set this and implement the batch hooks below;
    # ChildRun.train calls them (docs/ARCHITECTURE.md "Policies that learn inside the run").
    observes_batches: ClassVar[bool] = False
    validation_size: int = 0  # validation samples a batch learner wants per validate() call
    # What the policy's ops take: "image" (uint8 images) or "text" (a TokenBatch); None for containers that hold
    # nothing, which pass either through unchanged.
    modality: ClassVar[str | None] = "image"
    provenance: dict[str, Any]  # set by load_policy / save; plain data, never a module or buffer

    def __init__(self, *, space: str = "standard", image_spec: ImageSpec | None = None) -> None:
        super().__init__()
        self._init_fields(as_choice(space, "space", self.allowed_spaces(), "magnitude space"), image_spec)

    def _init_fields(self, space: str, image_spec: ImageSpec | None) -> None:
        """The fields every kind has, from values already known to be valid (``__init__`` checks them first;
        in-process builders such as ``SubPolicies.trusted`` call this after ``nn.Module.__init__``)."""
        self.space = space
        self.image_spec = image_spec if image_spec is not None else ImageSpec()
        self._seed: int | None = None
        self._generator: torch.Generator | None = None
        self._generator_pid: int | None = None

    @classmethod
    def _bare(cls, space: str, image_spec: ImageSpec | None = None):
        """An instance with the common fields set and nothing checked: the start of a trusted in-process build."""
        policy = cls.__new__(cls)
        nn.Module.__init__(policy)
        policy._init_fields(space, image_spec)
        return policy

    # --- to implement per kind (abstract: a kind missing one fails at construction, not at first use) ---------
    @abc.abstractmethod
    def op_distribution(self, progress: float | None = None) -> dict[str, float]:
        """Expected number of applications per image of each op (masked-out draws excluded)."""

    @abc.abstractmethod
    def body(self) -> dict[str, Any]:
        """The kind's own fields, as plain JSON data (the file's ``body``)."""

    @classmethod
    @abc.abstractmethod
    def from_body(
        cls, body: dict[str, Any], semantics: dict[str, Any], image_spec: ImageSpec, where: str
    ) -> Augmentation:
        """Build from a validated file ``body``; errors name the field under ``where``."""

    def num_bins(self) -> int | None:
        return None

    # --- shared ----------------------------------------------------------------------------------------------
    @classmethod
    def allowed_spaces(cls) -> tuple[str, ...]:
        """The magnitude spaces of the kind's modality; containers (and modality-free kinds) take every
        modality's, containers also ``mixed``."""
        modality = cls.__dict__.get("modality", cls.modality)
        if cls.container or not isinstance(modality, str):
            every = tuple(space for m in MODALITIES.values() for space in m.spaces)
            return every + (("mixed",) if cls.container else ())
        return get_modality(modality).spaces

    def manual_seed(self, seed: int) -> Augmentation:
        """Seed the policy's own generator (used when no generator is passed). Returns self."""
        self._seed = as_int(seed, "seed", low=0)
        self._generator = None
        return self

    def default_generator(self) -> torch.Generator:
        # Created per process: a generator copied into forked DataLoader workers would repeat the same draws.
        pid = os.getpid()
        if self._generator is None or self._generator_pid != pid:
            info = torch.utils.data.get_worker_info()
            if self._seed is None:
                seed = secrets.randbits(63)
            else:
                seed = self._seed if info is None else (self._seed * 1_000_003 + info.id + 1) % 2**63
            self._generator = torch.Generator().manual_seed(seed)
            self._generator_pid = pid
        return self._generator

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        state["_generator"] = None
        return state

    def observe(self, features: Mapping[str, float]) -> None:
        """Training-state features (keys: ``policy_search.child.run.FEATURE_NAMES``) after each evaluation."""

    def attach(self, model: nn.Module) -> None:
        """Batch learners: the model being trained, once per run (to hook its output layer)."""

    def before_batch(self, ids: Tensor | None = None) -> None:
        """Batch learners: the ids of the next batch's samples (keys of per-sample memory), or None."""

    def after_batch(
        self, ids: Tensor | None = None, logits: Tensor | None = None, targets: Tensor | None = None, mask=None
    ) -> None:
        """Batch learners: after the optimizer step, the batch's ids and the logits it trained on (``mask``: the
        scored positions of ``[B, L]`` logits, for taggers)."""

    def needs_validation(self) -> bool:
        """Batch learners: whether the loop should call ``validate`` now."""
        return False

    def validate(self, loss: Tensor) -> None:
        """Batch learners: the mean loss of ``validation_size`` validation samples, with its graph."""

    def validate_batch(self, predict: Any, inputs: Any, labels: Tensor) -> int:
        """Batch learners: a validation minibatch (``validation_size`` samples) and ``predict(inputs) -> logits``
        (or ``(logits, targets, mask)``) that runs the model on it, in eval mode with gradients on. Returns how many
        sample-forward passes it ran (the loop counts them as cost)."""
        return 0

    def reset(self, seed: int | None = None) -> None:
        """Forget observed training state (start of a new training run). ``seed``: the run's seed, for kinds
        that draw their own decisions (a sampling controller), so that each run draws afresh and a run replays."""

    def expected_cost(self, progress: float | None = None) -> float:
        """Expected relative cost per image (sum of OP_COST over the expected op applications)."""
        return float(sum(n * _OP_COST[op] for op, n in self.op_distribution(progress).items()))

    def semantics(self) -> dict[str, Any]:
        reference = (modality_of_space(self.space) or MODALITIES["image"]).reference
        return {"space": self.space, "reference": reference, "num_bins": self.num_bins()}

    def to_dict(self) -> dict[str, Any]:
        """``{"kind", "magnitude_semantics", "body"}`` (the file envelope adds format, image spec, provenance)."""
        return {"kind": self.kind, "magnitude_semantics": self.semantics(), "body": self.body()}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any], image_spec: ImageSpec | None = None, where: str = "") -> Augmentation:
        return policy_from_dict(value, image_spec, where)

    def save(self, path: str | os.PathLike[str], provenance: Mapping[str, Any] | None = None) -> Path:
        """Write the versioned policy file (docs/POLICIES.md). ``provenance`` keys override the defaults."""
        from policy_search._version import __version__

        merged = default_provenance(__version__)
        merged.update(provenance or {})
        doc = {
            "format": "policy-search/policy",
            "version": 1,
            **self.to_dict(),
            "image_spec": self.image_spec.to_dict(),
            "provenance": merged,
        }
        return write_document(path, doc)

    def describe(self, indent: str = "") -> str:
        return f"{indent}{type(self).__name__}({self.body()!r})"

    def __repr__(self) -> str:
        return self.describe()


class Policy(Augmentation):
    """Base of every per-sample policy kind. Subclasses implement sample_batch, op_distribution, body and
    from_body; ``forward`` returns the augmented images, one tensor."""

    @abc.abstractmethod
    def sample_batch(
        self, batch_size: int, image_size: tuple[int, ...], g: torch.Generator, progress: float | None
    ) -> Any:
        """Per-sample draws for ``batch_size`` samples of per-sample size ``image_size`` ((H, W) for images,
        (L,) for text: ``Modality.size``), on ``g.device``; the modality's params (``AugmentParams``,
        ``TextParams``)."""

    def sample(self, images: Any, generator: torch.Generator | None = None, progress: float | None = None) -> Any:
        """Draw per-sample params for uint8 images [C,H,W] or [B,C,H,W] (``AugmentParams``), or for a
        ``TokenBatch`` (``TextParams``); returned on the input's device."""
        modality = self._modality_for(images)
        view, _ = modality.check(images)
        return self._sample_checked(modality, view, generator, progress)

    def _modality_for(self, batch: Any) -> Modality:
        """The modality of ``batch``, which must be the one this policy augments (containers take either)."""
        given = modality_of(batch)
        if self.modality is not None and self.modality != given.name:
            raise ValueError(
                f"{type(self).__name__} augments {self.modality}, but it was given {given.inputs}; {given.hint}"
            )
        return given

    def _sample_checked(self, modality: Modality, view: Any, generator: Any, progress: float | None) -> Any:
        """``sample`` on an already checked batch view."""
        if progress is not None:
            progress = as_number(progress, "progress", 0.0, 1.0)
        g = self._generator_for(generator)
        params = self.sample_batch(modality.count(view), modality.size(view), g, progress)
        if params.num_slots and not isinstance(params, modality.params_type):
            raise ValueError(
                f"{type(self).__name__} holds {params_modality(params).name} ops and cannot augment "  # type: ignore[union-attr]
                f"{modality.inputs}; {modality.hint}"
            )
        return params.to(modality.device(view))

    def _generator_for(self, generator: Any) -> torch.Generator:
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generator must be a torch.Generator or None, got {type(generator).__name__} "
                "(pass labels outside the policy: policy(images), not policy(images, labels))"
            )
        return generator if generator is not None else self.default_generator()

    def apply(self, images: Any, params: Any) -> Any:  # type: ignore[override]  # nn.Module.apply
        """Apply sampled ``params`` to uint8 images [C,H,W] or [B,C,H,W] (same shape, dtype and device out), or
        ``TextParams`` to a ``TokenBatch`` (a new batch: lengths and tags follow the ops)."""
        modality = modality_of(images)
        view, single = modality.check(images)
        if isinstance(params, modality.params_type):  # params from outside: their shapes, once
            modality.check_params(params)
        return self._apply_checked(modality, images, view, single, params)

    def _apply_checked(self, modality: Modality, images: Any, view: Any, single: bool, params: Any) -> Any:
        """``apply`` on an already checked batch view (one validation per batch)."""
        if not isinstance(params, modality.params_type):
            other = params_modality(params)
            if other is None:
                raise TypeError(f"params must come from policy.sample(...), got {type(params).__name__}")
            if params.num_slots:
                raise ValueError(
                    f"{type(self).__name__} holds {other.name} ops and cannot augment {modality.inputs}; "
                    f"{modality.hint}"
                )
            params = modality.params_type.cat([], modality.count(view), modality.device(view))  # no slots
        if params.batch_size != modality.count(view):
            raise ValueError(
                f"params were sampled for {params.batch_size} samples but {modality.count(view)} were given"
            )
        return modality.restore(modality.apply(view, params), images, single)

    def forward(
        self,
        images: Any,
        generator: torch.Generator | None = None,
        progress: float | None = None,
        params: Any = None,
    ) -> Any:
        """Augment uint8 [C,H,W] or [B,C,H,W] (or a ``TokenBatch``): apply(sample(...)), or replay ``params``.
        The batch is checked once (a subclass that overrides ``sample`` or ``apply`` gets them called instead)."""
        if type(self).sample is not Policy.sample or type(self).apply is not Policy.apply:
            return self.apply(images, self.sample(images, generator, progress) if params is None else params)
        modality = self._modality_for(images) if params is None else modality_of(images)
        view, single = modality.check(images)
        if params is None:
            params = self._sample_checked(modality, view, generator, progress)
        return self._apply_checked(modality, images, view, single, params)

    def batch_stage(self) -> BatchTransform | None:
        """A batch transform to apply after this policy's images (``augment_batch`` does): a controller whose
        actions include a synthetic-data ratio returns its current one; plain policies have none."""
        return None


class BatchTransform(Augmentation):
    """Base of the kinds that transform a labelled batch as a whole (replace samples, change labels);
    ``forward(images, labels, generator=..., progress=...)`` returns ``(images, labels)``, one pair."""

    needs_labels: ClassVar[bool] = True

    @abc.abstractmethod
    def forward(
        self,
        images: Tensor,
        labels: Tensor,
        *,
        generator: torch.Generator | None = None,
        progress: float | None = None,
    ) -> tuple[Tensor, Tensor]:
        """uint8 [B,C,H,W] and int64 [B] labels in, the transformed pair out."""


def augment_batch(
    augmentation: Augmentation,
    images: Tensor,
    labels: Tensor,
    generator: torch.Generator | None = None,
    progress: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Apply a policy or a batch transform to a labelled batch: what training loops call."""
    if isinstance(augmentation, BatchTransform):
        return augmentation(images, labels, generator=generator, progress=progress)
    if not isinstance(augmentation, Policy):
        raise TypeError(f"expected a Policy or a BatchTransform, got {type(augmentation).__name__}")
    out = augmentation(images, generator, progress)
    stage = augmentation.batch_stage()
    if stage is None:
        return out, labels
    return stage(out, labels, generator=generator, progress=progress)


def policy_from_dict(value: Any, image_spec: ImageSpec | None = None, where: str = "") -> Augmentation:
    """Build a policy from ``{"kind", "magnitude_semantics", "body"}``; errors name the field under ``where``."""
    obj = as_object(value, where)
    kind_name = get(obj, "kind", where)
    if isinstance(kind_name, str):
        ensure_kind(kind_name)
    kind = as_choice(kind_name, join(where, "kind"), KINDS, "policy kind")
    cls = KINDS[kind]
    semantics = check_semantics(
        get(obj, "magnitude_semantics", where), join(where, "magnitude_semantics"), cls.allowed_spaces()
    )
    if cls.needs_num_bins and semantics["num_bins"] is None:
        raise PolicyConfigError(
            join(join(where, "magnitude_semantics"), "num_bins"),
            f"kind {kind!r} needs an integer number of bins, got null",
        )
    body = as_object(get(obj, "body", where), join(where, "body"))
    try:
        policy = cls.from_body(body, semantics, image_spec or ImageSpec(), join(where, "body"))
    except PolicyConfigError as exc:
        # Constructors name their own arguments ("subpolicies[3][1].probability"); place them under this body.
        if exc.field.startswith(join(where, "body")):
            raise
        raise PolicyConfigError(join(join(where, "body"), exc.field), exc.reason) from None
    if policy.space != semantics["space"]:
        raise PolicyConfigError(
            join(join(where, "magnitude_semantics"), "space"),
            f"{semantics['space']!r} does not match the body, which uses {policy.space!r}",
        )
    return policy
