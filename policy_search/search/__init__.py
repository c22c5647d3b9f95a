"""Optuna search over static policies and the comparisons built on it: the study, its storage and workers
(``study``, ``storage``, ``objective``, ``space``; ``python -m policy_search.search``), equal-compute comparisons of
methods (``compare``) and validation learning curves of RL designs (``curve``).

Layer: the top of the library; nothing imports it.
"""
