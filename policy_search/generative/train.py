"""Train, cache and sample class-conditional generators (VAE, DCGAN) used as a synthetic-data augmentation.

Provenance: the VAE follows Kingma & Welling (2014) and the DCGAN Radford et al. (2016), both conditioned on the
class as in Mirza & Osindero (2014); see ``policy_search.generative.models`` for the nets and losses. Both train
with Adam, lr 2e-4, betas (0.5, 0.999) (the DCGAN recipe), on the *training* part of a dataset only
(``load_image_dataset(...).train``: the validation images carved out of it and the test split are never seen),
so synthetic data cannot leak held-out images into a child run.

    python -m policy_search.generative train --dataset mnist --model vae --size proxy --seed 0
    python -m policy_search.generative evaluate --dataset mnist --model vae --out runs/gen-quality

    gen = get_generator("mnist", "dcgan", size="proxy", seed=0)            # trains once, then reuses the cache
    images = gen.sample(labels, torch.Generator().manual_seed(0))           # uint8 [B,1,28,28]

Trained generators are cached by (dataset, model, size, seed) under ``$POLICY_SEARCH_GENERATORS`` or else
``policy_search.child.data.cache_root()/generators/<dataset>-<model>-<size>-seed<seed>/checkpoint.pt``. ``proxy``
sizes train in minutes on a CPU, ``full`` sizes are meant for a GPU, ``tiny`` exists for tests.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from policy_search.child.data import cache_root, load_image_dataset
from policy_search.child.sources import SOURCES
from policy_search.generative.models import MODEL_KINDS, build_generative_model

__all__ = [
    "DATASETS",
    "GENERATION_COST",
    "SIZES",
    "GeneratorCheckpointError",
    "GeneratorConfig",
    "TrainedGenerator",
    "generator_dir",
    "generator_config",
    "get_generator",
    "infer_dataset",
    "relative_cost",
    "train_command",
    "train_generator",
]

FORMAT, VERSION = "policy-search/generator", 1
GENERATORS_ENV = "POLICY_SEARCH_GENERATORS"
# C, H, W, classes of the image datasets generators are built for: the data-source table's image rows
DATASETS: dict[str, tuple[int, int, int, int]] = {
    name: (*src.shape, src.classes) for name, src in SOURCES.items() if src.shape is not None and src.classes
}
SIZES: tuple[str, ...] = ("tiny", "proxy", "full")

# Time to generate one image relative to one Brightness op on a 32x32 uint8 image (ops.OP_COST units), batch 256,
# one CPU thread, inference only. Measured by benchmarks/generator_costs.py (results/generator_costs.json).
GENERATION_COST: dict[tuple[str, str, str], float] = {
    ("mnist", "vae", "tiny"): 8.2,
    ("mnist", "dcgan", "tiny"): 8.5,
    ("mnist", "vae", "proxy"): 21.4,
    ("mnist", "dcgan", "proxy"): 22.4,
    ("mnist", "vae", "full"): 71.9,
    ("mnist", "dcgan", "full"): 59.7,
    ("cifar10", "vae", "tiny"): 10.4,
    ("cifar10", "dcgan", "tiny"): 12.6,
    ("cifar10", "vae", "proxy"): 26.7,
    ("cifar10", "dcgan", "proxy"): 30.4,
    ("cifar10", "vae", "full"): 80.3,
    ("cifar10", "dcgan", "full"): 94.6,
}


class GeneratorCheckpointError(RuntimeError):
    """A generator checkpoint is missing, unfinished, unreadable or made for something else."""


@dataclass(frozen=True)
class GeneratorConfig:
    """How one (dataset, model, size) generator trains. Every field has a default that runs."""

    train_size: int | None = 10_000
    """Stratified subset of the training split (images); None uses all of it."""
    epochs: int = 10
    """Passes over that subset."""
    batch_size: int = 64
    """Images per optimizer step."""
    width: int = 32
    """Channels of the first conv stage (the second has twice as many)."""
    latent_dim: int = 16
    """Size of the latent / noise vector z."""
    lr: float = 2e-4
    """Adam learning rate (Radford et al., 2016)."""
    beta1: float = 0.5
    """Adam beta1 (beta2 is 0.999)."""


_BASE = {
    "tiny": GeneratorConfig(train_size=256, epochs=1, batch_size=64, width=8, latent_dim=8),
    "proxy": GeneratorConfig(train_size=10_000, epochs=4, width=32),
    "full": GeneratorConfig(train_size=None, epochs=30, width=64),
}


def generator_config(dataset: str, model: str, size: str = "proxy") -> GeneratorConfig:
    """The training recipe for (dataset, model, size); batch 64 on MNIST, 128 on CIFAR-10 (the seed designs)."""
    _check_key(dataset, model, size)
    cfg = _BASE[size]
    latent = {
        "vae": cfg.latent_dim if size == "tiny" else 16 if size == "proxy" else 32,
        "dcgan": cfg.latent_dim if size == "tiny" else 64 if size == "proxy" else 100,
    }[model]
    return replace(cfg, latent_dim=latent, batch_size=128 if dataset == "cifar10" and size != "tiny" else 64)


def _check_key(dataset: str, model: str, size: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r} for generators; choose one of {', '.join(DATASETS)}")
    if model not in MODEL_KINDS:
        raise ValueError(f"unknown generative model {model!r}; choose one of {', '.join(MODEL_KINDS)}")
    if size not in SIZES:
        raise ValueError(f"unknown generator size {size!r}; choose one of {', '.join(SIZES)}")


def infer_dataset(image_shape: tuple[int, ...]) -> str:
    """'mnist' for [1,28,28], 'cifar10' for [3,32,32] (the trailing three dims of a batch shape)."""
    chw = tuple(int(v) for v in image_shape[-3:])
    for name, (c, h, w, _) in DATASETS.items():
        if chw == (c, h, w):
            return name
    raise ValueError(
        f"cannot tell which generator fits images of shape {chw}; generators exist for "
        + ", ".join(f"{n} {v[:3]}" for n, v in DATASETS.items())
        + "; set dataset= explicitly"
    )


def relative_cost(dataset: str, model: str, size: str = "proxy") -> float:
    """Relative cost of generating one image, in ``ops.OP_COST`` units (Brightness on 32x32 uint8 = 1)."""
    _check_key(dataset, model, size)
    return GENERATION_COST[(dataset, model, size)]


def generators_root() -> Path:
    return Path(os.environ.get(GENERATORS_ENV, cache_root() / "generators")).expanduser()


def generator_dir(dataset: str, model: str, size: str = "proxy", seed: int = 0) -> Path:
    """The cache folder of one trained generator (holds ``checkpoint.pt`` and ``config.json``)."""
    _check_key(dataset, model, size)
    return generators_root() / f"{dataset}-{model}-{size}-seed{int(seed)}"


def train_command(dataset: str, model: str, size: str, seed: int, resume: bool = False) -> str:
    return (
        f"python -m policy_search.generative train --dataset {dataset} --model {model} --size {size} "
        f"--seed {seed}" + (" --resume" if resume else "")
    )


def check_labels(labels: Any, num_classes: int, dataset: str) -> None:
    """The conditioning labels a generator takes: int64 [B] in [0, num_classes)."""
    if not isinstance(labels, Tensor) or labels.dtype != torch.int64 or labels.ndim != 1:
        raise ValueError(
            f"labels must be an int64 tensor [B], got "
            f"{getattr(labels, 'dtype', type(labels).__name__)} {tuple(getattr(labels, 'shape', ()))}"
        )
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}) for {dataset}, got range [{int(labels.min())}, {int(labels.max())}]"
        )


class TrainedGenerator:
    """A trained conditional generator. ``sample(labels int64[B], generator) -> uint8[B,C,H,W]``."""

    def __init__(self, net: torch.nn.Module, meta: dict[str, Any]) -> None:
        self.net = net.eval()
        self.meta = meta
        self.dataset: str = meta["dataset"]
        self.model: str = meta["model"]
        self.size: str = meta["size"]
        self.seed: int = meta["seed"]
        c, h, w, k = DATASETS[self.dataset]
        self.image_shape, self.num_classes = (c, h, w), k
        self.latent_dim: int = meta["config"]["latent_dim"]

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def to(self, device: torch.device | str) -> TrainedGenerator:
        self.net.to(device)
        return self

    @torch.no_grad()
    def sample(self, labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """uint8[B,C,H,W] images conditioned on ``labels`` (int64[B]), returned on the labels' device.

        The noise comes from ``generator`` (on its device, then moved), so a seeded generator gives the same
        images; the net runs in eval mode, so each image depends only on its own label and noise.
        """
        check_labels(labels, self.num_classes, self.dataset)
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        z = torch.randn(labels.shape[0], self.latent_dim, generator=g, device=g.device).to(self.device)
        out = self.net.generate(z, labels.to(self.device))
        return (out * 255.0).round_().clamp_(0, 255).to(torch.uint8).to(labels.device)

    def __repr__(self) -> str:
        return (
            f"TrainedGenerator(dataset={self.dataset!r}, model={self.model!r}, size={self.size!r}, "
            f"seed={self.seed}, epochs={self.meta['epoch']})"
        )


def _optimizers(net: torch.nn.Module, model: str, cfg: GeneratorConfig) -> list[torch.optim.Optimizer]:
    def adam(params: Any) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, 0.999))

    if model == "dcgan":
        return [adam(net.discriminator.parameters()), adam(net.generator.parameters())]
    return [adam(net.parameters())]


def _build(dataset: str, model: str, cfg: GeneratorConfig, seed: int) -> torch.nn.Module:
    c, h, _, k = DATASETS[dataset]
    with torch.random.fork_rng(devices=[]):  # seeded init without disturbing the caller's global RNG
        torch.manual_seed(seed)
        return build_generative_model(model, c, h, k, cfg.width, cfg.latent_dim)


def _save_atomic(obj: dict[str, Any], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a run killed mid-write leaves the previous epoch's checkpoint intact


def _train_epoch(
    net: torch.nn.Module,
    model: str,
    opts: list[torch.optim.Optimizer],
    images: Tensor,
    labels: Tensor,
    cfg: GeneratorConfig,
    g: torch.Generator,
    bar: Any,
) -> dict[str, float]:
    net.train()
    order = torch.randperm(len(images), generator=g)
    sums: dict[str, float] = {}
    steps = len(images) // cfg.batch_size
    for i in range(steps):
        idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
        x, y = images[idx].float() / 255.0, labels[idx]
        if model == "vae":
            loss = net.loss(x, y, g)
            opts[0].zero_grad(set_to_none=True)
            loss.backward()
            opts[0].step()
            losses = {"loss": loss.item()}
        else:
            x = x * 2.0 - 1.0  # tanh range
            fake = net.fake(y, g)
            d_loss = net.discriminator_loss(x, fake, y)
            opts[0].zero_grad(set_to_none=True)
            d_loss.backward()
            opts[0].step()
            g_loss = net.generator_loss(fake, y)
            opts[1].zero_grad(set_to_none=True)
            g_loss.backward()
            opts[1].step()
            losses = {"d_loss": d_loss.item(), "g_loss": g_loss.item()}
        for key, value in losses.items():
            sums[key] = sums.get(key, 0.0) + value
        if bar is not None:
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
    return {k: v / max(steps, 1) for k, v in sums.items()}


def train_generator(
    dataset: str,
    model: str,
    out: str | os.PathLike[str] | None = None,
    *,
    size: str = "proxy",
    seed: int = 0,
    epochs: int | None = None,
    data_dir: str | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainedGenerator:
    """Train a generator on the training split of ``dataset``; checkpoint to ``out/checkpoint.pt`` every epoch.

    ``out`` defaults to the cache folder; when it is elsewhere, the finished checkpoint is also copied into the
    cache so ``get_generator`` finds it. ``resume`` continues from ``out/checkpoint.pt`` (same key and recipe);
    without that file it raises ``GeneratorCheckpointError`` rather than start from scratch.
    """
    cfg = generator_config(dataset, model, size)
    if epochs is not None:
        cfg = replace(cfg, epochs=int(epochs))
    out_dir = Path(out) if out is not None else generator_dir(dataset, model, size, seed)
    path = out_dir / "checkpoint.pt"
    if resume and not path.is_file():  # never silently from scratch when asked to continue
        raise GeneratorCheckpointError(
            f"resume: no checkpoint at {path} to continue from; train without resume to start from scratch"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    data = load_image_dataset(dataset, data_dir).train  # never .val or .test: they stay held out
    if cfg.train_size is not None and cfg.train_size < len(data):
        data = data.subset(cfg.train_size, seed=seed)
    net = _build(dataset, model, cfg, seed)
    opts = _optimizers(net, model, cfg)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "dataset": dataset,
        "model": model,
        "size": size,
        "seed": int(seed),
        "config": asdict(cfg),
        "epoch": 0,
        "history": [],
    }
    if resume:
        meta.update(_resume(path, net, opts, dataset, model, size, seed))
    (out_dir / "config.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "history"}, indent=2))
    _train_epochs(net, model, opts, data, cfg, meta, path, progress)
    cache = generator_dir(dataset, model, size, seed)
    if out_dir.resolve() != cache.resolve() and epochs is None:  # only the standard recipe enters the cache
        cache.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, cache / "checkpoint.pt")
        shutil.copyfile(out_dir / "config.json", cache / "config.json")
    return TrainedGenerator(net.eval(), meta)


def _resume(path: Path, net, opts, dataset: str, model: str, size: str, seed: int) -> dict[str, Any]:
    """Load a checkpoint's weights and optimizer states into ``net`` and ``opts``; returns its epoch and history.
    A file of the wrong structure (an edited one) is one line, like an unreadable one."""
    ckpt = _read(path, dataset, model, size, seed, need_complete=False)
    try:
        net.load_state_dict(ckpt["state"])
        for opt, state in zip(opts, ckpt["optimizers"], strict=True):
            opt.load_state_dict(state)
        epoch, history = int(ckpt["epoch"]), list(ckpt["history"])
        if isinstance(ckpt["epoch"], bool) or not isinstance(ckpt["epoch"], int) or epoch < 0:
            raise TypeError(f"epoch is {ckpt['epoch']!r}")
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc).strip().splitlines()[0][:160]
        raise GeneratorCheckpointError(
            f"{path} is not a generator checkpoint this run can resume ({type(exc).__name__}: {what}); move it "
            "aside and train again without --resume"
        ) from None
    return {"epoch": epoch, "history": history}


def _train_epochs(net, model: str, opts, data, cfg, meta: dict[str, Any], path: Path, progress: bool) -> None:
    """Train from ``meta["epoch"]`` to ``cfg.epochs``, saving the checkpoint (with ``meta``) after each epoch."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        steps = len(data) // cfg.batch_size
        bar = tqdm(
            total=steps * cfg.epochs,
            initial=steps * meta["epoch"],
            desc=f"{meta['dataset']}-{model}-{meta['size']}",
            unit="batch",
        )
    for epoch in range(meta["epoch"], cfg.epochs):
        # One generator per (seed, epoch): a resumed run draws exactly what an uninterrupted one would.
        g = torch.Generator().manual_seed(int(meta["seed"]) * 100_003 + epoch)
        stats = _train_epoch(net, model, opts, data.images, data.labels, cfg, g, bar)
        meta["epoch"] = epoch + 1
        meta["history"].append({"epoch": epoch + 1, **stats})
        _save_atomic({**meta, "state": net.state_dict(), "optimizers": [o.state_dict() for o in opts]}, path)
    if bar is not None:
        bar.close()


def _read(path: Path, dataset: str, model: str, size: str, seed: int, need_complete: bool = True) -> dict[str, Any]:
    """Load and validate a checkpoint for the key; errors say which command makes a good one."""
    fix = f"run `{train_command(dataset, model, size, seed)}`"
    if not path.is_file():
        raise GeneratorCheckpointError(
            f"no trained {model} generator for {dataset} (size {size}, seed {seed}) at "
            f"{path}; {fix} (or call get_generator(..., train_if_missing=True))"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        raise GeneratorCheckpointError(
            f"generator checkpoint {path} cannot be read ({exc}); delete it and {fix}"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or ckpt.get("version") != VERSION:
        raise GeneratorCheckpointError(f"{path} is not a {FORMAT} v{VERSION} checkpoint; delete it and {fix}")
    want = {"dataset": dataset, "model": model, "size": size, "seed": int(seed)}
    got = {k: ckpt.get(k) for k in want}
    cfg = asdict(generator_config(dataset, model, size))
    same_recipe = {k: v for k, v in ckpt.get("config", {}).items() if k != "epochs"} == {
        k: v for k, v in cfg.items() if k != "epochs"
    }
    if got != want or not same_recipe:
        raise GeneratorCheckpointError(
            f"generator checkpoint {path} is incompatible: it holds {got} with recipe "
            f"{ckpt.get('config')}, expected {want} with {cfg}; delete it and {fix}"
        )
    if need_complete and ckpt["epoch"] < ckpt["config"]["epochs"]:
        raise GeneratorCheckpointError(
            f"generator checkpoint {path} is unfinished (epoch {ckpt['epoch']} of "
            f"{ckpt['config']['epochs']}); run `{train_command(dataset, model, size, seed, True)}`"
        )
    return ckpt


_LOADED: dict[tuple[str, str, str, int, str], TrainedGenerator] = {}


def get_generator(
    dataset: str,
    model: str,
    size: str = "proxy",
    seed: int = 0,
    train_if_missing: bool = True,
    *,
    data_dir: str | None = None,
    progress: bool = True,
) -> TrainedGenerator:
    """The cached generator for (dataset, model, size, seed); trains (or finishes) it first if allowed.

    Raises ``GeneratorCheckpointError`` naming the command to run when the checkpoint is missing, unfinished or
    incompatible and ``train_if_missing`` is False. Loaded generators are kept in memory per process.
    """
    _check_key(dataset, model, size)
    path = generator_dir(dataset, model, size, seed) / "checkpoint.pt"
    key = (dataset, model, size, int(seed), str(path))
    if key in _LOADED:
        return _LOADED[key]
    try:
        ckpt = _read(path, dataset, model, size, seed)
    except GeneratorCheckpointError:
        if not train_if_missing:
            raise
        trained = train_generator(
            dataset, model, None, size=size, seed=seed, data_dir=data_dir, resume=path.is_file(), progress=progress
        )
        _LOADED[key] = trained
        return trained
    cfg = GeneratorConfig(**ckpt["config"])
    net = _build(dataset, model, cfg, seed)
    net.load_state_dict(ckpt["state"])
    meta = {k: v for k, v in ckpt.items() if k not in ("state", "optimizers")}
    _LOADED[key] = TrainedGenerator(net, meta)
    return _LOADED[key]
