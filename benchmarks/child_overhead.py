"""ChildRun's training throughput against a minimal hand-written PyTorch loop, in one run.

Claim: ChildRun adds no measurable overhead over the plainest loop over the same model, batches and device
(target: ratio >= 0.95). Both sides train the same architecture from the same seed on the same resident uint8
batches (index, normalize, forward, backward, step); they alternate A/B/A/B so drift in machine load hits both,
and the reported ratio is the median of the per-pair ratios.

    python benchmarks/child_overhead.py [--preset cifar10-proxy] [--batches 60] [--pairs 5]

Writes benchmarks/results/child_overhead.json with a top-level ``ratio`` (ChildRun / plain, higher is better).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from policy_search.child.models import build_model
from policy_search.child.run import ChildRun


def plain_loop(run: ChildRun, n_batches: int, seed: int) -> float:
    """Images/s of the plainest loop: same data, model, optimizer settings and batch size as ``run``."""
    p = run.preset
    torch.manual_seed(seed)
    c, h, _ = run.image_shape
    model = build_model(p.model, c, run.num_classes, h).to(run.device)
    opt = (
        torch.optim.SGD(
            model.parameters(), lr=p.lr, momentum=p.momentum, nesterov=p.nesterov, weight_decay=p.weight_decay
        )
        if p.optimizer == "sgd"
        else torch.optim.Adam(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    )
    images, labels = run.splits["train"].images, run.splits["train"].labels
    mean, std = run._mean, run._std
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=g).to(run.device)
    bs = p.batch_size
    t0 = time.perf_counter()
    for i in range(n_batches):
        idx = order[(i * bs) % (len(labels) - bs) :][:bs]
        x = (images.index_select(0, idx).float() - mean) / std
        loss = F.cross_entropy(model(x), labels.index_select(0, idx), label_smoothing=p.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    float(loss)
    return n_batches * bs / (time.perf_counter() - t0)


def child_loop(preset: str, n_batches: int, seed: int, device: str | torch.device) -> tuple[float, ChildRun]:
    run = ChildRun(preset, seed=seed, device=device, allow_test=False)
    t0 = time.perf_counter()
    run.train(n_batches)
    return n_batches * run.preset.batch_size / (time.perf_counter() - t0), run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cifar10-proxy")
    parser.add_argument("--batches", type=int, default=60, help="batches per timed measurement")
    parser.add_argument("--pairs", type=int, default=5, help="A/B pairs")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "child_overhead.json"))
    args = parser.parse_args()
    child_loop(args.preset, 5, 0, args.device)  # warm-up: data cache, allocator, kernels
    pairs = []
    for k in range(args.pairs):
        child_ips, run = child_loop(args.preset, args.batches, k, args.device)
        plain_ips = plain_loop(run, args.batches, k)
        pairs.append(
            {"childrun_images_per_s": child_ips, "plain_images_per_s": plain_ips, "ratio": child_ips / plain_ips}
        )
        print(
            f"pair {k}: ChildRun {child_ips:8.1f} img/s   plain {plain_ips:8.1f} img/s   ratio {child_ips / plain_ips:.3f}"
        )
    result = {
        "ratio": statistics.median(p["ratio"] for p in pairs),
        "target": 0.95,
        "preset": args.preset,
        "batches_per_measurement": args.batches,
        "device": str(run.device),
        "pairs": pairs,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "command": f"python benchmarks/child_overhead.py --preset {args.preset} --batches {args.batches} "
        f"--pairs {args.pairs}",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"median ratio ChildRun / plain loop: {result['ratio']:.3f} (target >= 0.95) -> {args.out}")


if __name__ == "__main__":
    main()
