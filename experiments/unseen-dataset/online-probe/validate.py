"""Issue 31, third goal, a validation probe (PLAN.md beside this file): the online-augnet preset, one training with
no search, on the never-seen digits against no augmentation, TrivialAugment, the entropy rule and the default
search's policy, on validation seeds only (the test split stays locked).

    POLICY_SEARCH_THREADS=1 python experiments/unseen-dataset/online-probe/validate.py --data /work/unseen-data/sklearn-digits

Every run is cached in online-probe/evals (the race's own ``val_accuracy``); writes online-probe/results.json and
prints each policy's mean and each paired comparison (Holm over the comparisons against the preset).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from tqdm import tqdm

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
SEEDS = tuple(range(1500, 1520))
POLICIES: dict[str, str | None] = {
    "online-augnet": "online-augnet",
    "none": None,
    "trivialaugment": "trivialaugment",
    "entropy-adaptive": "entropy-adaptive",
    "search-schedule": str(ROOT / "experiments/unseen-dataset/search/schedule.json"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the digits folder written by make_data.py")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from policy_search.benchmark.race import _evaluate
    from policy_search.benchmark.stats import holm, paired_comparison, summarize
    from policy_search.child.tasks import run_overrides
    from policy_search.dispatch import run_jobs

    child = run_overrides({"image_size": 16}, str(Path(args.data).resolve()))  # the recipe on this data, at 16x16
    data_dir = os.environ.get("POLICY_SEARCH_DATA_DIR")
    cache = {(n, s): HERE / "evals" / f"{n}-seed{s}.json" for n in POLICIES for s in SEEDS}
    jobs = [("mnist-small", POLICIES[n], s, str(c), data_dir, None, child, "auto") for (n, s), c in cache.items()]
    todo = [(job,) for job in jobs if not Path(job[3]).exists()]
    with tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="validation runs", unit="run") as bar:
        for _ in run_jobs(_evaluate, todo, workers=args.workers):
            bar.update(1)
    scores = {n: [float(json.loads(cache[(n, s)].read_text())["val_accuracy"]) for s in SEEDS] for n in POLICIES}
    others = [n for n in POLICIES if n != "online-augnet"]
    tests = {n: paired_comparison(scores["online-augnet"], scores[n]) for n in others}
    for n, p in zip(others, holm([t["p_value"] for t in tests.values()]), strict=True):
        tests[n]["p_holm"] = p
    result = {
        "seeds": list(SEEDS),
        "per_policy": {n: summarize(v) for n, v in scores.items()},
        "online_augnet_minus": tests,
    }
    (HERE / "results.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    for n, v in result["per_policy"].items():
        print(f"{n:18s} {100 * v['mean']:6.2f} ± {100 * v['half_width']:.2f}")
    for n, t in tests.items():
        low, high = 100 * t["boot_low"], 100 * t["boot_high"]
        print(f"online-augnet - {n}: {100 * t['mean_diff']:+.2f} [{low:+.2f}, {high:+.2f}] Holm p = {t['p_holm']:.3g}")


if __name__ == "__main__":
    main()
