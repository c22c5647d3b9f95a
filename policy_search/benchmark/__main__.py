"""``python -m policy_search.benchmark``: see ``policy_search.benchmark.harness``."""

from policy_search.benchmark.harness import main

raise SystemExit(main())
