"""The ``synthetic`` kind: replace a fraction r of each batch with generated images of the same classes.

For a random r-fraction of the samples (a per-sample mask drawn from the caller's ``torch.Generator``) the image
is replaced by one generated conditioned on that sample's label, so the label is still right and the class mix of
the batch is unchanged. The generators are the class-conditional VAE (Kingma & Welling, 2014) and DCGAN
(Radford et al., 2016; conditioning after Mirza & Osindero, 2014) of ``policy_search.generative.train``, trained on the
training split only and looked up in the cache by (dataset, model, size, seed)::

    transform = Synthetic("dcgan", ratio=0.2)               # dataset inferred from the images: 1x28x28 -> mnist
    images, labels = transform(images, labels, generator=g)
    run.train(n, batch_transform=synthetic_batch_transform("vae", "mnist", 0.2, g))

It is a ``BatchTransform`` (the family beside per-sample policies, ``policy_search.policy.base``): it needs the
labels, returns ``(images, labels)`` always, has no pixel-op params to replay and does not nest inside
``Sequence`` / ``Schedule``; training loops apply it through ``augment_batch``. Its cost per image is
``ratio * generative.relative_cost(...)`` in ``ops.OP_COST`` units.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from policy_search.generative.models import MODEL_KINDS
from policy_search.generative.train import (
    DATASETS,
    SIZES,
    TrainedGenerator,
    get_generator,
    infer_dataset,
    relative_cost,
)
from policy_search.policy.base import (
    Augmentation,
    BatchTransform,
    ImageSpec,
    augment_batch,
    check_images,
    register_kind,
)
from policy_search.policy.file import as_choice, as_int, as_number, as_object, get, join

__all__ = ["Synthetic", "as_batch_transform", "synthetic_batch_transform", "synthetic_for"]

BatchFunction = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
_FIELDS = ("model", "dataset", "size", "seed", "ratio")


class Synthetic(BatchTransform):
    """Replace each sample with probability ``ratio`` by a generated image of its own class.

    ``model``: ``vae`` or ``dcgan``; ``dataset``: ``mnist``, ``cifar10`` or None (inferred from the image shape at
    apply time); ``size``/``seed``: which cached generator (``policy_search.generative.train.get_generator``).
    """

    def __init__(
        self,
        model: str = "vae",
        ratio: float = 0.2,
        *,
        dataset: str | None = None,
        size: str = "proxy",
        seed: int = 0,
        image_spec: ImageSpec | None = None,
    ) -> None:
        super().__init__(space="standard", image_spec=image_spec)
        self.model = as_choice(model, "model", MODEL_KINDS, "generative model")
        self.ratio = as_number(ratio, "ratio", 0.0, 1.0)
        self.dataset = None if dataset is None else as_choice(dataset, "dataset", DATASETS, "generator dataset")
        self.size = as_choice(size, "size", SIZES, "generator size")
        self.seed = as_int(seed, "seed", low=0)
        self._last_dataset: str | None = self.dataset

    def generator_for(self, images: Tensor) -> TrainedGenerator:
        """The cached generator for ``images`` uint8[B,C,H,W] (on their device); never trains one."""
        dataset = self.dataset or infer_dataset(tuple(images.shape))
        c, h, w, _ = DATASETS[dataset]
        if tuple(images.shape[-3:]) != (c, h, w):
            raise ValueError(
                f"synthetic policy holds a {dataset} generator ({c}x{h}x{w}) but the images are "
                f"{'x'.join(map(str, images.shape[-3:]))}"
            )
        self._last_dataset = dataset
        gen = get_generator(dataset, self.model, self.size, self.seed, train_if_missing=False)
        return gen.to(images.device) if gen.device != images.device else gen

    def forward(
        self,
        images: Tensor,
        labels: Tensor,
        *,
        generator: torch.Generator | None = None,
        progress: float | None = None,
    ) -> tuple[Tensor, Tensor]:
        """uint8[B,C,H,W] and int64[B] labels -> (images with a ``ratio`` fraction generated, the same labels)."""
        if labels is None:
            raise ValueError(
                "the synthetic transform needs the batch labels: call transform(images, labels, generator=g), "
                "or use synthetic_batch_transform / run_child, which pass them"
            )
        batch, single = check_images(images)
        if single:
            raise ValueError("the synthetic policy works on batches [B,C,H,W] with labels [B], not one image")
        if not isinstance(labels, Tensor) or labels.shape != (batch.shape[0],):
            raise ValueError(
                f"labels must be a tensor of shape [{batch.shape[0]}] (one per image), got "
                f"{tuple(getattr(labels, 'shape', ()))}"
            )
        g = generator if generator is not None else self.default_generator()
        # Looked up before the draw: a missing generator fails on the first batch, not on whichever batch first
        # happens to pick an image (a cached generator is a dictionary lookup).
        net = self.generator_for(batch)
        # The mask is always drawn for the whole batch, so the stream does not depend on how many were picked.
        mask = (torch.rand(batch.shape[0], generator=g, device=g.device) < self.ratio).to(batch.device)
        if not bool(mask.any()):
            return images, labels
        fake = net.sample(labels[mask].to(torch.int64), g)
        out = batch.clone()
        out[mask] = fake.to(out.device)
        return out, labels

    def op_distribution(self, progress: float | None = None) -> dict[str, float]:
        return {}

    def expected_cost(self, progress: float | None = None) -> float:
        """``ratio`` times the relative cost of generating one image (``generative.GENERATION_COST``)."""
        dataset = self._last_dataset
        if dataset is None:
            spec = self.image_spec
            try:
                dataset = infer_dataset((spec.channels, spec.height, spec.width))
            except ValueError:
                dataset = "cifar10"
        return self.ratio * relative_cost(dataset, self.model, self.size)

    def body(self) -> dict[str, Any]:
        return {"model": self.model, "dataset": self.dataset, "size": self.size, "seed": self.seed, "ratio": self.ratio}

    @classmethod
    def from_body(
        cls, body: dict[str, Any], semantics: dict[str, Any], image_spec: ImageSpec, where: str
    ) -> Augmentation:
        obj = as_object(body, where, allowed=_FIELDS)
        dataset = obj.get("dataset")
        return cls(
            as_choice(get(obj, "model", where), join(where, "model"), MODEL_KINDS, "generative model"),
            as_number(get(obj, "ratio", where), join(where, "ratio"), 0.0, 1.0),
            dataset=None
            if dataset is None
            else as_choice(dataset, join(where, "dataset"), DATASETS, "generator dataset"),
            size=as_choice(obj.get("size", "proxy"), join(where, "size"), SIZES, "generator size"),
            seed=as_int(obj.get("seed", 0), join(where, "seed"), low=0),
            image_spec=image_spec,
        )


register_kind("synthetic", Synthetic)


# Fixed-ratio presets (policy_search.policy.presets lists them; the dataset is inferred from the images).
def as_batch_transform(
    transform: Augmentation, generator: torch.Generator, progress: Callable[[], float] | None = None
) -> BatchFunction:
    """A ``ChildRun.train(batch_transform=...)`` callable from a batch transform or a policy (``augment_batch``).

    ``progress`` (optional) is called once per batch for the training progress in [0, 1] (e.g.
    ``lambda: run.progress``).
    """

    def apply(images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        return augment_batch(transform, images, labels, generator, None if progress is None else progress())

    return apply


def synthetic_batch_transform(
    model: str, dataset: str | None, ratio: float, generator: torch.Generator, *, size: str = "proxy", seed: int = 0
) -> BatchFunction:
    """``f(images uint8[B,C,H,W], labels int64[B]) -> (images, labels)`` replacing a ``ratio`` fraction of each
    batch with generated images of the same labels; randomness from ``generator``. For the RL env and Optuna:
    ``ratio`` is the knob, the rest picks the cached generator (fails if it is not trained, naming the command).
    """
    return as_batch_transform(Synthetic(model, ratio, dataset=dataset, size=size, seed=seed), generator)


def synthetic_for(generator_spec: str, ratio: float, like: Tensor) -> Synthetic:
    """The synthetic transform for a searched choice: ``generator_spec`` ``"vae"`` or ``"dcgan:tiny"`` at
    ``ratio``, checked now against images ``like`` (fails, naming the training command, if the generator is not
    trained), not at the first batch. What the env's actions and the search's trials apply."""
    from policy_search.policy.action_space import parse_synthetic

    model, size = parse_synthetic(generator_spec)
    op = Synthetic(model, ratio, size=size)
    op.generator_for(like)
    return op
