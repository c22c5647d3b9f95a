"""``python -m policy_search.search [compare|curve|race] ...``: the Optuna search (``policy_search.search.study``), an
equal-compute comparison of methods (``compare``), validation learning curves of RL designs (``curve``) or a
race of the searches' best policies on shared child seeds (``race``)."""

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "compare":
        from policy_search.search.compare import main as compare_main

        return compare_main(argv[1:])
    if argv and argv[0] == "curve":
        from policy_search.search.curve import main as curve_main

        return curve_main(argv[1:])
    if argv and argv[0] == "race":
        from policy_search.search.race import main as race_main

        return race_main(argv[1:])
    from policy_search.search.study import main as study_main

    return study_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
