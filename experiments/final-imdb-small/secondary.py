"""The secondary analyses PLAN.md registers beside the decision (none of them decides anything).

For each attempt folder given (one ``results.csv`` of the benchmark harness each): the learned policy against
``none`` (paired by seed), how many of its runs end below ``none``'s worst, and every policy's mean test accuracy;
then, when more than one folder is given, the learned policy against ``--pooled-baseline`` pooled over all of them
(descriptive: each attempt was registered and decided on its own seeds).

    python experiments/final-imdb-small/secondary.py experiments/final-imdb-small/attempt9 experiments/final-imdb-small

Statistics come from ``policy_search.benchmark.stats``, the harness's own (paired t-test, seeded bootstrap).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from policy_search.benchmark.stats import paired_comparison, summarize

LEARNED = "experiments/search9-imdb-small/race/schedule.json"


def read(folder: Path) -> dict[str, dict[int, float]]:
    """policy -> seed -> test accuracy (in points) from ``folder/results.csv``."""
    path = folder / "results.csv"
    if not path.is_file():
        sys.exit(f"{path} does not exist: give an attempt folder the benchmark harness has reported into")
    table: dict[str, dict[int, float]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            table.setdefault(row["policy"], {})[int(row["seed"])] = 100 * float(row["test_accuracy"])
    return table


def paired(table: dict[str, dict[int, float]], a: str, b: str) -> str:
    seeds = sorted(set(table[a]) & set(table[b]))
    x, y = [table[a][s] for s in seeds], [table[b][s] for s in seeds]
    c = paired_comparison(x, y)
    diff = summarize([u - v for u, v in zip(x, y)])
    wins = sum(u > v for u, v in zip(x, y))
    return (
        f"{c['mean_diff']:+.2f} ± {diff['half_width']:.2f} points (bootstrap [{c['boot_low']:+.2f}, "
        f"{c['boot_high']:+.2f}]), p = {c['p_value']:.3g}, better on {wins}/{len(seeds)} seeds, "
        f"sd of differences {diff['std']:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="attempt folders holding a results.csv")
    parser.add_argument("--learned", default=LEARNED, help="the learned policy's name in results.csv")
    parser.add_argument("--pooled-baseline", default="eda", help="baseline for the pooled comparison")
    args = parser.parse_args(argv)
    tables = [read(folder) for folder in args.folders]
    for folder, table in zip(args.folders, tables):
        if args.learned not in table or "none" not in table:
            sys.exit(f"{folder}/results.csv lacks {args.learned!r} or 'none': pass --learned with its name there")
        print(f"## {folder}")
        for name, runs in table.items():
            s = summarize(list(runs.values()))
            print(f"  {name}: {s['mean']:.2f} ± {s['half_width']:.2f} (n = {s['n']})")
        print(f"  learned vs none: {paired(table, args.learned, 'none')}")
        worst = min(table["none"].values())
        below = sum(v < worst for v in table[args.learned].values())
        print(f"  learned runs below none's worst ({worst:.2f}): {below} of {len(table[args.learned])}")
    if len(tables) > 1:
        pooled: dict[str, dict[int, float]] = {}
        for table in tables:
            for name in (args.learned, args.pooled_baseline):
                for seed, value in table[name].items():
                    if seed in pooled.get(name, {}):
                        sys.exit(f"seed {seed} of {name} appears in two folders: pool attempts with distinct seeds")
                    pooled.setdefault(name, {})[seed] = value
        print(f"## pooled over {len(tables)} attempts (descriptive)")
        print(f"  learned vs {args.pooled_baseline}: {paired(pooled, args.learned, args.pooled_baseline)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
