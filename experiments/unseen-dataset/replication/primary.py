"""The primary comparison of PLAN.md, as its words define it: the default `train_agent --dataset` policy (search
seed 0, ``../search/schedule.json``) against ``none`` and ``trivialaugment`` on test accuracy, paired by test seed,
Holm over those two; met if both differences are positive with Holm p < 0.05. Also prints the same rows for the
secondary policies (search seeds 1 and 2, not in the Holm family of the primary). Written before any test run.

    python experiments/unseen-dataset/replication/primary.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from scipy import stats

from policy_search.benchmark.stats import holm, paired_comparison

HERE = Path(__file__).resolve().parent
PRIMARY = "experiments/unseen-dataset/search/schedule.json"
SECONDARY = [f"experiments/unseen-dataset/replication/search-seed{s}/schedule.json" for s in (1, 2)]
BASELINES = ("none", "trivialaugment")
METRIC = "test_accuracy"


def _rows(score: dict, policy: str, seeds: list[int], baselines: tuple[str, ...] = BASELINES) -> list[dict]:
    rows = []
    for b in baselines:
        pairs = [
            (100 * score[(policy, s)], 100 * score[(b, s)]) for s in seeds if (policy, s) in score and (b, s) in score
        ]
        a, c = [x for x, _ in pairs], [y for _, y in pairs]
        cmp = paired_comparison(a, c)
        d = [x - y for x, y in pairs]
        half = stats.t.ppf(0.975, len(d) - 1) * stats.tstd(d) / math.sqrt(len(d))
        rows.append({"policy": policy, "baseline": b, "n": len(d), "policy_mean": sum(a) / len(a),
                     "baseline_mean": sum(c) / len(c), "diff": cmp["mean_diff"], "ci95": half, "p": cmp["p_value"]})  # fmt: skip
    for row, p in zip(rows, holm([r["p"] for r in rows]), strict=True):
        row["p_holm"] = p
    return rows


def main(here: Path = HERE, primary_policy: str = PRIMARY, secondary_policies: list[str] = SECONDARY,
         versus: tuple[str, ...] = ()) -> int:  # fmt: skip
    """Also used by ../defaults-round6/primary.py (its folder and policies; ``versus``: more baselines of the
    primary policy, outside its Holm family)."""
    results = json.loads((here / "results.json").read_text())
    score = {(r["policy"], r["seed"]): r[METRIC] for r in results["runs"] if r.get(METRIC) is not None}
    seeds = sorted({s for _, s in score})
    primary = _rows(score, primary_policy, seeds)
    secondary = [row for p in secondary_policies for row in _rows(score, p, seeds)]
    secondary += _rows(score, primary_policy, seeds, versus) if versus else []
    met = all(r["diff"] > 0 and r["p_holm"] < 0.05 for r in primary)
    out = {"primary": primary, "goal_met": met, "secondary_per_search": secondary, "seeds": len(seeds)}
    (here / "primary.json").write_text(json.dumps(out, indent=1) + "\n")
    print("| policy | its mean | baseline | its mean | policy - baseline (points) | 95% CI | p | Holm p (2) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in primary + secondary:
        print(f"| {r['policy']} | {r['policy_mean']:.2f} | {r['baseline']} | {r['baseline_mean']:.2f} | "
              f"{r['diff']:+.2f} | ±{r['ci95']:.2f} | {r['p']:.3g} | {r['p_holm']:.3g} |")  # fmt: skip
    print(f"primary (search seed 0 above none and TrivialAugment, Holm p < 0.05): goal met = {met}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
