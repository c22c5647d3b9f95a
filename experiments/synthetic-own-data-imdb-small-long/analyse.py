"""What README.md's plan reads from the control, once its 15 runs are cached (runs/*.json).

    python experiments/synthetic-own-data-imdb-small-long/analyse.py

Two comparisons on the test split, paired by seed, Holm over the two:
1. `small` (a generator of the child's own 1,000 reviews) at r = 0.25 minus none: does synthetic text help when the
   generator knows nothing the child does not?
2. `long` (a generator of all 22,500 training reviews) minus `small`, both at r = 0.25: the share of the ablation's
   gain that comes from the labelled reviews the child never sees.
Validation figures beside them. Writes analysis.json beside this script and prints it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from policy_search.benchmark.stats import holm, paired_comparison  # noqa: E402

ARMS = {"none": "none", "long": "synthetic-text-long-0.25", "small": "synthetic-text-small-0.25"}


def load(seeds: list[int]) -> dict[str, dict[int, dict]]:
    """Arm (none, long, small) -> seed -> the run's record; stops naming a missing run."""
    names = {stem: arm for arm, stem in ARMS.items()}
    by_arm: dict[str, dict[int, dict]] = {arm: {} for arm in ARMS}
    for path in sorted((HERE / "runs").glob("*.json")):
        record = json.loads(path.read_text())
        arm = names.get(Path(record["policy"]).stem)
        if arm is not None:
            by_arm[arm][int(record["seed"])] = record
    missing = [(a, s) for a in ARMS for s in seeds if s not in by_arm[a]]
    if missing:
        raise SystemExit(f"runs missing ({len(missing)}, e.g. {missing[0]}): run the benchmark command first")
    return by_arm


def main() -> None:
    seeds = json.loads((HERE / "config.json").read_text())["seeds"]
    by_arm = load(seeds)

    def acc(arm: str, split: str) -> list[float]:
        return [100 * by_arm[arm][s][split]["accuracy"] for s in seeds]

    pairs = {"small_minus_none": ("small", "none"), "long_minus_small": ("long", "small")}
    test = {name: paired_comparison(acc(a, "test"), acc(b, "test")) for name, (a, b) in pairs.items()}
    for name, p_holm in zip(test, holm([r["p_value"] for r in test.values()]), strict=True):
        test[name]["p_holm"] = p_holm
    result = {
        "seeds": seeds,
        "test_accuracy_mean": {a: sum(acc(a, "test")) / len(seeds) for a in ARMS},
        "validation_accuracy_mean": {a: sum(acc(a, "val")) / len(seeds) for a in ARMS},
        "test": test,
        "validation": {name: paired_comparison(acc(a, "val"), acc(b, "val")) for name, (a, b) in pairs.items()},
        "command": "python experiments/synthetic-own-data-imdb-small-long/analyse.py",
    }
    (HERE / "analysis.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
