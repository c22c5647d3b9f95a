"""The primary comparison of round 7's PLAN.md, as its words define it: each search method (the mean of its three
searches, paired by test seed, the search x seed CI of ``policy_search.benchmark.stats``) against the best free
recipe fixed in advance, on test accuracy, **on the test seeds where no compared run failed to train**. A run failed
if its final validation loss is at least 0.9 x ln(classes): it never left chance (on ``mnist-small`` LeNet-5 now and
then stays at chance from the first batch: 3 of about 3,000 runs in the committed finals, under no augmentation and
under the preset alike). A failed run is a fact about the seed's training, not the policy's effect, and one of them
moves a 142-seed mean by half a point (round 6). The failed runs and the seeds left out are listed; the harness's
all-seeds analysis (``results.json``) is reported beside this one. Written before any run of round 7.

    python experiments/round7-incumbent-mnist-small/primary.py [FOLDER]

FOLDER defaults to this round's; given round 6's folder it prints the same analysis for it, which for round 6 is
post hoc (its plan registered the all-seeds analysis).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from policy_search.benchmark.stats import method_comparisons

HERE = Path(__file__).resolve().parent
STUCK_SHARE = 0.9  # of ln(classes): a final validation loss this high never left chance
REFERENCE = "entropy-adaptive"  # the best free recipe, fixed in advance (PLAN.md)


def _runs(folder: Path) -> dict[tuple[str, int], dict]:
    """(policy name as the harness names it, seed) -> {"acc": test accuracy in points, "stuck": bool}."""
    out = {}
    for path in sorted((folder / "runs").glob("*.json")):
        run = json.loads(path.read_text())
        classes = len(run.get("class_names") or []) or 10
        final_loss = run["history"][-1]["val_loss"] if run.get("history") else math.nan
        stuck = final_loss >= STUCK_SHARE * math.log(classes)
        out[(run["policy"], int(run["seed"]))] = {"acc": 100 * run["test"]["accuracy"], "stuck": stuck}
    return out


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else HERE
    config = json.loads((folder / "config.json").read_text())
    results = json.loads((folder / "results.json").read_text())
    names = {p["source"]: p["name"] for p in results["meta"]["policies"]}  # a file's path -> the harness's name
    runs = _runs(folder)
    methods = {m: [names.get(f, f) for f in files] for m, files in config["methods"].items()}
    methods = {m: files for m, files in methods.items() if all(any(n == f for n, _ in runs) for f in files)}
    compared = {n for files in methods.values() for n in files} | {REFERENCE, "none"}
    seeds = sorted({s for _, s in runs})
    failed = sorted((n, s) for (n, s), r in runs.items() if r["stuck"] and n in compared)
    kept = [s for s in seeds if not any(s == f for _, f in failed)]
    scores = {n: {s: runs[(n, s)]["acc"] / 100 for s in kept if (n, s) in runs} for n in compared}
    by_reference, pairs = method_comparisons(
        {m: [scores[n] for n in files] for m, files in methods.items()}, {b: scores[b] for b in (REFERENCE, "none")}
    )
    out = {"folder": str(folder), "failed_runs": failed, "seeds": len(seeds), "seeds_kept": len(kept),
           "by_reference": by_reference, "pairs": pairs}  # fmt: skip
    target = folder / "primary.json" if folder == HERE else HERE / f"primary-{folder.name}.json"
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(f"{folder}: {len(failed)} failed run(s) {failed}; {len(kept)} of {len(seeds)} seeds kept")
    print("| method | reference | method − reference (points) | 95% CI (search x seed) | p | per search |")
    print("|---|---|---|---|---|---|")
    for ref, table in by_reference.items():
        for m, e in table.items():
            per = ", ".join(f"{100 * g:+.2f}" for g in e["search_gains"])
            print(f"| {m} | {ref} | {100 * e['effect']:+.2f} | [{100 * e['ci_low']:+.2f}, {100 * e['ci_high']:+.2f}] "
                  f"| {e['p_value']:.2g} | {per} |")  # fmt: skip
    for key, e in pairs.items():
        print(f"| {key} | | {100 * e['difference']:+.2f} | [{100 * e['ci_low']:+.2f}, {100 * e['ci_high']:+.2f}] | "
              f"{e['p_value']:.2g} | |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
