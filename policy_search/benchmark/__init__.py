"""Benchmarks of frozen policies: the cached, resumable harness (``harness``, ``python -m policy_search.benchmark``),
the report rebuilt from cached runs (``report``), paired statistics with Holm's correction (``stats``) and
corruption / FGSM robustness (``robustness``).

Layer: above ``policy_search.generative``; only ``policy_search.search`` sits above it.
"""
