"""Validation-only diagnostic behind round 6 (PLAN.md): round 5's three race candidates and the preset on 8 more
validation child seeds (3102-3109), to tell the race's seeds from a validation/test shift.

    POLICY_SEARCH_THREADS=2 python experiments/round6-incumbent-mnist-small/diagnostic/run.py

Every run is cached in evals/ (40 runs, about 4 minutes); the table is printed from them.
"""

from pathlib import Path
from statistics import mean

from policy_search.benchmark.race import val_accuracy

HERE = Path(__file__).parent
ROUND5 = Path("experiments/round5-anchored-mnist-small/search")
POLICIES = {
    "s1lead": str(ROUND5 / "seed1/race/candidates/c0.json"),  # RandAugment N=3 M=5 (exported by search 1)
    "s0lead": str(ROUND5 / "seed0/race/candidates/c0.json"),  # RandAugment N=1 M=3 (exported by search 0)
    "s2lead": str(ROUND5 / "seed2/race/candidates/c0.json"),  # RandAugment N=1 M=8 (lost to the preset)
    "preset": "online-augnet",
    "none": None,
}
SEEDS = range(3102, 3110)

if __name__ == "__main__":
    acc = {
        (name, s): 100 * val_accuracy("mnist-small", file, s, HERE / "evals" / f"{name}-{s}.json")
        for s in SEEDS
        for name, file in POLICIES.items()
    }
    print("| policy | " + " | ".join(str(s) for s in SEEDS) + " | mean | − preset (mean, seeds below it) |")
    print("|---" * (len(SEEDS) + 3) + "|")
    for name in POLICIES:
        diff = [acc[(name, s)] - acc[("preset", s)] for s in SEEDS]
        cells = " | ".join(f"{acc[(name, s)]:.2f}" for s in SEEDS)
        below = sum(d < 0 for d in diff)
        print(f"| {name} | {cells} | {mean(acc[(name, s)] for s in SEEDS):.2f} | {mean(diff):+.2f}, {below} of 8 |")
