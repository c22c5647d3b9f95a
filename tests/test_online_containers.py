"""Policies that learn inside the run, inside a Sequence or Schedule (a flip before the entropy rule, a schedule's
phase): the batch hooks reach them; and the entropy rule's op set and ops per sample (issue 31's probe)."""

from __future__ import annotations

import json

import pytest
import torch

from policy_search.child.run import run_child
from policy_search.policy import Schedule, Sequence, SubPolicies, load_policy
from policy_search.policy.base import Policy
from policy_search.policy.file import PolicyConfigError
from policy_search.policy.modality import IMAGE
from policy_search.policy.online import EntropyAdaptive

AFFINE = ["Identity", "Rotate", "ShearX"]


def _confident_batch(policy, n: int = 8) -> None:
    ids = torch.arange(n)
    logits = torch.zeros(n, 10)
    logits[:, 3] = 30.0  # every sample confident: the entropy rule's full magnitude
    policy.reset(0)
    policy.before_batch(ids=ids)
    policy.after_batch(ids=ids, logits=logits, targets=torch.full((n,), 3))
    policy.before_batch(ids=ids)


def test_entropy_adaptive_takes_an_op_set_and_ops_per_sample_and_files_keep_them(tmp_path):
    policy = EntropyAdaptive(0.4, ops=AFFINE, ops_per_sample=2)
    _confident_batch(policy)
    params = policy.sample(torch.zeros(8, 1, 28, 28, dtype=torch.uint8), torch.Generator().manual_seed(0), 0.5)
    assert params.op_index.shape == (2, 8)  # two ops per sample, one after the other
    assert {IMAGE.op_names[int(i)] for i in params.op_index.flatten()} <= set(AFFINE)
    use = policy.op_distribution()  # a sample's two draws add up: 2 x 2/3 of the samples get Rotate or ShearX
    assert sum(use.values()) == pytest.approx(2 * float(params.mask.float().mean()), abs=1e-6)
    policy.save(tmp_path / "p.json")
    body = json.loads((tmp_path / "p.json").read_text())["body"]
    assert body == {"magnitude_max": 0.4, "text_magnitude_max": 0.6, "ops": AFFINE, "ops_per_sample": 2}
    assert EntropyAdaptive().body() == {"magnitude_max": 0.9, "text_magnitude_max": 0.6}  # older files read the same
    back = load_policy(str(tmp_path / "p.json"))
    assert back.ops == tuple(AFFINE) and back.ops_per_sample == 2
    with pytest.raises(PolicyConfigError, match="ops_per_sample"):
        EntropyAdaptive(ops_per_sample=0)
    with pytest.raises(PolicyConfigError, match=r"ops\[0\]"):
        EntropyAdaptive(ops=["Teleport"])
    with pytest.raises(ValueError, match="are not all image ops"):
        EntropyAdaptive(ops=["RandomSwap"]).sample(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), torch.Generator(), 0.5)


def test_a_sequence_or_schedule_hands_the_batch_hooks_to_the_policy_inside():
    """Before, a Sequence or a schedule's phase hid the hooks: the loop saw no observer, the entropy memory stayed
    empty and the policy never augmented."""
    inner = EntropyAdaptive(0.5, ops=AFFINE[1:])
    seq = Sequence([SubPolicies([[("Identity", 1.0, 0.0)]]), inner])
    schedule = Schedule([(1.0, seq)])
    assert schedule.observes_batches and seq.observes_batches
    assert not Sequence([SubPolicies([[("HorizontalFlip", 0.5, 0.0)]])]).observes_batches
    _confident_batch(schedule)
    assert bool(inner._memory.seen[:8].all())  # the logits reached the policy inside
    x = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    params = inner.sample(x, torch.Generator().manual_seed(0), 0.5)
    assert bool(params.mask.all())  # confident samples, no Identity among the ops: every sample augmented


class _Counting(Policy):
    """An observer that counts the hooks it gets (a stand-in for an online policy)."""

    observes_batches = True
    validation_size = 16

    def __init__(self) -> None:
        super().__init__()
        self.calls = {"after": 0, "validate": 0}

    def body(self):
        return {}

    @classmethod
    def from_body(cls, body, semantics, image_spec, where):
        return cls()

    def op_distribution(self, progress=None):
        return {}

    def sample_batch(self, batch_size, image_size, g, progress):
        return SubPolicies([[("Identity", 1.0, 0.0)]]).sample_batch(batch_size, image_size, g, progress)

    def after_batch(self, ids=None, logits=None, targets=None, mask=None) -> None:
        self.calls["after"] += 1

    def needs_validation(self) -> bool:
        return True

    def validate_batch(self, predict, inputs, labels) -> int:
        self.calls["validate"] += 1
        return len(labels)


def test_every_phase_observes_but_only_the_applied_phase_validates_and_a_repeat_is_called_once():
    first, second = _Counting(), _Counting()
    schedule = Schedule([(0.5, Sequence([first, first])), (1.0, second)])
    x = torch.zeros(4, 1, 28, 28, dtype=torch.uint8)
    schedule(x, generator=torch.Generator(), progress=0.75)  # the second phase applies now
    schedule.after_batch(ids=None, logits=torch.zeros(4, 10), targets=torch.zeros(4))
    assert schedule.needs_validation() and schedule.validate_batch(None, None, torch.zeros(4)) == 4
    assert first.calls == {"after": 1, "validate": 0} and second.calls == {"after": 1, "validate": 1}
    assert schedule.validation_size == 16


def test_a_child_trains_with_the_entropy_rule_inside_a_schedule_file(tmp_path):
    Schedule([(1.0, Sequence([SubPolicies([[("Identity", 1.0, 0.0)]]), EntropyAdaptive(0.5)]))]).save(
        tmp_path / "s.json"
    )
    policy = load_policy(str(tmp_path / "s.json"))
    run_child("mnist-episode", seed=0, policy=policy, test=False, epochs=4, train_size=512)
    rule = policy.policies[0].policies[1]
    assert bool(rule._memory.seen.any())  # the run's batches reached it through the schedule file
    assert float(rule.action_log()[:, :, 1:].sum()) > 0  # and it augmented once the model was confident


def test_a_distilled_schedule_gives_a_base_its_share_of_samples_not_of_draws():
    """With three ops drawn per sample, the log holds three draws per sample: a flip used on half the samples was
    distilled at a sixth before."""
    from policy_search.policy.online import LEVELS, LOG_BUCKETS, OnlineAugNet

    policy = OnlineAugNet(bases=("HorizontalFlip",), ops_per_sample=3)
    ops = policy._ops(IMAGE)
    log = torch.zeros(LOG_BUCKETS, len(ops), LEVELS)
    log[:, 0, 5] = 300.0  # 100 samples a tenth, three draws each
    policy._log["image"] = log
    policy._base_log["HorizontalFlip"] = torch.full((LOG_BUCKETS,), 50.0)  # half of them flipped
    phase = policy.distill(phases=1).policies[0]
    flip = phase.policies[0]
    assert flip.subpolicies[0][0][0] == "HorizontalFlip" and flip.subpolicies[0][0][1] == pytest.approx(0.5)
