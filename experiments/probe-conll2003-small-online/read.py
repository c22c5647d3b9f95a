"""The probe's reading, as README.md's rule defines it (written before the race finished): each candidate's
validation entity F1 gain over the pair (LwTR 0.3 + MR 0.3), paired by seed, and whether the better of the two
`online-augnet` variants leads the pair and the entropy rule on average (a round-4 final iff both).

    python experiments/probe-conll2003-small-online/read.py
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from scipy import stats

HERE = Path(__file__).resolve().parent
ONLINE = ("online-lwtr-mr", "online-entities-lwtr-mr")
ENTROPY = "entropy-lwtr-mr"


def _summary(diffs: list[float]) -> dict:
    n = len(diffs)
    half = stats.t.ppf(0.975, n - 1) * statistics.stdev(diffs) / math.sqrt(n) if n > 1 else math.nan
    return {"mean": statistics.fmean(diffs), "ci95": half, "n": n, "ahead": sum(d > 0 for d in diffs)}


def main() -> int:
    race = json.loads((HERE / "race" / "race.json").read_text())
    gains = {c["name"]: c["gains"] for c in race["candidates"]}
    rows = {name: _summary(g) for name, g in gains.items()}
    print("| candidate | gain over the pair (F1 points) | 95% CI | seeds ahead |")
    print("|---|---|---|---|")
    for name, r in sorted(rows.items(), key=lambda kv: -kv[1]["mean"]):
        print(f"| {name} | {r['mean']:+.2f} | ±{r['ci95']:.2f} | {r['ahead']} of {r['n']} |")
    best = max(ONLINE, key=lambda n: rows[n]["mean"])
    versus = _summary([a - b for a, b in zip(gains[best], gains[ENTROPY], strict=True)])
    final = rows[best]["mean"] > 0 and versus["mean"] > 0
    print(f"better online variant: {best}; over the entropy rule {versus['mean']:+.2f} ±{versus['ci95']:.2f} "
          f"({versus['ahead']} of {versus['n']} seeds); round-4 final by the rule: {final}")  # fmt: skip
    out = {"candidates": rows, "online": best, "online_minus_entropy": versus, "final": final}
    (HERE / "reading.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
