"""Child training runs: datasets (``data``), models (``models``), task presets (``tasks``), metrics (``metrics``)
and the run itself (``run``: ``ChildRun``, ``run_child``); ``python -m policy_search.child`` is ``cli``.

Layer: imports ``policy_search.ops`` and ``policy_search.policy`` only. The policy that augments a child is
passed in; batch transforms that change labels (synthetic data) are passed in as callables from above.
"""
