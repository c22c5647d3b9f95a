"""Round 2 of issue 31 on `cifar10-small` (PLAN.md): the round-1 16-run searches (AugNet and TPE, search seeds
0-2) with the rescore race that round 2 designs: ``--race-ablate 1``, the race's second slot given to the leader
with one part left out. The searches' own runs are the round-1 ones (copied, not rerun: the search part of a
``--race-ablate 1`` search is the same), and the race reruns in the copy through the library's own race code
(``train_agent``'s RaceConfig and ``search``'s ``_rescore``), reading the round-1 race's cached child runs where
they are the same (no augmentation and the leader on the same validation seeds).

    POLICY_SEARCH_THREADS=1 python experiments/round2-cifar10-small/rerace.py
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROUND1 = ROOT / "experiments/final-replicated-cifar10-small/search-b16/runs"
OUT = ROOT / "experiments/round2-cifar10-small/search-b16/runs"
RACE_RESULTS = ("race.json", "config.json", "schedule.json", "race.csv", "race.png", "command.txt", "candidates")


def _copy(method: str, seed: int) -> Path:
    """The round-1 search folder copied, its race's results left out (its cached child runs kept)."""
    src, dst = ROUND1 / method / f"seed{seed}", OUT / method / f"seed{seed}"
    if not dst.exists():
        part = dst.with_name(dst.name + ".part")  # renamed once cleaned: an interrupted copy is redone
        shutil.rmtree(part, ignore_errors=True)
        shutil.copytree(src, part, ignore=shutil.ignore_patterns("*.lock", "*.tmp"))
        _clean(method, part)
        part.rename(dst)
    return dst


def _clean(method: str, dst: Path) -> None:
    """Round 1's race results left out (its cached child runs kept)."""
    for name in RACE_RESULTS:
        path = dst / "race" / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    # the round-1 race's winner gives way to the search's own pick, as before any race
    if method == "tpe":
        (dst / "study_best_policy.json").replace(dst / "best_policy.json")
    else:
        shutil.copyfile(dst / "distilled.json", dst / "schedule.json")
        for stale in ("schedule.md", "schedule.png", "summary.json", "tb"):  # round 1's winner's
            path = dst / stale
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        config = json.loads((dst / "config.json").read_text())  # the search as round 2 runs it
        final = dst.with_name(dst.name.removesuffix(".part"))
        config.update(out=str(final.relative_to(ROOT) if final.is_relative_to(ROOT) else final), race_ablate=1)
        (dst / "config.json").write_text(json.dumps(config, indent=1) + "\n")
        (dst / "command.txt").write_text("POLICY_SEARCH_THREADS=1 python experiments/round2-cifar10-small/rerace.py\n")


def _rl(folder: Path) -> None:
    """What ``train_agent --rescore 6 --race-ablate 1`` runs after its 10 episodes (train_agent._rescore)."""
    from policy_search.benchmark.race import RaceConfig, adopt_winner, race_plan, run_race

    cfg = json.loads((folder / "config.json").read_text())
    seed = cfg["seed"]
    candidates, rounds = race_plan(cfg["rescore"])
    race = run_race(
        RaceConfig(task=cfg["task"], searches=(str(folder),), candidates=candidates, ablate=cfg["race_ablate"],
                   rounds=rounds, first_seed=3000 + 100 * seed, out=str(folder / "race"), epochs=cfg["epochs"],
                   overrides=dict(cfg.get("overrides") or {}), data_dir=cfg["data_dir"], dataset=cfg.get("dataset"),
                   device=cfg["device"], description=f"round 2 (--race-ablate 1) of the search in {folder}")
    )  # fmt: skip
    provenance = {"task": cfg["task"], "agent": cfg["agent"], "seed": seed, "search_seed": seed}
    episodes = len((folder / "episodes.csv").read_text().splitlines()) - 1
    adopt_winner(folder, race, "schedule", "distilled", episodes, {**provenance, "search_episodes": episodes})


def _tpe(folder: Path) -> None:
    """What ``search --rescore 6 --race-ablate 1`` runs after its 10 trials: resumed, the study is complete, so
    it goes straight to its race (study._rescore)."""
    from policy_search.search.study import SearchConfig, run_search

    fields = json.loads((folder / "config.json").read_text())
    fields = {k: v for k, v in fields.items() if k in SearchConfig.__dataclass_fields__}
    fields.update(out=str(folder), storage=str(folder / "study.log"), resume=True, race_ablate=1)
    run_search(SearchConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}))


def main() -> int:
    for method in ("augnet", "tpe"):
        for seed in (0, 1, 2):
            folder = _copy(method, seed)
            if (folder / "race" / "race.json").exists():
                continue
            print(f"round 2 race: {method} search {seed}", file=sys.stderr, flush=True)
            _rl(folder) if method == "augnet" else _tpe(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
