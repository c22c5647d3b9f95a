"""Augmentation ops, by modality: ``policy_search.ops.image`` holds the batched, pixel-exact image kernels, their
magnitude spaces and costs (text ops will sit beside it as ``policy_search.ops.text``).

This is the bottom layer of the library: it imports nothing else from policy_search. The policy machinery
(``policy_search.policy``) samples op names, magnitudes and probabilities and calls the kernels through
``ops.image.apply_slots``.
"""
