"""Writes config.json of round 2's test (PLAN.md) once rerace.py has run: the six round-2 policies (methods
``augnet-16-r2``, ``tpe-16-r2``), the round-1 policy of every search whose round-2 race picked another (so both rounds
are paired on the same seeds; as policies, not methods: amended before any test run, PLAN.md), and the free recipes;
fresh test seeds 720-731. Reads validation results only (which policy each race exported).

    python experiments/round2-cifar10-small/make_config.py
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = "experiments/round2-cifar10-small"
ROUND1 = "experiments/final-replicated-cifar10-small/search-b16/runs"
PICKED = {"augnet": "schedule.json", "tpe": "best_policy.json"}
RECIPES = ["none", "flip-crop", "randaugment", "trivialaugment", "autoaugment-cifar10", "progress-heuristic"]


def _body(path: str) -> str:
    return json.dumps(json.loads((ROOT / path).read_text())["body"], sort_keys=True)


def main() -> int:
    methods: dict[str, list[str]] = {}
    changed: list[str] = []  # round 1's pick of each search whose round-2 race picked another
    for method, name in PICKED.items():
        new = [f"{HERE}/search-b16/runs/{method}/seed{s}/{name}" for s in range(3)]
        old = [f"{ROUND1}/{method}/seed{s}/{name}" for s in range(3)]
        methods[f"{method}-16-r2"] = new
        changed += [b for a, b in zip(new, old, strict=True) if _body(a) != _body(b)]
    # the harness takes each file in one method only: round 1's methods are read from the per-policy runs
    # (its unchanged searches share round 2's files; the report's head-to-head pairs the changed ones), not as methods
    policies = [p for files in methods.values() for p in files] + changed + RECIPES
    config = {
        "description": "issue 31 round 2 on cifar10-small (PLAN.md): the 16-run searches with the ablation race "
        "(--race-ablate 1) against the free recipes and round 1's picks on fresh test seeds",
        "task": "cifar10-small",
        "policies": policies,
        "methods": methods,
        "seeds": list(range(720, 732)),
        "out": HERE,
        "adaptive_baseline": True,
        "robustness_samples": 0,
    }
    (ROOT / HERE / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    print(f"{len(policies) + 1} policies x 12 seeds -> {HERE}/config.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
