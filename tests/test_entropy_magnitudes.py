"""Issue 31: a searched policy whose magnitudes follow the entropy rule (``ActionSpec.magnitudes``), and the batch
hooks of a policy that learns inside the run reaching it through a Sequence or Schedule."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from policy_search.child.run import run_child
from policy_search.policy import Schedule, Sequence, SubPolicies, load_policy
from policy_search.policy.action_space import ActionSpec
from policy_search.policy.file import PolicyConfigError
from policy_search.policy.online import EntropyAdaptive

AFFINE = ["Identity", "Rotate", "ShearX"]


def _confident_batch(policy, n: int = 8) -> torch.Tensor:
    ids = torch.arange(n)
    logits = torch.zeros(n, 10)
    logits[:, 3] = 30.0  # every sample confident: the entropy rule's full magnitude
    policy.reset(0)
    policy.before_batch(ids=ids)
    policy.after_batch(ids=ids, logits=logits, targets=torch.full((n,), 3))
    policy.before_batch(ids=ids)
    return ids


def test_entropy_adaptive_takes_an_op_set_and_ops_per_sample_and_files_keep_them(tmp_path):
    policy = EntropyAdaptive(0.4, ops=AFFINE, ops_per_sample=2)
    _confident_batch(policy)
    params = policy.sample(torch.zeros(8, 1, 28, 28, dtype=torch.uint8), torch.Generator().manual_seed(0), 0.5)
    assert params.op_index.shape == (2, 8)  # two ops per sample, one after the other
    from policy_search.policy.modality import IMAGE

    assert {IMAGE.op_names[int(i)] for i in params.op_index.flatten()} <= set(AFFINE)
    policy.save(tmp_path / "p.json")
    body = json.loads((tmp_path / "p.json").read_text())["body"]
    assert body == {"magnitude_max": 0.4, "text_magnitude_max": 0.6, "ops": AFFINE, "ops_per_sample": 2}
    assert json.loads(json.dumps(EntropyAdaptive().body())) == {"magnitude_max": 0.9, "text_magnitude_max": 0.6}
    back = load_policy(str(tmp_path / "p.json"))
    assert back.ops == tuple(AFFINE) and back.ops_per_sample == 2
    with pytest.raises(PolicyConfigError, match="ops_per_sample"):
        EntropyAdaptive(ops_per_sample=0)
    with pytest.raises(PolicyConfigError, match=r"ops\[0\]"):
        EntropyAdaptive(ops=["Teleport"])
    text_ops = EntropyAdaptive(ops=["RandomSwap"])
    with pytest.raises(ValueError, match="are not all image ops"):
        text_ops.sample(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), torch.Generator(), 0.5)


def test_a_sequence_or_schedule_hands_the_batch_hooks_to_the_policy_inside():
    """Before, a Sequence (a searched flip and crop before an online op) or a schedule's phase hid the hooks: the
    loop saw no observer, the entropy memory stayed empty and the policy never augmented."""
    inner = EntropyAdaptive(0.5)
    seq = Sequence([SubPolicies([[("HorizontalFlip", 0.5, 0.0)]]), inner])
    schedule = Schedule([(1.0, seq)])
    assert schedule.observes_batches and seq.observes_batches and not Sequence([SubPolicies([[]])]).observes_batches
    _confident_batch(schedule)
    assert bool(inner._memory.seen[:8].all())  # the logits reached the policy inside
    assert not schedule.needs_validation() and schedule.validate_batch(None, None, torch.zeros(1)) == 0
    x = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(schedule(x, generator=torch.Generator().manual_seed(0), progress=0.5), x)


def test_the_compact_action_with_entropy_magnitudes_builds_the_entropy_rule(tmp_path):
    spec = ActionSpec.for_search("compact", "image", magnitudes="entropy")
    policy = spec.to_policy(np.array([1, 0, 2, 6]))  # flip, no crop, N = 2, M = 6 of 0..9
    assert isinstance(policy, Sequence) and isinstance(policy.policies[1], EntropyAdaptive)
    rule = policy.policies[1]
    assert rule.magnitude_max == pytest.approx(6 / 9) and rule.ops_per_sample == 2 and "Rotate" in rule.ops
    assert ActionSpec.from_dict(spec.to_dict()) == spec and "magnitudes" not in ActionSpec.compact().to_dict()
    fixed = ActionSpec.compact().to_policy(np.array([1, 0, 2, 6]))
    assert type(fixed.policies[1]).__name__ == "RandAugment"  # the default is unchanged
    families = ActionSpec.for_search("families", "image", magnitudes="entropy")
    affine_only = families.to_policy(np.array([0, 0, 1, 0, 0, 1, 3]))
    assert set(affine_only.policies[0].ops) == {"Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"}
    assert ActionSpec.of_run({"action_kind": "compact", "magnitudes": "entropy"}, "image") == spec
    text = ActionSpec.for_search("compact", "text", magnitudes="entropy").to_policy(np.array([1, 5]))
    assert isinstance(text.policies[0], EntropyAdaptive) and text.policies[0].text_magnitude_max == pytest.approx(5 / 9)
    with pytest.raises(ValueError, match="applies to the compact and families actions"):
        ActionSpec.for_search("slots", "image", magnitudes="entropy")
    with pytest.raises(ValueError, match="--magnitudes must be one of"):
        ActionSpec.for_search("compact", "image", magnitudes="loud")


def test_a_child_trains_with_a_searched_entropy_policy_and_its_schedule_file(tmp_path):
    spec = ActionSpec.for_search("compact", "image", magnitudes="entropy")
    Schedule([(1.0, spec.to_policy(np.array([0, 0, 2, 9])))]).save(tmp_path / "s.json")
    policy = load_policy(str(tmp_path / "s.json"))
    run, metrics = run_child("mnist-episode", seed=0, policy=policy, test=False, epochs=2, train_size=512)
    rule = policy.policies[0].policies[0]
    log = rule.action_log()
    assert log is not None and float(log.sum()) > 0  # the run's batches reached it through the schedule file
    assert 0.0 <= metrics["val"]["accuracy"] <= 1.0


def test_train_agent_and_search_take_magnitudes(tmp_path):
    from policy_search.search.study import SearchConfig
    from policy_search.train_agent import TrainConfig, build_parser

    cfg = TrainConfig(task="mnist-episode", episodes=2, rescore=0, magnitudes="entropy")
    cfg.validate()
    from policy_search.config import argv_of

    assert "entropy" in argv_of(cfg) and build_parser().parse_args(["--magnitudes", "entropy"]).magnitudes == "entropy"
    search = SearchConfig(task="mnist-episode", trials=4, space="compact", magnitudes="entropy", out="x")
    assert search.narrowing() == {"magnitudes": "entropy"}
    with pytest.raises(ValueError, match="apply to the action spaces"):
        from policy_search.policy.base import ImageSpec
        from policy_search.search.space import build_policy

        build_policy("randaugment", {}, ImageSpec(), {"magnitudes": "entropy"})
