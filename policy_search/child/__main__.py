"""``python -m policy_search.child``: see ``policy_search.child.cli``."""

from policy_search.child.cli import main

raise SystemExit(main())
