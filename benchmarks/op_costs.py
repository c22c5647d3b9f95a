"""Relative cost coefficient of each op kernel: time per image relative to Brightness (= 1.0), Identity = 0.

Claims header (airbench style): the numbers in policy_search/ops.py `OP_COST` come from this script, run as
`.venv/bin/python benchmarks/op_costs.py` on the CPU named in benchmarks/results/op_costs.json (machine, torch and
torchvision versions, thread count, batch, repeats are all recorded there). Each kernel runs on uint8[256,3,32,32]
CIFAR-shaped batches with mid-range per-sample parameters; the figure is the median over `--repeats` timed runs
(each of `--inner` calls, ops interleaved round-robin) of the ratio to that round's Brightness time. Costs are ratios, so they transfer across machines better than times;
they are a deterministic cost model for the RL reward, not a promise of wall-clock speed.
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

from policy_search.ops.image import OP_NAMES, OPS, magnitude_to_param

RESULTS = Path(__file__).resolve().parent / "results" / "op_costs.json"


def time_call(kernel, images: torch.Tensor, params: torch.Tensor, aux: torch.Tensor, inner: int) -> float:
    """Seconds per call of kernel, averaged over `inner` back-to-back calls."""
    if images.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(inner):
        kernel(images, params, aux)
    if images.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / inner


def measure(
    images: torch.Tensor, params: dict[str, torch.Tensor], aux: torch.Tensor, repeats: int, inner: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Median seconds per call and median cost ratio to Brightness, per op.

    Ops are timed round-robin within each repeat and each round's times are divided by that round's Brightness
    time, so load from other processes on a shared machine shifts numerator and denominator together.
    """
    for op in OP_NAMES:  # warm-up: allocator, lazy init, CUDA context
        for _ in range(2):
            OPS[op](images, params[op], aux)
    times: dict[str, list[float]] = {op: [] for op in OP_NAMES}
    ratios: dict[str, list[float]] = {op: [] for op in OP_NAMES}
    for _ in range(repeats):
        round_times = {op: time_call(OPS[op], images, params[op], aux, inner) for op in OP_NAMES}
        for op, seconds in round_times.items():
            times[op].append(seconds)
            ratios[op].append(seconds / round_times["Brightness"])
    return (
        {op: statistics.median(v) for op, v in times.items()},
        {op: statistics.median(v) for op, v in ratios.items()},
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="images per kernel call")
    parser.add_argument("--repeats", type=int, default=25, help="timed rounds over all ops; the median is reported")
    parser.add_argument("--inner", type=int, default=5, help="kernel calls per timed run")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: stable on a shared machine)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.batch, 3, 32, 32), dtype=torch.uint8, generator=generator).to(args.device)
    magnitude = torch.rand(args.batch, generator=generator)
    sign = torch.where(torch.rand(args.batch, generator=generator) < 0.5, -1.0, 1.0)
    aux = torch.rand(args.batch, 2, generator=generator).to(args.device)

    params = {op: magnitude_to_param(op, magnitude, sign, "standard", (32, 32)).to(args.device) for op in OP_NAMES}
    seconds, ratio = measure(images, params, aux, args.repeats, args.inner)
    cost = {op: 0.0 if op == "Identity" else round(ratio[op], 2) for op in OP_NAMES}

    result = {
        "claim": "kernel time per image relative to Brightness; median over repeats of per-round ratios",
        "command": "python benchmarks/op_costs.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": date.today().isoformat(),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "device": args.device, "torch_threads": torch.get_num_threads()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "torchvision": torchvision.__version__},
        "batch_shape": list(images.shape), "repeats": args.repeats, "inner": args.inner,
        "us_per_image": {op: round(s / args.batch * 1e6, 3) for op, s in seconds.items()},
        "op_cost": cost,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(
        f"{'op':<15}{'us/image':>10}{'cost':>8}   ({args.device}, {torch.get_num_threads()} thread(s), "
        f"batch {args.batch}, median of {args.repeats})"
    )
    for op in OP_NAMES:
        print(f"{op:<15}{result['us_per_image'][op]:>10.3f}{cost[op]:>8.2f}")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
