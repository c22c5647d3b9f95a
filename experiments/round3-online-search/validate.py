"""Issue 31, round 3 (PLAN.md): searched online-controller settings against the preset and the free recipes, on
validation seeds only (the test split stays locked).

    POLICY_SEARCH_THREADS=1 python experiments/round3-online-search/validate.py --task mnist-small --workers 2

Runs each method's searches (``train_agent`` on the method's action, search seeds 0-2, skipped where a search folder
holds its summary) and then every policy on the validation seeds of PLAN.md, each run cached in OUT/evals (the
race's own ``val_accuracy``: a rerun continues). Writes OUT/results.json (the method comparisons of the replicated
finals' statistics: each search method's effect over each recipe, search x seed in the CI, Holm over the methods)
and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SEARCH_SEEDS = (0, 1, 2)
VALIDATION_SEEDS = tuple(range(1400, 1415))
# the free recipes each task's finals found best, beside none and the preset (PLAN.md: mnist-small's stage A)
RECIPES = {
    "mnist-small": ("none", "entropy-adaptive", "online-augnet"),
    "cifar10-small": ("none", "flip-crop", "randaugment", "entropy-adaptive", "online-augnet"),
    "imdb-small-long": ("none", "eda", "entropy-adaptive", "online-augnet"),
}
# where each task's round-1 AugNet-16 searches lie (the replicated finals' folders)
ROUND1 = {"mnist-small": "search-b16-rl", "cifar10-small": "search-b16", "imdb-small-long": "search-b16-rl"}
# method -> (train_agent arguments, or None for searches committed elsewhere; where each search's policy lies)
METHODS: dict[str, tuple[list[str] | None, str]] = {
    "augnet-online-16": (
        # --race-reference none: the race these searches ran (no augmentation), kept when train_agent's default changed
        ["--action-kind", "online", "--episodes", "13", "--rescore", "6", "--race-reference", "none"],
        "experiments/round3-online-search/{task}/search/seed{seed}/schedule.json",
    ),
    "augnet-16": (None, "experiments/final-replicated-{task}/{round1}/runs/augnet/seed{seed}/schedule.json"),
    # round 4 (PLAN.md): the same search with the preset holding one of its race's two slots
    "augnet-anchored-16": (
        ["--action-kind", "online", "--episodes", "13", "--rescore", "6", "--race-policies", "online-augnet"],
        "experiments/round3-online-search/{task}/search-anchored/seed{seed}/schedule.json",
    ),
}
# the methods each round compares (its results file); the validation runs are shared (same policies, same seeds)
ROUNDS = {3: (("augnet-online-16", "augnet-16"), "results.json"), 4: (tuple(METHODS), "results-round4.json")}


def search(task: str, method: str, seed: int) -> str:
    """The policy file of one search, run first (train_agent) where the method's searches are this round's."""
    argv, pattern = METHODS[method]
    policy = ROOT / pattern.format(task=task, seed=seed, round1=ROUND1[task])
    if argv is not None and not (policy.parent / "summary.json").exists():
        cmd = [sys.executable, "-m", "policy_search.train_agent", "--task", task, "--seed", str(seed), *argv]
        resume = ["--resume"] if (policy.parent / "config.json").exists() else []  # a search cut off continues
        subprocess.run([*cmd, "--out", str(policy.parent), "--no-progress-bar", *resume], check=True, cwd=ROOT)
    if not policy.exists():
        raise SystemExit(f"{policy} is missing: run that search first (PLAN.md)")
    return str(policy)  # absolute: the workers load it from wherever the script was started


def evaluate(task: str, files: dict[str, str | None], out: Path, workers: int) -> dict[str, dict[int, float]]:
    """Validation score of every (policy, seed), cached in out/evals; ``files``: name -> policy (None: none)."""
    from policy_search.benchmark.race import _evaluate
    from policy_search.dispatch import run_jobs

    data_dir = os.environ.get("POLICY_SEARCH_DATA_DIR")
    cache = {(n, s): out / "evals" / f"{n}-seed{s}.json" for n in files for s in VALIDATION_SEEDS}
    jobs = [(task, files[n], s, str(c), data_dir, None, {}, "auto") for (n, s), c in cache.items() if not c.exists()]
    with tqdm(total=len(cache), initial=len(cache) - len(jobs), desc=f"validation runs on {task}", unit="run") as bar:
        for _ in run_jobs(_evaluate, [(job,) for job in jobs], workers=workers):
            bar.update(1)
    scores: dict[str, dict[int, float]] = {n: {} for n in files}
    for (n, s), c in cache.items():
        scores[n][s] = float(json.loads(c.read_text())["val_accuracy"])
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="mnist-small")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--round", type=int, default=3, choices=sorted(ROUNDS))
    args = parser.parse_args()
    methods, results = ROUNDS[args.round]
    out = HERE / args.task
    if args.task not in RECIPES:
        raise SystemExit(f"--task must be one of {sorted(RECIPES)} (PLAN.md), got {args.task!r}")
    recipes = RECIPES[args.task]
    files: dict[str, str | None] = {r: (None if r == "none" else r) for r in recipes}
    by_method = {m: [f"{m}-s{seed}" for seed in SEARCH_SEEDS] for m in methods}
    todo = [(m, seed, name) for m, names in by_method.items() for seed, name in zip(SEARCH_SEEDS, names, strict=True)]
    with ThreadPoolExecutor(args.workers) as pool:  # the searches side by side, one process (one thread) each
        found = list(pool.map(lambda job: search(args.task, job[0], job[1]), todo))
    files.update({name: file for (_, _, name), file in zip(todo, found, strict=True)})
    scores = evaluate(args.task, files, out, args.workers)
    from policy_search.benchmark.stats import method_comparisons, summarize

    searches = {m: [scores[n] for n in names] for m, names in by_method.items()}
    by_reference, pairs = method_comparisons(searches, {r: scores[r] for r in recipes})
    per_policy = {n: summarize([v[s] for s in VALIDATION_SEEDS]) for n, v in scores.items()}
    spent = {n: _equivalents(f) for n, f in files.items() if f and f.endswith(".json")}
    result = {
        "task": args.task,
        "round": args.round,
        "validation_seeds": list(VALIDATION_SEEDS),
        "files": files,
        "per_policy": per_policy,
        "search_child_run_equivalents": spent,
        "effects": by_reference,
        "pairs": pairs,
    }
    (out / results).write_text(json.dumps(result, indent=1, default=float) + "\n")
    for n, summary in per_policy.items():
        print(f"{n:24s} {100 * summary['mean']:6.2f} ± {100 * summary['half_width']:.2f}  eq {spent.get(n, '')}")
    for r, effects in by_reference.items():
        for m, e in effects.items():
            gains = ", ".join(f"{100 * g:+.2f}" for g in e["search_gains"])
            print(
                f"{m} - {r}: {100 * e['effect']:+.2f} [{100 * e['ci_low']:+.2f}, {100 * e['ci_high']:+.2f}] "
                f"Holm p = {e['p_holm']:.3g} (per search {gains})"
            )
    for name, d in pairs.items():
        print(
            f"{name}: {100 * d['difference']:+.2f} [{100 * d['ci_low']:+.2f}, {100 * d['ci_high']:+.2f}] p = {d['p_holm']:.3g}"
        )


def _equivalents(file: str) -> float | None:
    provenance = json.loads(Path(file).read_text()).get("provenance") or {}
    value = provenance.get("child_run_equivalents")
    return None if value is None else float(value)


if __name__ == "__main__":
    main()
