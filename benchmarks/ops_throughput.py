"""Augmentation throughput: our batched policies vs torchvision per image vs Kornia batched, 32x32x3 uint8.

Claims (filled from benchmarks/results/ops_throughput.json of the last run; see benchmarks/README.md for the
figures, the hardware, the software versions and the exact command):
- Result: images/s for TrivialAugmentWide, RandAugment(N=2, M=9 of 31) and AutoAugment-CIFAR10 (op part only, no
  flip-crop), each with per-sample randomness, for (ours) ``policy_search`` policies on batches of 256 with the
  default CPU kernels (the fused numba kernels of ``policy_search/ops_fused.py`` when numba is installed), (ours,
  torch kernels) the same policies with ``POLICY_SEARCH_KERNELS=torch`` (the batched torch path, also the GPU path),
  (a) torchvision.transforms.v2 transforms called once per image in a Python loop (what a DataLoader worker
  does), (b) Kornia's batched ``kornia.augmentation.auto`` policies on batches of 256.
- Hardware and software: recorded in the JSON (CPU model, torch threads, torch/torchvision/kornia versions).
- Runs: one warm-up call, then the median of ``--repeats`` timed calls per implementation, timed round-robin
  (ours, torchvision, Kornia, ours, ...) in one process with the same thread count. With CUDA, ours is also
  timed at batches of 512 and 4096 on the GPU.
- Also: our per-op throughput at batch 256 for both backends (relative to the mean op), and for one
  TrivialAugmentWide slot on the torch path the split of ``ops.apply_ops`` time into kernels and grouping
  overhead, to show where the time goes. ``ops.OP_COST`` itself is calibrated by ``benchmarks/op_costs.py``.

Run: ``POLICY_SEARCH_DATA_DIR=/work/shared/data .venv/bin/python benchmarks/ops_throughput.py`` (about 2 min on
two CPU cores). Kornia is optional (``pip install -e ".[bench]"``); without it that column is skipped.

Fairness notes: Kornia works on float images in [0, 1]; its input is converted once outside the timed region
(favouring Kornia). Ours and torchvision take and return uint8. Sampling time is included everywhere. The
warm-up call is excluded for every implementation; for ours it also hides numba's one-time compile of the fused
kernels (about 5 s in the first process on a machine, then read from numba's on-disk cache in about 0.3 s).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from policy_search.ops import image as ops  # noqa: E402
from policy_search.ops.image import fused as ops_fused
from policy_search.policy import Policy, RandAugment, TrivialAugmentWide  # noqa: E402
from policy_search.policy.presets import policy_preset  # noqa: E402


@dataclass
class Config:
    batch: int = 256
    """images per call for the batched implementations (ours, Kornia)"""
    per_image: int = 256
    """images per timed call of the torchvision per-image loop"""
    repeats: int = 15
    """timed calls per implementation (median reported), after one warm-up call"""
    threads: int = 1
    """torch intra-op threads for every implementation; 0 = torch's default. 1 by default: on a shared machine
    multi-threaded runs of small kernels swing by 10x or more with other processes' load"""
    out: Path = REPO / "benchmarks" / "results"
    """folder for ops_throughput.json and ops_throughput.md"""


def load_images(n: int) -> tuple[torch.Tensor, str]:
    """uint8 [n,3,32,32]: real CIFAR-10 training images if POLICY_SEARCH_DATA_DIR holds them, else random."""
    root = os.environ.get("POLICY_SEARCH_DATA_DIR")
    parquet = Path(root or "/nonexistent") / "cifar10/plain_text/train-00000-of-00002.parquet"
    if parquet.is_file():
        import numpy as np
        import pyarrow.parquet as pq
        from PIL import Image

        cells = pq.ParquetFile(parquet).read_row_group(0).column("img").to_pylist()[:n]
        arrays = [np.asarray(Image.open(io.BytesIO(c["bytes"])).convert("RGB")).transpose(2, 0, 1) for c in cells]
        return torch.from_numpy(np.stack(arrays)).contiguous(), f"CIFAR-10 train ({parquet})"
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g), "random uint8 (no data dir)"


def time_call(fn: Callable[[], object], repeats: int, sync: Callable[[], None] = lambda: None) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_interleaved(
    calls: dict[str, Callable[[], object]], repeats: int, sync: Callable[[], None] = lambda: None
) -> dict[str, float]:
    """Median seconds per call of each implementation, timed round-robin so that load drifting on a shared
    machine hits every implementation alike (one warm-up call each first). ``sync`` waits for queued device work
    (``torch.cuda.synchronize`` on a GPU) before and after each timed call."""
    for fn in calls.values():
        fn()
    sync()
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(repeats):
        for key, fn in calls.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def ours(policy: Policy, images: torch.Tensor, seed: int = 0, kernels: str = "auto") -> Callable[[], object]:
    """One call of ``policy`` with the kernel backend ``kernels`` (auto | fused | torch, see ops_fused)."""
    g = torch.Generator().manual_seed(seed)

    def call() -> object:
        with kernel_backend(kernels):
            return policy(images, generator=g)

    return call


@contextlib.contextmanager
def kernel_backend(name: str) -> Iterator[None]:
    old = os.environ.get("POLICY_SEARCH_KERNELS")
    os.environ["POLICY_SEARCH_KERNELS"] = name
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("POLICY_SEARCH_KERNELS", None)
        else:
            os.environ["POLICY_SEARCH_KERNELS"] = old


def torchvision_per_image(
    transform: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor
) -> Callable[[], object]:
    # torchvision draws from the global RNG; seeding it here keeps the benchmark repeatable.
    torch.manual_seed(0)
    return lambda: [transform(img) for img in images]


def kornia_policies() -> dict[str, Callable[[], torch.nn.Module]] | None:
    try:
        from kornia.augmentation import auto
    except ImportError:
        return None
    return {
        "trivialaugment": lambda: auto.TrivialAugment(),
        "randaugment": lambda: auto.RandAugment(n=2, m=9),
        "autoaugment-cifar10": lambda: auto.AutoAugment("cifar10"),
    }


def per_op_kernels(images: torch.Tensor, repeats: int, kernels: str) -> dict[str, float]:
    """images/s of each op at its mid-range parameter (standard space), all samples active: the public torch
    kernel ``ops.OPS[name]`` (kernels="torch") or the fused kernel with that op in one slot ("fused")."""
    result = {}
    b = images.shape[0]
    half, sign = torch.full((b,), 0.5), torch.ones(b)
    aux = torch.rand(b, 2, generator=torch.Generator().manual_seed(0))
    for k, name in enumerate(ops.OP_NAMES):
        param = ops.magnitude_to_param(name, half, sign, "standard", (32, 32))
        if kernels == "torch":
            call = lambda: ops.OPS[name](images, param, aux)  # noqa: E731
        else:
            index = torch.full((1, b), k)
            call = lambda: ops_fused.apply_slots(images, index, param[None], aux[None])  # noqa: E731
        result[name] = b / time_call(call, repeats)
    return result


def apply_breakdown(policy: Policy, images: torch.Tensor, repeats: int) -> dict[str, float]:
    """Milliseconds of one ``ops.apply_ops`` call on the first slot of a sample, vs its kernels called alone on
    their pre-gathered groups: the difference is the grouping overhead (gather, scatter, small-tensor calls)."""
    params = policy.sample(images, torch.Generator().manual_seed(0))
    op_index, param, aux, mask = params.op_index[0], params.param[0], params.aux[0], params.mask[0]
    with kernel_backend("torch"):
        total = time_call(lambda: ops.apply_ops(images, op_index, param, aux, mask), repeats)
    kernels: dict[str, float] = {}
    for k in torch.unique(op_index[mask]).tolist():
        rows = torch.nonzero(mask & (op_index == k)).squeeze(1)
        x, p, a = images.index_select(0, rows), param.index_select(0, rows), aux.index_select(0, rows)
        kernels[ops.OP_NAMES[k]] = 1000 * time_call(lambda: ops.OPS[ops.OP_NAMES[k]](x, p, a), repeats)
    return {
        "apply_ops_ms": 1000 * total,
        "kernels_ms": sum(kernels.values()),
        "grouping_overhead_ms": 1000 * total - sum(kernels.values()),
        "per_kernel_ms": kernels,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in vars(Config()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    cfg = Config(**vars(parser.parse_args(argv)))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    images, source = load_images(max(cfg.batch, cfg.per_image))
    batch, loop_images = images[: cfg.batch].contiguous(), images[: cfg.per_image]

    from torchvision.transforms import v2

    policies = {
        "trivialaugment": (TrivialAugmentWide(31), lambda: v2.TrivialAugmentWide(num_magnitude_bins=31)),
        "randaugment": (RandAugment(2, 9, 31), lambda: v2.RandAugment(num_ops=2, magnitude=9, num_magnitude_bins=31)),
        "autoaugment-cifar10": (
            policy_preset("autoaugment-cifar10-only"),
            lambda: v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10),
        ),
    }
    korn = kornia_policies()
    if korn is None:
        print("kornia is not installed: skipping the Kornia column (pip install -e '.[bench]' or pip install kornia)")
    float_batch = batch.float().div(255)
    results: dict[str, dict] = {}
    for name, (policy, tv) in policies.items():
        calls = {
            "ours_cpu": (cfg.batch, ours(policy, batch)),
            "ours_cpu_torch_kernels": (cfg.batch, ours(policy, batch, kernels="torch")),
            "torchvision_per_image": (cfg.per_image, torchvision_per_image(tv(), loop_images)),
        }
        if korn is not None:
            aug = korn[name]()
            calls["kornia"] = (cfg.batch, lambda aug=aug: aug(float_batch))
        seconds = time_interleaved({k: fn for k, (_, fn) in calls.items()}, cfg.repeats)
        row: dict[str, float | None] = {k: n / seconds[k] for k, (n, _) in calls.items()}
        row.setdefault("kornia", None)
        row["vs_torchvision_per_image"] = row["ours_cpu"] / row["torchvision_per_image"]
        row["vs_kornia"] = None if row["kornia"] is None else row["ours_cpu"] / row["kornia"]
        row["torch_kernels_vs_torchvision_per_image"] = row["ours_cpu_torch_kernels"] / row["torchvision_per_image"]
        row["torch_kernels_vs_kornia"] = (
            None if row["kornia"] is None else row["ours_cpu_torch_kernels"] / row["kornia"]
        )
        if torch.cuda.is_available():
            sync = torch.cuda.synchronize
            for size in (512, 4096):
                big = images.repeat((size + len(images) - 1) // len(images), 1, 1, 1)[:size].cuda()
                row[f"ours_cuda_b{size}"] = size / time_call(ours(policy, big), cfg.repeats, sync)
        results[name] = row
        print(
            f"{name:22s} "
            + "  ".join(
                f"{k}={v:,.0f}"
                if isinstance(v, float) and k[:2] != "vs"
                else f"{k}={v:.2f}x"
                if isinstance(v, float)
                else f"{k}=n/a"
                for k, v in row.items()
            ),
            flush=True,
        )
    fused_available = ops_fused.numba is not None
    kernels = per_op_kernels(batch, cfg.repeats, "torch")
    fused_kernels = per_op_kernels(batch, cfg.repeats, "fused") if fused_available else None
    mean_time = statistics.mean(1 / v for k, v in kernels.items() if k != "Identity")
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "images": source,
        "image_shape": [3, 32, 32],
        "batch": cfg.batch,
        "per_image_loop": cfg.per_image,
        "repeats": cfg.repeats,
        "statistic": "median images/s after one warm-up call",
        "machine": {
            "platform": platform.platform(),
            "processor": _cpu_name(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            # the machine may be shared: a high load average means noisy, pessimistic figures
            "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": _version("torchvision"),
            "kornia": _version("kornia"),
            "numba": _version("numba"),
        },
        "ours_cpu_kernels": "fused (numba)" if fused_available else "torch (numba not installed)",
        "policies": results,
        "kernels_images_per_s": kernels,
        "fused_kernels_images_per_s": fused_kernels,
        "trivialaugment_apply_breakdown": apply_breakdown(policies["trivialaugment"][0], batch, cfg.repeats),
        "kernels_relative_cost": {k: (1 / v) / mean_time if k != "Identity" else 0.0 for k, v in kernels.items()},
    }
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "ops_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    (cfg.out / "ops_throughput.md").write_text(markdown(report))
    print(markdown(report))
    return report


def markdown(report: dict) -> str:
    lines = [
        f"Images/s, 32x32x3 uint8, {report['images']}, {report['machine']['processor']}, "
        f"{report['machine']['torch_threads']} torch threads, torch {report['versions']['torch']}, torchvision "
        f"{report['versions']['torchvision']}, kornia {report['versions']['kornia']}, numba "
        f"{report['versions']['numba']}; {report['statistic']} of {report['repeats']} runs. "
        f"Command: `{report['command']}`",
        "",
        f"ours = default CPU kernels: {report['ours_cpu_kernels']}; ours (torch kernels) = "
        "`POLICY_SEARCH_KERNELS=torch`, the batched torch path that also runs on GPUs.",
        "",
        f"| policy | ours (batch {report['batch']}) | ours, torch kernels | torchvision per image "
        f"| kornia (batch {report['batch']}) | vs torchvision | vs kornia | torch kernels vs torchvision "
        "| torch kernels vs kornia |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def ratio(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f}x"

    for name, row in report["policies"].items():
        kornia = "n/a" if row["kornia"] is None else f"{row['kornia']:,.0f}"
        lines.append(
            f"| {name} | {row['ours_cpu']:,.0f} | {row['ours_cpu_torch_kernels']:,.0f} "
            f"| {row['torchvision_per_image']:,.0f} | {kornia} | {ratio(row['vs_torchvision_per_image'])} "
            f"| {ratio(row['vs_kornia'])} | {ratio(row['torch_kernels_vs_torchvision_per_image'])} "
            f"| {ratio(row['torch_kernels_vs_kornia'])} |"
        )
    b = report["trivialaugment_apply_breakdown"]
    lines += [
        "",
        f"Torch path, TrivialAugmentWide, one slot at batch {report['batch']}: apply_ops "
        f"{b['apply_ops_ms']:.2f} ms = kernels {b['kernels_ms']:.2f} ms + grouping overhead "
        f"{b['grouping_overhead_ms']:.2f} ms (the fixed cost the fused kernels remove).",
    ]
    fused = report.get("fused_kernels_images_per_s")
    lines += [
        "",
        "Each op alone (batch of all-active samples, mid-range parameter), images/s: the public torch "
        "kernel `ops.OPS[name]` (relative cost = time / mean op time) and the fused kernel.",
        "",
        "| op | torch kernel | relative cost | fused |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, ips in report["kernels_images_per_s"].items():
        fused_ips = "n/a" if fused is None else f"{fused[name]:,.0f}"
        lines.append(f"| {name} | {ips:,.0f} | {report['kernels_relative_cost'][name]:.2f} | {fused_ips} |")
    return "\n".join(lines) + "\n"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except ImportError:
        return None


if __name__ == "__main__":
    main()
