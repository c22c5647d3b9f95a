"""Gymnasium environments over a child training run (installed as ``policy_search.envs``)."""
