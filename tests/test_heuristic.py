"""The progress-heuristic policy: level up while val loss falls, down on stagnation/rise; file round trip."""

import pytest
import torch

from policy_search import load_policy
from policy_search.policy.heuristic import ProgressHeuristic


def _feed(policy, losses):
    levels = []
    for i, loss in enumerate(losses):
        policy.observe({"progress": (i + 1) / len(losses), "val_loss": loss})
        levels.append(policy.level)
    return levels


def test_raises_while_loss_falls_then_lowers_on_stagnation_and_rise():
    policy = ProgressHeuristic(tolerance=0.01)
    # falls, falls (capped at 2), falls, stagnates (-0.5% is within 1%), rises, falls again
    assert _feed(policy, [0.6, 0.4, 0.3, 0.2985, 0.35, 0.2]) == [1, 2, 2, 1, 0, 1]
    assert [t[2] for t in policy.trace] == [1, 2, 2, 1, 0, 1]
    policy.reset()
    assert policy.level == 0 and policy.trace == []
    assert _feed(policy, [1.2]) == [0]  # worse than an untrained child: stay at flip+crop


def test_levels_change_the_ops_sampled():
    policy = load_policy("progress-heuristic")
    assert policy.observes_training and set(policy.op_distribution()) == {"HorizontalFlip", "PadCrop"}
    _feed(policy, [0.5, 0.3])
    assert policy.op_distribution() == pytest.approx(
        {"HorizontalFlip": 0.5, "PadCrop": 1.0, "Rotate": 1.0, "Brightness": 1.0, "Contrast": 1.0}
    )
    images = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8)
    out = policy(images, generator=torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8


def test_round_trips_through_a_policy_file(tmp_path):
    policy = ProgressHeuristic(tolerance=0.05, max_level=1)
    _feed(policy, [0.5])
    path = policy.save(tmp_path / "heuristic.json", provenance={"task": "mnist-proxy"})
    loaded = load_policy(path)
    assert isinstance(loaded, ProgressHeuristic) and loaded.kind == "progress-heuristic"
    assert (loaded.tolerance, loaded.max_level, loaded.level) == (0.05, 1, 0)  # rule saved, state not
    assert loaded.provenance["task"] == "mnist-proxy"
    assert _feed(loaded, [0.5, 0.3]) == [1, 1]  # max_level 1 caps the rise


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="tolerance"):
        ProgressHeuristic(tolerance=-0.1)
    with pytest.raises(ValueError, match="max_level"):
        ProgressHeuristic(max_level=3)
    with pytest.raises(KeyError, match="val_loss"):
        ProgressHeuristic().observe({"progress": 0.5})
