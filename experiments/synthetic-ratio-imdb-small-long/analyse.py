"""What README.md's plan reads from the ratio ablation, once its 30 runs are cached (runs/*.json).

    python experiments/synthetic-ratio-imdb-small-long/analyse.py

1. The best synthetic arm, picked on validation accuracy only (the mean over seeds of each run's final validation
   accuracy): the test split plays no part in the pick.
2. Each synthetic arm's test accuracy minus none's, paired by seed, Holm over the four synthetic arms; the picked
   arm's row is the issue's goal ("not significantly worse than none": not p < 0.05 with a negative mean).
3. The filter's effect: filtered minus unfiltered at each ratio, paired by seed (test and validation).

Writes analysis.json beside this script and prints it. The harness's own report (report.md) compares every arm
with the best baseline (none or EDA, whichever is higher on these seeds); this script reads the comparison with
none that the plan names.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from policy_search.benchmark.stats import holm, paired_comparison  # noqa: E402

ARMS = ("long-0.1", "long-0.25", "long-filtered-0.1", "long-filtered-0.25")


def load() -> dict[str, dict[int, dict]]:
    """Arm name (none, eda, or one of ARMS) -> seed -> the run's record."""
    config = json.loads((HERE / "config.json").read_text())
    by_arm: dict[str, dict[int, dict]] = {}
    for path in sorted((HERE / "runs").glob("*.json")):
        record = json.loads(path.read_text())
        name = Path(record["policy"]).stem.removeprefix("synthetic-text-")
        by_arm.setdefault(name, {})[int(record["seed"])] = record
    missing = [(a, s) for a in ("none", "eda", *ARMS) for s in config["seeds"] if s not in by_arm.get(a, {})]
    if missing:
        raise SystemExit(f"runs missing ({len(missing)}, e.g. {missing[0]}): run the benchmark command first")
    return by_arm


def metric(runs: dict[int, dict], split: str, seeds: list[int]) -> list[float]:
    return [100 * runs[s][split]["accuracy"] for s in seeds]


def main() -> None:
    by_arm = load()
    seeds = json.loads((HERE / "config.json").read_text())["seeds"]
    val_means = {a: sum(metric(by_arm[a], "val", seeds)) / len(seeds) for a in ("none", "eda", *ARMS)}
    picked = max(ARMS, key=lambda a: val_means[a])
    none_test = metric(by_arm["none"], "test", seeds)
    rows = {a: paired_comparison(metric(by_arm[a], "test", seeds), none_test) for a in ARMS}
    for arm, p_holm in zip(ARMS, holm([rows[a]["p_value"] for a in ARMS]), strict=True):
        rows[arm]["p_holm"] = p_holm
    filter_effect = {
        ratio: {
            split: paired_comparison(
                metric(by_arm[f"long-filtered-{ratio}"], split, seeds), metric(by_arm[f"long-{ratio}"], split, seeds)
            )
            for split in ("val", "test")
        }
        for ratio in ("0.1", "0.25")
    }
    test_means = {a: sum(metric(by_arm[a], "test", seeds)) / len(seeds) for a in val_means}
    result = {
        "seeds": seeds,
        "validation_accuracy_mean": val_means,
        "test_accuracy_mean": test_means,
        "picked_on_validation": picked,
        "synthetic_minus_none_test": rows,
        "goal_not_significantly_worse": not (rows[picked]["p_holm"] < 0.05 and rows[picked]["mean_diff"] < 0),
        "filtered_minus_unfiltered": filter_effect,
        "command": "python experiments/synthetic-ratio-imdb-small-long/analyse.py",
    }
    (HERE / "analysis.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
