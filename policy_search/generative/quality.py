"""Quality of a class-conditional generator without downloaded weights: label fidelity, diversity, sample grid.

- Label fidelity ("classifier accuracy"): a reference classifier trained on *real* training images (the task's
  CPU proxy preset, ``<dataset>-proxy``, through ``ChildRun``; cached) labels generated images of each class;
  the share it labels as the conditioning class, per class and averaged. This is the GAN-train/GAN-test idea of
  Shmelkov et al. (ECCV 2018) and the "classification accuracy score" of Ravuri & Vinyals (2019) in its cheapest
  direction. The classifier's own accuracy on real validation images is reported beside it as the ceiling.
- Diversity: mean pairwise L2 distance (pixels in [0, 1]) between generated images of one class, divided by the
  same for as many real training images of that class. Near 1: as varied as the data; near 0: mode collapse.
- A grid PNG: one row per class (torchvision.utils.save_image).

    python -m policy_search.generative evaluate --dataset mnist --model dcgan --out runs/gen-quality
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from policy_search.child.data import Split, load_image_dataset
from policy_search.child.models import build_model
from policy_search.generative.train import TrainedGenerator, generators_root, get_generator
from policy_search.outputs import write_json

__all__ = [
    "ReferenceClassifier",
    "diversity",
    "evaluate_to_folder",
    "generator_quality",
    "reference_classifier",
    "save_grid",
]


@dataclass
class ReferenceClassifier:
    """A classifier trained on real images: ``predict(uint8[B,C,H,W]) -> int64[B]``."""

    model: torch.nn.Module
    mean: Tensor  # float32 [1,C,1,1], uint8 units
    std: Tensor
    preset: str
    val_accuracy: float

    @torch.no_grad()
    def predict(self, images: Tensor) -> Tensor:
        self.model.eval()
        out = [self.model((chunk.float() - self.mean) / self.std).argmax(1) for chunk in images.split(1000)]
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.int64)


def reference_classifier(dataset: str, *, seed: int = 0, data_dir: str | None = None) -> ReferenceClassifier:
    """The ``<dataset>-proxy`` child model trained on real training images (cached beside the generators)."""
    from policy_search.child.run import ChildRun  # child sits above this module's level in the import order

    preset = f"{dataset}-proxy"
    path = generators_root() / "classifiers" / f"{preset}-seed{seed}.pt"
    if path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        c, h, k = saved["shape"]
        model = build_model(saved["model"], c, k, h)
        model.load_state_dict(saved["state"])
        return ReferenceClassifier(model, saved["mean"], saved["std"], preset, saved["val_accuracy"])
    run = ChildRun(preset, seed=seed, device="cpu", data_dir=data_dir, allow_test=False)
    run.train(run.total_batches)
    preds, labels, _ = run.predict("val")
    train = run.splits["train"].images.double()
    # The same channel statistics ChildRun normalizes with (its training subset), in uint8 units.
    mean = train.mean(dim=(0, 2, 3)).float().view(1, -1, 1, 1)
    std = train.std(dim=(0, 2, 3)).float().clamp(min=1.0).view(1, -1, 1, 1)
    acc = float((preds == labels).float().mean())
    c, h, _ = run.image_shape
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": run.preset.model,
            "shape": (c, h, run.num_classes),
            "state": run.model.state_dict(),
            "mean": mean,
            "std": std,
            "val_accuracy": acc,
        },
        path,
    )
    return ReferenceClassifier(run.model.cpu(), mean, std, preset, acc)


def diversity(images: Tensor) -> float:
    """Mean pairwise L2 distance between uint8[N,C,H,W] images, pixels scaled to [0, 1]."""
    flat = images.flatten(1).float() / 255.0
    return float(torch.pdist(flat).mean()) if len(flat) > 1 else 0.0


def generator_quality(
    gen: TrainedGenerator, classifier: ReferenceClassifier, real: Split, samples_per_class: int = 200, seed: int = 0
) -> dict[str, Any]:
    """Per-class and mean label fidelity and diversity ratio of ``gen`` against ``real`` (a training split)."""
    k = gen.num_classes
    labels = torch.arange(k).repeat_interleave(samples_per_class)
    g = torch.Generator().manual_seed(seed)
    fake = torch.cat([gen.sample(chunk, g) for chunk in labels.split(1000)])
    preds = classifier.predict(fake)
    pick = torch.Generator().manual_seed(seed + 1)
    acc, div_fake, div_real = [], [], []
    for c in range(k):
        sel = labels == c
        acc.append(float((preds[sel] == c).float().mean()))
        div_fake.append(diversity(fake[sel]))
        pool = torch.nonzero(real.labels == c).flatten()
        chosen = pool[torch.randperm(len(pool), generator=pick)[:samples_per_class]]
        div_real.append(diversity(real.images[chosen]))
    ratio = [f / r if r > 0 else 0.0 for f, r in zip(div_fake, div_real)]
    return {
        "dataset": gen.dataset,
        "model": gen.model,
        "size": gen.size,
        "seed": gen.seed,
        "generator_epochs": gen.meta["epoch"],
        "samples_per_class": samples_per_class,
        "classifier": {"preset": classifier.preset, "real_val_accuracy": classifier.val_accuracy},
        "classifier_accuracy_per_class": acc,
        "classifier_accuracy_mean": sum(acc) / k,
        "diversity_generated_per_class": div_fake,
        "diversity_real_per_class": div_real,
        "diversity_ratio_per_class": ratio,
        "diversity_ratio_mean": sum(ratio) / k,
    }


def save_grid(gen: TrainedGenerator, path: str | os.PathLike[str], per_class: int = 10, seed: int = 0) -> Path:
    """PNG of ``per_class`` samples for each class, one row per class."""
    from torchvision.utils import save_image

    labels = torch.arange(gen.num_classes).repeat_interleave(per_class)
    images = gen.sample(labels, torch.Generator().manual_seed(seed))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.float() / 255.0, path, nrow=per_class, padding=2)
    return path


def evaluate_to_folder(
    dataset: str,
    model: str,
    out: str | os.PathLike[str],
    *,
    size: str = "proxy",
    seed: int = 0,
    samples_per_class: int = 200,
    data_dir: str | None = None,
) -> dict[str, Any]:
    """Write ``out/quality.json`` and ``out/grid.png`` for the cached generator (which must already exist)."""
    gen = get_generator(dataset, model, size, seed, train_if_missing=False)
    classifier = reference_classifier(dataset, data_dir=data_dir)
    real = load_image_dataset(dataset, data_dir).train
    quality = generator_quality(gen, classifier, real, samples_per_class, seed)
    quality["command"] = (
        f"python -m policy_search.generative evaluate --dataset {dataset} --model {model} "
        f"--size {size} --seed {seed} --samples-per-class {samples_per_class} --out {out}"
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "quality.json", quality, indent=2)
    save_grid(gen, out / "grid.png", seed=seed)
    return quality
