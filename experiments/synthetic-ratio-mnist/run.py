"""Ablation: test accuracy and generalization gap against the synthetic ratio r, per generator, on mnist-proxy.

    .venv/bin/python experiments/synthetic-ratio-mnist/run.py --seeds 3

Each (generator, r, seed) trains one child with ``run_child`` and the ``synthetic`` policy (r = 0 is the shared
no-augmentation baseline, ``policy=None``). Finished runs are cached in ``OUT/runs/*.json`` and never recomputed,
so the script resumes. The aggregate goes to ``OUT/results.json``, ``OUT/results.csv`` and ``OUT/report.md``.
The generators must be trained first (``python -m policy_search.generative train --dataset mnist --model vae``
and ``--model dcgan``); they are trained on the training split only, never on val or test.

This is a small script rather than ``policy_search.benchmark.run_benchmark`` because the harness was not
committed when the ablation ran, and its policy wrapper does not forward ``labels`` to ``needs_labels`` kinds.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

import torch

from policy_search.child.run import run_child
from policy_search.generative.synthetic import Synthetic

HERE = Path(__file__).resolve().parent
METRICS = ("test_accuracy", "train_accuracy", "generalization_gap", "val_accuracy", "aug_time_s", "wall_time_s")


def run_one(task: str, dataset: str, model: str | None, ratio: float, seed: int, size: str) -> dict:
    policy = None if model is None else Synthetic(model, ratio, dataset=dataset, size=size)
    _, m = run_child(task, seed=seed, device="cpu", policy=policy)
    return {
        "generator": model or "none",
        "ratio": ratio,
        "seed": seed,
        "test_accuracy": m["test"]["accuracy"],
        "train_accuracy": m["train"]["accuracy"],
        "generalization_gap": m["generalization_gap"],
        "val_accuracy": m["val"]["accuracy"],
        "aug_time_s": m["aug_time_s"],
        "wall_time_s": m["wall_time_s"],
        "test_macro_f1": m["test"].get("macro_f1"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="mnist-proxy")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--models", nargs="+", default=["vae", "dcgan"])
    parser.add_argument("--ratios", nargs="+", type=float, default=[0.0, 0.1, 0.2, 0.3, 0.5])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--size", default="proxy", help="generator size (tiny/proxy/full)")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    runs_dir = args.out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    grid = [(None, 0.0)] + [(m, r) for m in args.models for r in args.ratios if r > 0]
    rows = []
    for seed in range(args.seeds):  # seed-major: a partial result already covers every arm
        for model, ratio in grid:
            path = runs_dir / f"{model or 'none'}-r{ratio:g}-seed{seed}.json"
            if path.is_file():
                rows.append(json.loads(path.read_text()))
                continue
            row = run_one(args.task, args.dataset, model, ratio, seed, args.size)
            path.write_text(json.dumps(row, indent=1))
            rows.append(row)
            print(
                f"{path.name}: test {row['test_accuracy']:.4f} gap {row['generalization_gap']:+.4f} "
                f"aug {row['aug_time_s']:.1f}s wall {row['wall_time_s']:.1f}s",
                flush=True,
            )
    summary = []
    for model, ratio in grid:
        sel = [r for r in rows if r["generator"] == (model or "none") and r["ratio"] == ratio]
        entry = {"generator": model or "none", "ratio": ratio, "n": len(sel)}
        for key in METRICS:
            vals = [r[key] for r in sel]
            entry[f"{key}_mean"] = statistics.fmean(vals)
            entry[f"{key}_std"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        summary.append(entry)
    command = "python experiments/synthetic-ratio-mnist/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    (args.out / "results.json").write_text(
        json.dumps(
            {"command": command, "task": args.task, "torch": torch.__version__, "summary": summary, "runs": rows},
            indent=1,
        )
    )
    with open(args.out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)
    lines = [
        f"# Synthetic ratio ablation ({args.task}, {args.seeds} seeds)",
        "",
        f"Command: `{command}`",
        "",
        "| generator | r | test acc (mean ± std) | gap train-test | aug time s | n |",
        "|---|---|---|---|---|---|",
    ]
    for e in summary:
        lines.append(
            f"| {e['generator']} | {e['ratio']:g} | {e['test_accuracy_mean']:.4f} ± {e['test_accuracy_std']:.4f}"
            f" | {e['generalization_gap_mean']:+.4f} ± {e['generalization_gap_std']:.4f}"
            f" | {e['aug_time_s_mean']:.1f} | {e['n']} |"
        )
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
