"""A/B of the online designs on validation (issue 30): one training each, >= 3 seeds, test split locked.

    python experiments/ab-online/run.py --task mnist-small --seeds 300 301 302 --out experiments/ab-online/mnist-small

Designs, each trained once per seed on the task's own budget:
- ``online-augnet`` (design A, single model): the preset, learning inside the run (policy/online.py).
- ``population-2`` (design B, OHL/PBA style with weight sharing): ``train_agent --population 2 --episodes 2`` with
  AugNet deciding the compact action per segment (6 segments), the best member's weights copied to both after each
  segment; the final model is the best member of the last segment (judged on the whole validation split).
- the zero-cost foil ``entropy-adaptive`` and the free recipes ``none`` and ``flip-crop``.
Reported: validation accuracy of the final model (whole validation split), child-run equivalents and wall time.
Every result is cached per (design, seed) in OUT/runs/, so a rerun continues.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

# Round 3's design on images (the preset from round 3 to round 7; "online-augnet" in the results of rounds 3-7): every
# variant below is written as a change to it, so each keeps the meaning it had when its round ran (on text too: the
# text fields say what ops_per_sample / entropy_magnitudes did to text before they were split; round 7's and 8's
# designs are image designs, text at round 3's).
ROUND3: dict = {
    "magnitude_max": 0.9,
    "entropy_magnitudes": True,
    "ops_per_sample": 2,
    "bases": None,
    "magnitude_warmup": 0.0,  # (flat designs only; round 8's default)
    "base_spread": None,  # (rounds 11-13's check, the preset's default since then)
}
# Round 7's design (the preset on images since round 7), as a change to round 3's
MILD: dict = {"entropy_magnitudes": False, "magnitude_max": 0.25, "ops_per_sample": 3, "bases": ["HorizontalFlip"]}
# Rounds 11-13's design (the preset since round 13) as a change to round 3's: round 8's with base_spread 3
SPREAD: dict = {**MILD, "magnitude_warmup": 0.3, "base_spread": 3}
# Earlier online-augnet designs kept runnable beside the preset (round 3 compares the preset with round 2's).
_CHANGES: dict[str, dict] = {
    "online-augnet-r3": {},  # round 3's design itself, beside the round 7 preset
    "online-augnet-r2": {
        "magnitude_target": None,
        "ops_per_sample": 1,
        "text_ops_per_sample": 1,
    },  # round 2 / attempt 6: entropy magnitudes
    # round 4 (the bases): flip and crop at their full rate once their affinity clears the floor, or a lower floor
    "online-augnet-step": {"base_gate": "step"},
    "online-augnet-floor0.8": {"affinity_floor": 0.8},
    "online-augnet-step0.8": {"base_gate": "step", "affinity_floor": 0.8},
    # round 4 (milder): the image ops' maximum magnitude (text keeps its own), or the levels' affinity target
    "online-augnet-m0.5": {"magnitude_max": 0.5},
    "online-augnet-m0.3": {"magnitude_max": 0.3},
    "online-augnet-t0.9": {"magnitude_target": 0.9},
    # round 5 (what TPE-16's policy does differently): no crop (flip the only base), or three ops per sample
    "online-augnet-nocrop": {"bases": ["HorizontalFlip"]},
    "online-augnet-ops3": {"ops_per_sample": 3, "text_ops_per_sample": 3},
    # round 6: every sample at its op's level, not scaled by the entropy rule (the step gate is round 4's variant)
    "online-augnet-flat": {"entropy_magnitudes": False, "text_entropy_magnitudes": False},
    # round 7: TPE-16's scale (a quarter of the range times each op's level, three ops, every sample), flip gate
    "online-augnet-mild": MILD,
    "online-augnet-mild-crop": {"entropy_magnitudes": False, "magnitude_max": 0.25, "ops_per_sample": 3},
    # round 8: round 7's design (the preset) with its flat magnitudes ramped up over the first 30% of training, or
    # scaled by the model's confidence on the batches it trains on
    "online-augnet-warm": {**MILD, "magnitude_warmup": 0.3},
    "online-augnet-conf": {**MILD, "batch_confidence": True},
    # round 9: round 8's design (the preset) judging flip only from 30% of training on, or that with the entropy
    # rule's magnitudes (cap 0.9) over a floor at round 7's flat scale (0.28 x 0.9 = a quarter of the range)
    "online-augnet-late": {**MILD, "magnitude_warmup": 0.3, "base_start": 0.3},
    # round 11: round 8's design (the preset) measuring the bases only while no class takes over 30% of the
    # model's predictions on the clean validation minibatch (a model naming one class keeps its accuracy under a flip)
    "online-augnet-spread": SPREAD,
    # round 12: no measurement at all (bases, ops, levels) while one class takes over 30% of the predictions
    "online-augnet-spread-all": {**SPREAD, "measure_spread": 3},
    # round 13: spread-all with no augmentation either while the check fails (a collapsed model is left to recover)
    "online-augnet-pause": {**SPREAD, "measure_spread": 3, "collapse_pause": True},
    "online-augnet-floor": {
        **MILD,
        "magnitude_warmup": 0.3,
        "base_start": 0.3,
        "entropy_magnitudes": True,
        "magnitude_max": 0.9,
        "magnitude_floor": 0.28,
    },
}
VARIANTS: dict[str, dict] = {name: {**ROUND3, **change} for name, change in _CHANGES.items()}
# Committed searched policies, by a short name (round 4 measures the gap to them on validation)
ROOT = Path(__file__).resolve().parents[2]  # the repository: the files below are found from any folder
FILES: dict[str, str] = {
    "tpe-16": str(ROOT / "experiments/search-cifar10-small/runs/tpe/seed0/best_policy.json"),
    # round 6: TPE-16's policy in its two parts (flip on half the images; RandAugment 3 ops at bin 2 of 10)
    "tpe16-flip": str(ROOT / "experiments/ab-online/round6-policies/tpe16-flip.json"),
    "tpe16-randaugment": str(ROOT / "experiments/ab-online/round6-policies/tpe16-randaugment.json"),
}


def reference_key(design: str) -> str:
    """The harness's key of a design's run files: a preset's name, or a file's content-hashed key (computed once
    per design, not per seed)."""
    if design not in FILES:
        return design
    from policy_search.benchmark.harness import resolve_policy

    return resolve_policy(FILES[design]).key


def stored_run(final: Path, task: str, design: str, key: str, seed: int) -> dict:
    """A design's run on ``seed`` as a pre-registered final stored it (the harness's run file ``key``-seed),
    validation side only. The training does not depend on whether the test split is unlocked, and with the same
    thread setting it is bit-identical (round 4: round 3's design rerun here on seeds 600-614 at one thread matched
    the final's 15 stored validation accuracies exactly; a rerun at another thread count differs). Only the designs
    named by ``--reference-designs`` are read; a missing run or one of another task stops the script."""
    path = final / "runs" / f"{key}-seed{seed}.json"
    if not path.is_file():
        raise SystemExit(f"error: --reference {final} has no run of {design} on seed {seed} ({path.name})")
    run = json.loads(path.read_text())
    if run["protocol"]["task"]["name"] != task or int(run["seed"]) != seed:
        raise SystemExit(
            f"error: {path} is a run of {run['protocol']['task']['name']} seed {run['seed']}, not {task} {seed}"
        )
    return {
        "val_accuracy": run["val"]["accuracy"],
        "child_run_equivalents": run["child_run_equivalents"],
        "wall_s": run["wall_time_s"],
        "stored": str(path),
    }


def run_design(task: str, design: str, seed: int) -> dict:
    if design == "population-2":
        from policy_search.train_agent import TrainConfig, train

        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            cfg = TrainConfig(
                task=task,
                population=2,
                action_kind="compact",  # as it ran (train_agent's default became auto: families on text)
                episodes=2,
                steps_per_episode=6,
                seed=seed,
                out=f"{tmp}/run",
                progress_bar=False,
            )
            train(cfg, argv=[])
            wall = time.perf_counter() - t0
            import csv

            rows = list(csv.DictReader(open(f"{tmp}/run/episodes.csv")))
        return {
            "val_accuracy": max(float(r["final_val_acc"]) for r in rows),
            "child_run_equivalents": 2.0,
            "wall_s": wall,
        }
    from policy_search.child.run import run_child
    from policy_search.policy import load_policy
    from policy_search.policy.online import OnlineAugNet

    if design in VARIANTS:
        policy = OnlineAugNet(**VARIANTS[design])
    else:
        policy = None if design == "none" else load_policy(FILES.get(design, design))
    _, m = run_child(task, seed=seed, policy=policy, test=False)
    return {
        "val_accuracy": m["val"]["accuracy"],
        "child_run_equivalents": m["child_run_equivalents"],
        "wall_s": m["wall_time_s"],
        "op_distribution": policy.op_distribution() if policy is not None else {},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument(
        "--designs", nargs="+", default=["none", "flip-crop", "entropy-adaptive", "online-augnet", "population-2"]
    )
    parser.add_argument("--out", required=True)
    parser.add_argument("--reference", help="a final's folder whose stored runs give --reference-designs")
    parser.add_argument(
        "--reference-designs", nargs="+", default=[], help="designs read from --reference's runs (validation only)"
    )
    args = parser.parse_args()
    if args.reference_designs and not args.reference:
        parser.error("--reference-designs needs --reference (the final whose stored runs they are)")
    keys = {d: reference_key(d) for d in args.reference_designs}
    from policy_search.benchmark.stats import paired_comparison, summarize
    from policy_search.threads import use_all_cores_unless_configured

    use_all_cores_unless_configured()
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[int, dict]] = {d: {} for d in args.designs}
    for seed in args.seeds:
        for design in args.designs:
            path = out / "runs" / f"{design}-seed{seed}.json"
            stored = None
            if design in keys:
                stored = stored_run(Path(args.reference), args.task, design, keys[design], seed)
            if stored is None and not path.exists():
                record = run_design(args.task, design, seed)
                path.write_text(json.dumps(record, indent=1))
            results[design][seed] = stored if stored is not None else json.loads(path.read_text())
            r = results[design][seed]
            print(
                f"{args.task} seed {seed} {design:18s} val {100 * r['val_accuracy']:.2f}% "
                f"eq {r['child_run_equivalents']:.2f} wall {r['wall_s']:.1f}s",
                flush=True,
            )
    summary = {}
    for d in args.designs:
        accs = [results[d][s]["val_accuracy"] for s in args.seeds]
        walls = (
            [results[d][s]["wall_s"] / results["none"][s]["wall_s"] for s in args.seeds] if "none" in results else []
        )
        summary[d] = {
            "val_accuracy": summarize(accs),
            "child_run_equivalents": float(np.mean([results[d][s]["child_run_equivalents"] for s in args.seeds])),
            "wall_vs_none": float(np.mean(walls)) if walls else None,
        }
    comparisons = {}
    for a in [d for d in args.designs if d.startswith("online-augnet") or d == "population-2"]:
        for b in args.designs:
            if a in results and b != a:
                comparisons[f"{a} - {b}"] = paired_comparison(
                    [results[a][s]["val_accuracy"] for s in args.seeds],
                    [results[b][s]["val_accuracy"] for s in args.seeds],
                )
    (out / "results.json").write_text(
        json.dumps(
            {"task": args.task, "seeds": args.seeds, "summary": summary, "comparisons": comparisons, "runs": results},
            indent=1,
            default=str,
        )
    )
    lines = [
        f"# A/B on validation: {args.task}, seeds {args.seeds}",
        "",
        "| design | val acc % (mean ± 95% CI) | child-run eq. | wall × none |",
        "|---|---|---|---|",
    ]
    for d, s in summary.items():
        v = s["val_accuracy"]
        wall = f"{s['wall_vs_none']:.2f}" if s["wall_vs_none"] is not None else "—"
        lines.append(
            f"| {d} | {100 * v['mean']:.2f} ± {100 * v['half_width']:.2f} | {s['child_run_equivalents']:.2f} | {wall} |"
        )
    lines += ["", "| comparison (paired by seed) | mean diff (pp) | p |", "|---|---|---|"]
    for k, c in comparisons.items():
        lines.append(f"| {k} | {100 * c['mean_diff']:+.2f} | {c['p_value']:.3g} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
