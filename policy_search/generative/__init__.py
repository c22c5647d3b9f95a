"""Generative synthetic data: class-conditional generators (``models``), their training and cache (``train``,
``python -m policy_search.generative``), quality reports (``quality``) and the batch transform that replaces part of
a batch with generated samples (``synthetic``).

Layer: above ``policy_search.child`` (quality reports train children); below envs, agents, benchmark and search.
"""
