"""Relative cost of generating one image with each conditional generator, in ops.OP_COST units (Brightness = 1).

Claims header (airbench style): the numbers in policy_search/generative.py `GENERATION_COST` come from this
script, run as `.venv/bin/python benchmarks/generator_costs.py` on the CPU named in
benchmarks/results/generator_costs.json (machine, versions, threads, batch and repeats are recorded there). Each
generator (freshly initialised with its recipe's architecture: cost does not depend on the weights) samples a
batch of `--batch` labelled images, noise draw and uint8 conversion included, exactly as
`TrainedGenerator.sample` does; the figure is the median over `--repeats` rounds of the ratio to that round's
Brightness time on uint8[batch,3,32,32] (the reference of benchmarks/op_costs.py), so load from other processes
shifts numerator and denominator together.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import torch
import torchvision

from policy_search.generative.models import MODEL_KINDS
from policy_search.generative.train import DATASETS, SIZES, TrainedGenerator, _build, generator_config
from policy_search.ops.image import OPS

RESULTS = Path(__file__).resolve().parent / "results" / "generator_costs.json"


def _timed(fn, inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="images per call")
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds; the median ratio is reported")
    parser.add_argument("--inner", type=int, default=3, help="calls per timed run")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: stable on a shared machine)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.batch, 3, 32, 32), dtype=torch.uint8, generator=g)
    factors = torch.full((args.batch,), 1.5)
    labels = torch.arange(args.batch) % 10

    def brightness() -> None:
        OPS["Brightness"](images, factors, None)

    gens = {}
    for dataset in DATASETS:
        for model in MODEL_KINDS:
            for size in SIZES:
                cfg = generator_config(dataset, model, size)
                meta = {
                    "dataset": dataset,
                    "model": model,
                    "size": size,
                    "seed": 0,
                    "epoch": 0,
                    "config": {"latent_dim": cfg.latent_dim},
                }
                gens[(dataset, model, size)] = TrainedGenerator(_build(dataset, model, cfg, 0), meta)
    for gen in gens.values():  # warm-up
        gen.sample(labels, g)
    ratios: dict[tuple[str, str, str], list[float]] = {k: [] for k in gens}
    seconds: dict[tuple[str, str, str], list[float]] = {k: [] for k in gens}
    for _ in range(args.repeats):
        base = _timed(brightness, args.inner)
        for key, gen in gens.items():
            t = _timed(lambda: gen.sample(labels, g), args.inner)
            seconds[key].append(t)
            ratios[key].append(t / base)
    cost = {"/".join(k): round(statistics.median(v), 1) for k, v in ratios.items()}
    result = {
        "claim": "generation time per image relative to Brightness on uint8 32x32; median of per-round ratios",
        "command": "python benchmarks/generator_costs.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": date.today().isoformat(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
        },
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
        },
        "batch": args.batch,
        "repeats": args.repeats,
        "inner": args.inner,
        "us_per_image": {"/".join(k): round(statistics.median(v) / args.batch * 1e6, 2) for k, v in seconds.items()},
        "generation_cost": cost,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in cost.items():
        print(f"{key:<24}{result['us_per_image'][key]:>10.2f} us/image {value:>8.1f}")
    return result


if __name__ == "__main__":
    main()
