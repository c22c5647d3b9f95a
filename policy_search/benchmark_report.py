"""``python -m policy_search.benchmark_report``: rebuild benchmark reports from cached runs (kept as a command name
for the commands recorded in experiments/; the code is ``policy_search.benchmark.report``)."""

from policy_search.benchmark.report import main

if __name__ == "__main__":
    raise SystemExit(main())
