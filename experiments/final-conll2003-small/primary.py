"""The primary comparison of PLAN.md, as its words define it: the searched policy against each of the seven
baselines (none, EDA, mention replacement, and the four Dai & Adel files), paired by test seed on entity F1, Holm
over those seven; the primary contrast is against the baseline with the highest mean. (The harness's own
``best_baseline`` ranks presets only: the four baselines given as files count as policies under test there, so this
script reads the plan's definition from ``results.json`` rather than the report's table.) Written before any test
result was read.

    python experiments/final-conll2003-small/primary.py
    python experiments/final-conll2003-small/primary.py --folder experiments/final-conll2003-small-round3

``--folder`` reads another final of the same plan (round 3: its PLAN.md's primary is this comparison, over its six
baselines); primary.json is written into that folder. ``--searched`` names the policy under test where it is not a
search's ``schedule.json`` (a controller that learns inside the run).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from scipy import stats

from policy_search.benchmark.stats import holm, paired_comparison

HERE = Path(__file__).resolve().parent
SEARCHED = "experiments/final-conll2003-small/search/runs/augnet/seed0/schedule.json"
METRIC = "test_entity_f1"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=HERE, help="the final's folder (results.json; default: here)")
    parser.add_argument(
        "--searched", default=None, help="the policy under test as results.json names it (default: its schedule.json)"
    )
    args = parser.parse_args()
    folder = args.folder
    results = json.loads((folder / "results.json").read_text())
    names = {p["name"] for p in results["meta"]["policies"]}
    if args.searched is not None and args.searched not in names:
        raise SystemExit(f"--searched {args.searched!r} is not a policy of {folder}/results.json: {sorted(names)}")
    searched = args.searched or next(n for n in names if n.endswith("schedule.json") or n == SEARCHED)
    baselines = sorted(n for n in names if n != searched)
    score = {(r["policy"], r["seed"]): r[METRIC] for r in results["runs"] if r.get(METRIC) is not None}
    seeds = sorted({s for _, s in score})
    rows = []
    for b in baselines:
        pairs = [(score[(searched, s)], score[(b, s)]) for s in seeds if (searched, s) in score and (b, s) in score]
        a, c = [100 * x for x, _ in pairs], [100 * y for _, y in pairs]
        cmp = paired_comparison(a, c)
        d = [x - y for x, y in zip(a, c, strict=True)]
        half = stats.t.ppf(0.975, len(d) - 1) * stats.tstd(d) / math.sqrt(len(d)) if len(d) > 1 else math.nan
        rows.append({"baseline": b, "baseline_mean": sum(c) / len(c), "n": len(d), "diff": cmp["mean_diff"],
                     "ci95": half, "p": cmp["p_value"]})  # fmt: skip
    for row, p in zip(rows, holm([r["p"] for r in rows]), strict=True):
        row["p_holm"] = p
    best = max(rows, key=lambda r: r["baseline_mean"])
    mean_searched = 100 * sum(score[(searched, s)] for s in seeds if (searched, s) in score) / len(seeds)
    out = {"searched": searched, "searched_mean": mean_searched, "best_baseline": best["baseline"], "rows": rows,
           "goal_met": bool(best["diff"] > 0 and best["p_holm"] < 0.05)}  # fmt: skip
    (folder / "primary.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"searched policy: {mean_searched:.2f} entity F1 (mean over {len(seeds)} test seeds)")
    print(f"| baseline | its mean | searched - it (points) | 95% CI | p | Holm p ({len(rows)}) |")
    print("|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: -r["baseline_mean"]):
        print(f"| {r['baseline']} | {r['baseline_mean']:.2f} | {r['diff']:+.2f} | ±{r['ci95']:.2f} | {r['p']:.3g} | "
              f"{r['p_holm']:.3g} |")  # fmt: skip
    print(f"primary (against {best['baseline']}, the best baseline): goal met = {out['goal_met']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
