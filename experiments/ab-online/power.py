"""Seeds a test final needs to resolve a design's validation lead over a reference (issue 30, rounds 11-13).

    python experiments/ab-online/power.py --design online-augnet-pause --reference entropy-adaptive \
        experiments/ab-online/round12-mnist-small experiments/ab-online/round13-mnist-small

Reads the A/B's cached runs (OUT/runs/DESIGN-seedS.json) of every folder given, pairs the two designs by seed, and
prints the mean and sd of the paired difference (validation accuracy, points) and the seeds a two-sided paired test
at ``--alpha`` needs for ``--power`` at that mean: n = ((z(1 - alpha/2) + z(power)) sd / mean)^2, plus 2 for the t
distribution's heavier tails. Validation only: no test split is read.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from scipy.stats import norm


def paired(folders: list[str], design: str, reference: str) -> list[float]:
    out = []
    for folder in folders:
        runs = Path(folder) / "runs"
        for path in sorted(runs.glob(f"{design}-seed*.json")):
            seed = path.name.rsplit("-seed", 1)[1].removesuffix(".json")
            other = runs / f"{reference}-seed{seed}.json"
            if other.is_file():
                a, b = (json.loads(p.read_text())["val_accuracy"] for p in (path, other))
                out.append(100 * (a - b))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--design", required=True)
    parser.add_argument("--reference", default="entropy-adaptive")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--power", type=float, default=0.8)
    args = parser.parse_args()
    diffs = paired(args.folders, args.design, args.reference)
    if len(diffs) < 3:
        raise SystemExit(f"error: {len(diffs)} paired runs of {args.design} and {args.reference}; need at least 3")
    mean, sd = statistics.mean(diffs), statistics.stdev(diffs)
    z = norm.ppf(1 - args.alpha / 2) + norm.ppf(args.power)
    need = math.ceil((z * sd / mean) ** 2) + 2 if mean > 0 else None
    print(
        f"{args.design} - {args.reference}: {len(diffs)} seeds, mean {mean:+.2f} pp, sd {sd:.2f}, "
        f"lowest {min(diffs):+.2f}; seeds needed for {args.power:.0%} power at {args.alpha}: "
        + (str(need) if need else "none (the lead is not positive)")
    )


if __name__ == "__main__":
    main()
