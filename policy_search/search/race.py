"""``python -m policy_search.search race``: the race of ``policy_search.benchmark.race`` (successive halving of
the searches' best policies on shared validation seeds), as a search command. It lives one layer down so that
``train_agent --rescore`` and ``search --rescore`` run it inside a search."""

from policy_search.benchmark.race import (
    MIN_RACE_RUNS,
    RaceConfig,
    build_parser,
    ci95,
    main,
    pool_episodes,
    race_plan,
    run_race,
    shortlist,
    val_accuracy,
)

__all__ = [
    "MIN_RACE_RUNS",
    "RaceConfig",
    "build_parser",
    "ci95",
    "main",
    "pool_episodes",
    "race_plan",
    "run_race",
    "shortlist",
    "val_accuracy",
]

if __name__ == "__main__":
    raise SystemExit(main())
