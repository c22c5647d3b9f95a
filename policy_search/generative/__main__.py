"""``python -m policy_search.generative``: see ``policy_search.generative.train``."""

from policy_search.generative.cli import main

raise SystemExit(main())
