"""ChildRun: one child training run with a stepwise API that environments, agents and benchmarks drive.

The whole (proxy) dataset sits on the training device as uint8; each step indexes a batch, runs the caller's
augmentation on uint8, normalizes, and takes one optimizer step. No DataLoader, no per-image loop (the airbench
pattern). The model is initialised from the seed and batches come from a seeded ``torch.Generator``, so a run is
reproducible on CPU.

    python -m policy_search.child --preset mnist-proxy --out runs/child
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from policy_search.child.data import ImageDataset, Split, load_image_dataset
from policy_search.child.metrics import ResourceMeter, classification_report, peak_rss_mb
from policy_search.child.models import build_model, count_parameters
from policy_search.child.tasks import MIN_IMAGE_SIDE, TaskPreset, get_preset
from policy_search.policy.base import Augmentation, augment_batch

Augment = Callable[[torch.Tensor], torch.Tensor]
BatchTransform = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

FEATURE_NAMES: tuple[str, ...] = (
    "progress",  # fraction of the training budget done, [0, 1]
    "train_loss_ema",  # EMA of the training loss / log(num_classes)
    "train_acc_ema",  # EMA of the training-batch accuracy, [0, 1]
    "val_loss",  # last validation loss / log(num_classes)
    "val_acc",  # last validation accuracy, [0, 1]
    "val_loss_delta",  # change of val_loss since the previous evaluation (normalized as above)
    "val_acc_delta",  # change of val_acc since the previous evaluation
    "lr_ratio",  # current learning rate / initial learning rate
    "generalization_gap",  # train_acc_ema - val_acc
)


# Subclasses of ChildRun for other modalities, by preset modality ("module:class"; images are ChildRun itself).
CHILD_CLASSES: dict[str, str] = {"text": "policy_search.child.text_run:TextChildRun"}


class ChildDivergedError(RuntimeError):
    """The child's training loss became NaN or infinite."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"unknown device {device!r}; use auto, cpu or cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here; use --device cpu or auto")
    return torch.device(device)


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and sample std (float32 ``[C]``, uint8 units) of uint8 ``[N,C,H,W]``, from 256-bin
    histograms: exact, and no float copy of the data (a float64 copy of CIFAR-10's train split is 1.1 GB)."""
    values = torch.arange(256, dtype=torch.float64)
    means, stds = [], []
    for c in range(images.shape[1]):
        hist = torch.bincount(images[:, c].reshape(-1).cpu(), minlength=256).double()
        n = hist.sum()
        mean = (hist * values).sum() / n
        var = (hist * (values - mean) ** 2).sum() / (n - 1)
        means.append(mean)
        stds.append(var.sqrt())
    return torch.stack(means).float(), torch.stack(stds).float()


def augment_generator(seed: int) -> torch.Generator:
    """The augmentation stream of a child run with ``seed``: separate from model init and batch order, and the
    same in ``run_child`` and the Optuna objective so their runs of one policy are identical."""
    return torch.Generator().manual_seed(seed + 1_000_003)


@lru_cache(maxsize=4)
def _cached_dataset(
    name: str,
    data_dir: str | None,
    val_size: int,
    data_seed: int,
    image_size: int | None = None,
    image_column: str | None = None,
    label_column: str | None = None,
) -> ImageDataset:
    return load_image_dataset(
        name,
        data_dir,
        val_size=val_size,
        seed=data_seed,
        image_size=image_size,
        image_column=image_column,
        label_column=label_column,
    )


class ChildRun:
    """A child network training on a task preset, advanced ``n_batches`` at a time.

    ``train(n, augment)`` applies ``augment(uint8[B,C,H,W]) -> uint8[B,C,H,W]`` to every batch (timed as
    augmentation), ``evaluate("val")`` measures the held-out part of the training split, and ``features()`` is the
    float32 training-state vector an agent observes (``FEATURE_NAMES``). Set ``allow_test=False`` wherever
    search happens, so the test split cannot leak into it.
    """

    def __init__(
        self,
        preset: str | TaskPreset,
        *,
        seed: int = 0,
        device: str | torch.device = "auto",
        data_dir: str | None = None,
        allow_test: bool = True,
        dataset: ImageDataset | None = None,
        **overrides,
    ) -> None:
        if isinstance(dataset, str):  # the preset field (a name, folder or Hub id), given as an override
            overrides["dataset"], dataset = dataset, None
        self.preset = get_preset(preset, **overrides)
        self.seed = int(seed)
        self.device = resolve_device(device)
        self.allow_test = allow_test
        self._setup_data(data_dir, dataset)
        torch.manual_seed(self.seed)  # model init and dropout draw from the global RNG
        self.model = self._build_model().to(self.device)
        self.optimizer = self._make_optimizer()
        self.generator = torch.Generator().manual_seed(self.seed)
        p = self.preset
        n_train = len(self.splits["train"])
        self.batches_per_epoch = n_train // p.batch_size
        if self.batches_per_epoch == 0:
            raise ValueError(f"batch_size {p.batch_size} is larger than the training split ({n_train} examples)")
        self.total_batches = max(1, int(round(p.epochs * self.batches_per_epoch)))
        self.batches_done = 0
        self.samples_seen = 0
        self.aug_time_s = 0.0
        self.train_time_s = 0.0
        self.eval_time_s = 0.0
        self.extra_forward_samples = 0
        self._val_generator: torch.Generator | None = None
        self._order = torch.empty(0, dtype=torch.long)
        self._cursor = 0
        self._loss_ema: float | None = None
        self._acc_ema: float | None = None
        self._val: dict | None = None
        self._prev_val: dict | None = None
        self.history: list[dict] = []

    robustness_inputs: bool = True
    """Whether the benchmark's robustness metrics (image corruptions, FGSM on pixels) apply to this child."""

    def __new__(cls, preset: str | TaskPreset | None = None, *args, **kwargs):
        # One ChildRun for every modality: a text preset builds the text subclass (same stepping, features and
        # checkpoints; its own data, model and metrics), so envs, agents, search and benchmarks never branch.
        if cls is ChildRun and preset is not None:
            overrides = {
                k: v
                for k, v in kwargs.items()
                if k in TaskPreset.__dataclass_fields__ and (k != "dataset" or isinstance(v, str))
            }
            modality = get_preset(preset, **overrides).modality
            if modality in CHILD_CLASSES:  # by name, as the policy kinds are: the subclass imports this module
                import importlib

                module, name = CHILD_CLASSES[modality].split(":")
                cls = getattr(importlib.import_module(module), name)
        return super().__new__(cls)

    # -- setup -------------------------------------------------------------------------------------------------
    def _setup_data(self, data_dir: str | None, dataset: ImageDataset | None) -> None:
        """Load the splits onto the device and set what the model and policies need to know about the inputs."""
        p = self.preset
        data = dataset or _cached_dataset(
            p.dataset, data_dir, p.val_size, p.data_seed, p.image_size, p.image_column, p.label_column
        )
        if p.train_size and p.train_size < len(data.train):
            train = data.train.subset(p.train_size, seed=p.data_seed)
        else:  # no cap, or a dataset smaller than the cap: all of it
            train = data.train
        self.num_classes = data.num_classes
        self.class_names = data.class_names
        self.splits: dict[str, Split] = {"train": train.to(self.device), "val": data.val.to(self.device)}
        self._test = data.test
        c, h, w = train.images.shape[1:]
        if min(int(h), int(w)) < MIN_IMAGE_SIDE:  # before any model is built: one line, not a shape traceback
            raise ValueError(
                f"the images of {p.dataset!r} are {int(h)}x{int(w)} pixels; the child models need at least "
                f"{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}: resize them with --set image_size=32"
            )
        self.image_shape = (int(c), int(h), int(w))
        mean, std = channel_stats(train.images)
        self._mean = mean.view(1, -1, 1, 1).to(self.device)
        self._std = std.clamp(min=1.0).view(1, -1, 1, 1).to(self.device)

    def _build_model(self) -> torch.nn.Module:
        c, h, _ = self.image_shape
        return build_model(self.preset.model, c, self.num_classes, h)

    def _batch(self, index: torch.Tensor, split: str = "train") -> tuple:
        """Inputs and labels of ``split`` at ``index`` (for training: what the policy and the model see)."""
        data = self.splits[split]
        return data.images.index_select(0, index), data.labels.index_select(0, index)

    def _outputs(self, inputs, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The model's logits on one (augmented) batch, the targets they are scored against and the mask of scored
        positions (None: every sample; a tagger scores the real tokens of ``[B, L]``)."""
        return self.model(self.normalize(inputs)), labels, None

    def _loss(self, inputs, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Training loss, correct predictions and how many were scored, for one (augmented) batch."""
        return self._scored(*self._outputs(inputs, labels))

    def _scored(
        self, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(loss, correct, scored): the preset's loss over the scored positions of ``_outputs``."""
        if mask is not None:
            logits_s, targets_s = logits[mask], targets[mask]
        else:
            logits_s, targets_s = logits, targets
        loss = F.cross_entropy(logits_s, targets_s, label_smoothing=self.preset.label_smoothing)
        hits = (logits_s.detach().argmax(-1) == targets_s).sum()
        return loss, hits, int(targets_s.shape[0])

    def _make_optimizer(self) -> torch.optim.Optimizer:
        p = self.preset
        if p.optimizer == "sgd":
            return torch.optim.SGD(
                self.model.parameters(), lr=p.lr, momentum=p.momentum, nesterov=p.nesterov, weight_decay=p.weight_decay
            )
        if p.optimizer == "adam":
            return torch.optim.Adam(self.model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        if p.optimizer == "adamw":
            return torch.optim.AdamW(self.model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        raise ValueError(f"unknown optimizer {p.optimizer!r} in preset {p.name!r}; use sgd, adam or adamw")

    @property
    def image_spec(self):
        """The images this child trains on, as a policy file records them (``ImageSpec``)."""
        from policy_search.policy.base import ImageSpec

        c, h, w = self.image_shape
        return ImageSpec(channels=c, height=h, width=w)

    @property
    def progress(self) -> float:
        return self.batches_done / self.total_batches

    @property
    def done(self) -> bool:
        return self.batches_done >= self.total_batches

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _lr_at(self, step: int) -> float:
        if self.preset.lr_schedule == "cosine":
            return self.preset.lr * 0.5 * (1.0 + math.cos(math.pi * step / self.total_batches))
        if self.preset.lr_schedule == "constant":
            return self.preset.lr
        raise ValueError(f"unknown lr_schedule {self.preset.lr_schedule!r}; use constant or cosine")

    def _next_indices(self, n: int) -> torch.Tensor:
        if self._cursor + n > len(self._order):
            self._order = torch.randperm(len(self.splits["train"]), generator=self.generator)
            self._cursor = 0
        index = self._order[self._cursor : self._cursor + n]
        self._cursor += n
        return index.to(self.device)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B,C,H,W]`` -> float32 standardized with the training split's channel statistics."""
        return (images.float() - self._mean) / self._std

    # -- stepping ----------------------------------------------------------------------------------------------
    def train(
        self,
        n_batches: int,
        augment: Augment | None = None,
        batch_transform: BatchTransform | None = None,
        observer: Augmentation | None = None,
    ) -> dict:
        """Run up to ``n_batches`` optimizer steps (fewer at the end of the budget) and return their mean loss
        and accuracy. Raises ``ChildDivergedError`` if the loss becomes non-finite.

        ``observer``: a policy that learns per batch (``observes_batches``, docs/ARCHITECTURE.md "Policies that
        learn inside the run"): it is attached to the model, told each batch's sample ids before augmenting, handed
        the batch's logits after the step, and given a validation minibatch's loss whenever it asks for one."""
        n_batches = min(int(n_batches), self.total_batches - self.batches_done)
        if n_batches <= 0:
            return {"batches": 0, "loss": float("nan"), "accuracy": float("nan")}
        bs = self.preset.batch_size
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        scored = 0
        t_start = time.perf_counter()
        aug_time = 0.0
        if observer is not None:
            observer.attach(self.model)
        for _ in range(n_batches):
            index = self._next_indices(bs)
            images, labels = self._batch(index)
            if observer is not None:
                observer.before_batch(ids=index)
            if augment is not None or batch_transform is not None:
                images, labels, seconds = self._augment(images, labels, augment, batch_transform)
                aug_time += seconds
            for group in self.optimizer.param_groups:
                group["lr"] = self._lr_at(self.batches_done)
            logits, targets, mask = self._outputs(images, labels)
            loss, hits, count = self._scored(logits, targets, mask)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if observer is not None:
                t0 = time.perf_counter()
                observer.after_batch(ids=index, logits=logits.detach(), targets=targets, mask=mask)
                if observer.needs_validation():
                    self._validation_feedback(observer)
                aug_time += time.perf_counter() - t0
            loss_sum += loss.detach()
            correct += hits
            scored += count
            self.batches_done += 1
        mean_loss = float(loss_sum) / n_batches  # one device sync per call, not per batch
        accuracy = float(correct) / max(scored, 1)
        self.samples_seen += n_batches * bs
        self.aug_time_s += aug_time
        self.train_time_s += time.perf_counter() - t_start - aug_time
        if not math.isfinite(mean_loss):
            raise ChildDivergedError(
                f"training loss became {mean_loss} by batch {self.batches_done} of preset {self.preset.name!r} "
                f"(lr {self.lr:g}); lower the learning rate or use a milder augmentation policy"
            )
        # EMA over calls, weighted by how many batches each call covered
        decay = 0.9 ** (n_batches / max(1, self.batches_per_epoch // 4))
        self._loss_ema = mean_loss if self._loss_ema is None else decay * self._loss_ema + (1 - decay) * mean_loss
        self._acc_ema = accuracy if self._acc_ema is None else decay * self._acc_ema + (1 - decay) * accuracy
        return {"batches": n_batches, "loss": mean_loss, "accuracy": accuracy}

    def _augment(self, images, labels, augment: Augment | None, batch_transform: BatchTransform | None):
        """A batch through the policy and the batch transform, timed (the device synchronised around it)."""
        sync = self.device.type == "cuda"
        if sync:
            torch.cuda.synchronize(self.device)
        t0 = time.perf_counter()
        if augment is not None:
            images = augment(images)
        if batch_transform is not None:
            images, labels = batch_transform(images, labels)
        if sync:
            torch.cuda.synchronize(self.device)
        return images, labels, time.perf_counter() - t0

    def _validation_feedback(self, observer: Augmentation) -> None:
        """Hand ``observer`` a random validation minibatch and a ``predict`` that runs the model on it (eval mode,
        gradients on: the observer may take the gradient it needs, or score augmented views). Its own random stream,
        so the batch order and model init are untouched; the forward passes it runs count as extra cost."""
        if self._val_generator is None:
            self._val_generator = torch.Generator().manual_seed(self.seed + 7_919)
        val = self.splits["val"]
        n = min(int(observer.validation_size), len(val))
        index = torch.randperm(len(val), generator=self._val_generator)[:n].to(self.device)
        inputs, labels = self._batch(index, "val")

        def predict(batch):
            return self._outputs(batch, labels)

        self.model.eval()
        try:
            with torch.enable_grad():
                forwards = observer.validate_batch(predict, inputs, labels)
        finally:
            self.model.train()
            self.model.zero_grad(set_to_none=True)
        self.extra_forward_samples += int(forwards)

    @property
    def _spent(self) -> float:
        """Samples trained, plus extra forward passes (an observer's validation minibatches) at a third of a
        training sample each (a forward pass is about a third of a forward-backward step)."""
        return self.samples_seen + self.extra_forward_samples / 3.0

    @property
    def compute_spent(self) -> int:
        """Compute spent so far in child-training samples, the unit searches count (``_spent``)."""
        return int(round(self._spent))

    @property
    def child_run_equivalents(self) -> float:
        """Compute spent so far in units of one child run's training samples (``_spent``)."""
        return self._spent / (self.total_batches * self.preset.batch_size)

    @torch.no_grad()
    def predict(self, split: str, max_samples: int | None = None) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Predictions, labels and mean loss on ``split`` (the first ``max_samples`` images of it)."""
        data = self._split(split)
        n = len(data) if max_samples is None else min(max_samples, len(data))
        self.model.eval()
        preds, loss_sum = [], torch.zeros((), device=self.device)
        # Small chunks on CPU keep activations in cache (measured 1.6x faster than 1,000-image chunks on FastNet);
        # a GPU wants large ones.
        chunk = 1024 if self.device.type == "cuda" else 64
        for start in range(0, n, chunk):
            x = data.images[start : min(start + chunk, n)].to(self.device)
            y = data.labels[start : min(start + chunk, n)].to(self.device)
            logits = self.model(self.normalize(x))
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            preds.append(logits.argmax(1))
        self.model.train()
        return torch.cat(preds), data.labels[:n].to(self.device), float(loss_sum) / max(n, 1)

    def split(self, split: str) -> Split:
        """The ``train``, ``val`` or ``test`` split (test only when ``allow_test``)."""
        return self._split(split)

    def _split(self, split: str) -> Split:
        if split == "test":
            if not self.allow_test:
                raise PermissionError(
                    "this ChildRun was built with allow_test=False: the test split is kept out "
                    "of search; evaluate on 'val' instead"
                )
            return self._test
        if split not in self.splits:
            raise ValueError(f"unknown split {split!r}; use train, val or test")
        return self.splits[split]

    def segment(
        self,
        n_batches: int,
        policy: torch.nn.Module | None = None,
        generator: torch.Generator | None = None,
        *,
        then: Augmentation | None = None,
        full_val: bool = False,
    ) -> tuple[dict, dict]:
        """Train ``n_batches`` augmented by ``policy`` (per-sample ops at the run's progress, or through
        ``augment_batch`` with the labels when it needs them), then by the batch transform ``then`` (e.g. the
        synthetic-data op an action picked), drawing from ``generator``; then evaluate on validation (the whole
        split with ``full_val``, else the preset's fixed subset). Returns (train stats, val metrics).

        The one train-then-evaluate step of every loop over a child: ``run_child``, the env's steps, population
        segments and search trials."""
        augment = transform = None
        labelled = getattr(policy, "needs_labels", False)
        if policy is not None and not labelled:

            def augment(images: torch.Tensor) -> torch.Tensor:
                return policy(images, generator=generator, progress=min(self.progress, 1.0))

        batch_stages = [a for a in (policy if labelled else None, then) if a is not None]
        if batch_stages:

            def transform(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                for stage in batch_stages:
                    images, labels = augment_batch(stage, images, labels, generator, min(self.progress, 1.0))
                return images, labels

        observer = policy if getattr(policy, "observes_batches", False) else None
        stats = self.train(n_batches, augment=augment, batch_transform=transform, observer=observer)  # type: ignore[arg-type]
        val = self.evaluate("val", max_samples=len(self.splits["val"]) if full_val else None)
        return stats, val

    def evaluate(self, split: str = "val", max_samples: int | None = None) -> dict:
        """Loss, accuracy and ``score`` (the preset's headline metric, what searches and rewards maximise: accuracy,
        or entity F1 for a tagger) on ``split``; for ``val`` the default is the preset's fixed ``eval_samples``
        subset (the same images every time, which keeps the reward signal's noise down)."""
        t0 = time.perf_counter()
        if split == "val" and max_samples is None:
            max_samples = self.preset.eval_samples
        preds, labels, loss = self.predict(split, max_samples)
        accuracy = float((preds == labels).float().mean())
        score = self._score(split, preds, labels)
        result = {
            "loss": loss,
            "accuracy": accuracy,
            "samples": len(labels),
            "score": accuracy if score is None else score,
        }
        self.eval_time_s += time.perf_counter() - t0
        if split == "val":
            self._prev_val, self._val = self._val, result
            self.history.append(
                {
                    "batches": self.batches_done,
                    "samples": self.samples_seen,
                    "val_loss": loss,
                    "val_acc": result["accuracy"],
                    "train_loss_ema": self._loss_ema,
                    "lr": self.lr,
                }
            )
        return result

    def _score(self, split: str, preds: torch.Tensor, labels: torch.Tensor) -> float | None:
        """The preset's headline metric from ``evaluate``'s predictions where it is not accuracy (None: it is)."""
        return None

    def evaluate_full(self, split: str = "test") -> dict:
        """Accuracy, loss, macro precision/recall/F1 and confusion matrix on a whole split."""
        preds, labels, loss = self.predict(split)
        return {"loss": loss, "samples": len(labels), **classification_report(preds, labels, self.num_classes)}

    def features(self) -> np.ndarray:
        """float32 ``[len(FEATURE_NAMES)]`` training-state vector, each entry roughly in [-1, 1] or [0, 1]."""
        scale = math.log(self.num_classes)
        val = self._val or {"loss": scale, "accuracy": 1.0 / self.num_classes}
        prev = self._prev_val or val
        loss_ema = self._loss_ema if self._loss_ema is not None else scale
        acc_ema = self._acc_ema if self._acc_ema is not None else 1.0 / self.num_classes
        vec = [
            self.progress,
            loss_ema / scale,
            acc_ema,
            val["loss"] / scale,
            val["accuracy"],
            (val["loss"] - prev["loss"]) / scale,
            val["accuracy"] - prev["accuracy"],
            self.lr / self.preset.lr,
            acc_ema - val["accuracy"],
        ]
        return np.clip(np.nan_to_num(np.asarray(vec, dtype=np.float32), nan=0.0, posinf=5.0, neginf=-5.0), -5, 5)

    def feature_dict(self) -> dict[str, float]:
        """``features()`` by name (what controller-type policies receive through ``policy.observe``)."""
        return {name: float(v) for name, v in zip(FEATURE_NAMES, self.features())}

    def accounting(self) -> dict:
        wall = self.train_time_s + self.aug_time_s
        out = {
            "samples_seen": self.samples_seen,
            "batches_done": self.batches_done,
            "train_time_s": self.train_time_s,
            "aug_time_s": self.aug_time_s,
            "eval_time_s": self.eval_time_s,
            "samples_per_s": self.samples_seen / wall if wall > 0 else 0.0,
            "extra_forward_samples": self.extra_forward_samples,
            "child_run_equivalents": self.child_run_equivalents,
            "peak_rss_mb": peak_rss_mb(),
            "parameters": count_parameters(self.model),
        }
        if self.device.type == "cuda":
            out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
        return out

    # -- checkpoints -------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """A snapshot (deep copy: torch's optimizer loading would otherwise alias live momentum buffers)."""
        return copy.deepcopy(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(),
                "rng": torch.get_rng_state(),
                "order": self._order,
                "cursor": self._cursor,
                "batches_done": self.batches_done,
                "samples_seen": self.samples_seen,
                "ema": (self._loss_ema, self._acc_ema),
                "val": (self._prev_val, self._val),
                "history": self.history,
                "times": (self.aug_time_s, self.train_time_s, self.eval_time_s),
                "extra_forward_samples": self.extra_forward_samples,
            }
        )

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["rng"])
        self._order, self._cursor = state["order"], state["cursor"]
        self.batches_done, self.samples_seen = state["batches_done"], state["samples_seen"]
        self._loss_ema, self._acc_ema = state["ema"]
        self._prev_val, self._val = state["val"]
        self.history = list(state["history"])
        self.aug_time_s, self.train_time_s, self.eval_time_s = state["times"]
        self.extra_forward_samples = state.get("extra_forward_samples", 0)


def run_child(
    preset: str | TaskPreset,
    *,
    seed: int = 0,
    device: str = "auto",
    data_dir: str | None = None,
    policy: torch.nn.Module | None = None,
    augment_seed: int | None = None,
    eval_every: int | None = None,
    progress_bar: bool = False,
    test: bool = True,
    on_observe: Callable[[float], None] | None = None,
    **overrides,
) -> tuple[ChildRun, dict]:
    """Train a child to the end of its budget with ``policy`` (any policy module, called with the run's progress),
    evaluating on val every ``eval_every`` batches (default: once per epoch) and on test once at the end
    (``test=False``: never, and the run's test split is locked, for choices made during search). ``on_observe``
    is called with the progress after the policy's reset (0) and after each ``observe``.
    Returns the run and a JSON-ready metrics dict."""
    run = ChildRun(preset, seed=seed, device=device, data_dir=data_dir, allow_test=test, **overrides)
    _check_policy_fits(run, policy)
    generator = None
    if policy is not None:
        generator = augment_generator(seed) if augment_seed is None else torch.Generator().manual_seed(augment_seed)
    # A controller decides every `observe_every` batches, as during its search; others are evaluated per epoch.
    eval_every = eval_every or getattr(policy, "observe_every", None) or run.batches_per_epoch
    meter = ResourceMeter(run.device).start()
    _train_to_end(run, policy, seed, generator, eval_every, progress_bar, on_observe)
    return run, _run_metrics(run, seed, meter.read(), test)


def _check_policy_fits(run: ChildRun, policy: torch.nn.Module | None) -> None:
    """Before any training, one line: the policy's modality and the features it observes must fit the run."""
    wants = getattr(policy, "modality", None)
    if wants is not None and wants != run.preset.modality:  # before any training: one line, nothing lost
        from policy_search.policy.modality import get_modality

        raise ValueError(
            f"the policy augments {wants} but task {run.preset.name!r} trains on {run.preset.modality}; pass a "
            f"policy for {run.preset.modality}: {get_modality(run.preset.modality).hint}"
        )
    wanted = getattr(policy, "feature_names", None)
    if wanted is not None and not set(wanted) <= set(FEATURE_NAMES):  # before any training: one line
        unknown = sorted(set(wanted) - set(FEATURE_NAMES))
        raise ValueError(
            f"the policy observes training-state features {unknown} that a child run does not compute; its file's "
            f"feature_names must come from {list(FEATURE_NAMES)} (re-export it with train_agent)"
        )


def _train_to_end(
    run: ChildRun,
    policy: torch.nn.Module | None,
    seed: int,
    generator: torch.Generator | None,
    eval_every: int,
    progress_bar: bool,
    on_observe: Callable[[float], None] | None,
) -> None:
    """The training loop: the policy reset to the run's seed, segments of ``eval_every`` batches, the training
    state handed to policies that observe it after each."""
    bar = None
    if progress_bar:
        from tqdm.auto import tqdm

        bar = tqdm(total=run.total_batches, desc=run.preset.name, unit="batch", leave=False)  # a summary line follows
    if policy is not None and hasattr(policy, "reset"):
        # The run's seed: a sampling controller draws per run, as during its search (it drew from a fixed stream
        # before, so every seed got the same draws)
        if isinstance(policy, Augmentation):
            policy.reset(seed)
        else:
            policy.reset()
    if on_observe is not None:
        on_observe(0.0)
    if policy is not None and getattr(policy, "observes_training", False):
        run.evaluate("val")  # as in the env: the first decision sees the untrained model's validation state
        features = run.feature_dict()
        policy.observe(features)
        if on_observe is not None:
            on_observe(float(features["progress"]))
    try:
        while not run.done:
            stats, val = run.segment(eval_every, policy, generator)
            if policy is not None and getattr(policy, "observes_training", False):
                features = run.feature_dict()
                policy.observe(features)  # controllers and heuristics adapt to the training state
                if on_observe is not None:
                    on_observe(float(features["progress"]))
            if bar is not None:
                bar.update(stats["batches"])
                bar.set_postfix(loss=f"{stats['loss']:.3f}", val_acc=f"{val['accuracy']:.3f}")
    finally:  # a run that stops (a diverged loss, Ctrl-C) leaves its bar closed before the error line
        if bar is not None:
            bar.close()


def _run_metrics(run: ChildRun, seed: int, resources: dict, test: bool) -> dict:
    """The JSON-ready metrics of a finished run (train, val and, unless locked, test; cost and resources)."""
    train_metrics = run.evaluate_full("train")
    test_metrics = run.evaluate_full("test") if test else None
    val_metrics = run.evaluate_full("val")
    acct = run.accounting()
    metrics = {
        "preset": run.preset.to_dict(),
        "seed": seed,
        "device": str(run.device),
        "train": train_metrics,
        "val": val_metrics,
        "test": test_metrics,
        "generalization_gap": train_metrics["accuracy"] - (test_metrics or val_metrics)["accuracy"],
        "train_time_s": acct["train_time_s"],
        "aug_time_s": acct["aug_time_s"],
        "eval_time_s": acct["eval_time_s"],
        "wall_time_s": resources["wall_s"],
        "samples_seen": acct["samples_seen"],
        "extra_forward_samples": acct["extra_forward_samples"],
        "child_run_equivalents": acct["child_run_equivalents"],
        "samples_per_s": acct["samples_per_s"],
        "peak_rss_mb": resources["peak_rss_mb"],
        "cpu_utilization": resources["cpu_utilization"],
        "parameters": acct["parameters"],
        "history": run.history,
    }
    for key in ("cuda_max_allocated_mb", "gpu_utilization"):
        if key in resources:
            metrics[key] = resources[key]
    return metrics
