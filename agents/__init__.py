"""Agents that drive the augmentation environment (installed as ``policy_search.agents``)."""
