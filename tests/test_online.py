"""Policies that learn inside the run (issue 30): the batch hooks, entropy-adaptive, online-augnet, its files, the
ChildRun / benchmark / train_agent integration, on images and text alike."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from policy_search.child.run import ChildRun, run_child
from policy_search.ops.text import TokenBatch, Vocab
from policy_search.policy import load_policy
from policy_search.policy.file import PolicyConfigError
from policy_search.policy.modality import IMAGE
from policy_search.policy.online import ONLINE_IMAGE_OPS, TEXT_OPS, EntropyAdaptive, OnlineAugNet, sample_stats

TINY = dict(train_size=256, epochs=2, eval_samples=128, batch_size=32)


def images(b: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (b, 1, 28, 28), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_sample_stats_per_sample_and_per_sequence():
    logits = torch.tensor([[10.0, 0.0], [0.0, 0.0]])
    stats = sample_stats(logits, torch.tensor([0, 1]))
    assert stats["entropy"][0] < 0.01 and abs(float(stats["entropy"][1]) - 1.0) < 1e-6
    assert stats["correct"].tolist() == [1.0, 0.0]
    tagged = torch.zeros(2, 3, 4)
    tagged[0, :, 1] = 20.0  # sequence 0 confident everywhere; sequence 1 uniform
    mask = torch.tensor([[True, True, False], [True, False, False]])
    per = sample_stats(tagged, torch.ones(2, 3, dtype=torch.long), mask)
    assert per["entropy"].shape == (2,) and per["entropy"][0] < 0.01 and per["entropy"][1] > 0.99


def test_entropy_adaptive_augments_confident_samples_hardest():
    policy = load_policy("entropy-adaptive")
    assert isinstance(policy, EntropyAdaptive) and policy.observes_batches and policy.modality is None
    policy.reset(0)
    ids = torch.arange(8)
    g = torch.Generator().manual_seed(0)
    x = images()
    policy.before_batch(ids=ids)
    assert torch.equal(policy(x, generator=g, progress=0.0), x)  # nothing seen yet: entropy 1, no augmentation
    logits = torch.zeros(8, 10)
    logits[:4, 3] = 30.0  # samples 0-3 confident, 4-7 uniform
    policy.after_batch(ids=ids, logits=logits, targets=torch.full((8,), 3))
    policy.before_batch(ids=ids)
    params = policy.sample(x, g, 0.5)
    assert params.mask[0, :4].sum() >= 3  # confident: augmented (Identity draws are masked)
    assert not params.mask[0, 4:].any()  # uncertain: left alone
    assert params.param.shape == (1, 8)
    with pytest.raises(ValueError, match="needs the batch's logits"):
        policy.after_batch(ids=ids)


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 16), nn.ReLU())
        self.out = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x.float() / 255))


def test_online_augnet_learns_from_the_output_layer_credit():
    torch.manual_seed(0)
    model, policy = Tiny(), OnlineAugNet(credit="cosine", validation_every=4, validation_size=128)
    assert policy.learn
    policy.reset(0)
    policy.attach(model)
    policy.attach(model)  # idempotent
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (8,), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ids = torch.arange(8)
    for step in range(6):
        x = images(seed=step)
        policy.before_batch(ids=ids)
        xa = policy(x, generator=g, progress=step / 6)
        logits = model(xa)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        policy.after_batch(ids=ids, logits=logits.detach(), targets=y)
        if policy.needs_validation():
            model.eval()
            policy.validate(F.cross_entropy(model(images(seed=99)), y))
            model.train()
    assert policy.trace, "the actor never received credit"
    actor = policy._actors["image"]
    assert actor.head.weight.abs().sum() > 0  # it moved from the uniform start
    assert set(policy.op_distribution()) <= set(ONLINE_IMAGE_OPS)
    with pytest.raises(RuntimeError, match="forward pass through the attached model"):
        policy.validate(torch.zeros((), requires_grad=True))


def test_affinity_gates_label_changing_bases_and_weights_ops():
    policy = OnlineAugNet(bases=None)  # both bases (the default is flip only)
    assert policy.credit == "affinity" and "HorizontalFlip" not in policy._ops(IMAGE)
    policy.reset(0)

    class FlipSensitive(nn.Module):  # classifies by which half of the image is bright: a flip changes the label
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x.float()
            left, right = x[..., : x.shape[-1] // 2].mean((1, 2, 3)), x[..., x.shape[-1] // 2 :].mean((1, 2, 3))
            return torch.stack([left - right, right - left], 1)

    x = torch.zeros(64, 1, 28, 28, dtype=torch.uint8)
    y = torch.arange(64) % 2
    x[y == 0, :, :, :14] = 200
    x[y == 1, :, :, 14:] = 200
    model = FlipSensitive()
    for _ in range(8):  # round robin: flip and crop first, then the ops
        assert policy.validate_batch(model, x, y) >= 64
    assert policy._affinity["HorizontalFlip"] < 0.1 and policy._affinity["PadCrop"] > 0.9
    bases = policy._base_probabilities()
    assert bases["HorizontalFlip"] == 0.0 and bases["PadCrop"] > 0.0
    assert policy._gate(0.4) == 0.0 and policy._gate(1.0) == 1.0 and policy._gate(None) == 0.0


def test_step_base_gate_uses_a_base_at_its_full_rate_or_not_at_all(tmp_path):
    linear, step = (
        OnlineAugNet(affinity_floor=0.9, bases=None),
        OnlineAugNet(affinity_floor=0.9, base_gate="step", bases=None),
    )
    for policy in (linear, step):
        policy.reset(0)
        policy._modality = IMAGE
        policy._affinity = {"HorizontalFlip": 0.95, "PadCrop": 0.85}
    assert linear._base_probabilities() == pytest.approx({"HorizontalFlip": 0.25, "PadCrop": 0.0})
    assert step._base_probabilities() == {"HorizontalFlip": 0.5, "PadCrop": 0.0}
    step.save(tmp_path / "p.json")
    assert load_policy(tmp_path / "p.json").base_gate == "step"
    with pytest.raises(PolicyConfigError, match="base_gate"):
        OnlineAugNet(base_gate="smooth")


def test_bases_option_keeps_the_policy_off_the_bases_it_does_not_list(tmp_path):
    policy = OnlineAugNet(bases=["HorizontalFlip"])
    policy.reset(0)
    policy._modality = IMAGE
    policy._affinity = {"HorizontalFlip": 1.0, "PadCrop": 1.0}
    assert policy._base_probabilities() == {"HorizontalFlip": 0.5}
    assert "PadCrop" not in policy.display_ops("image") and "HorizontalFlip" in policy.display_ops("image")
    policy.save(tmp_path / "p.json")
    assert load_policy(tmp_path / "p.json").bases == ("HorizontalFlip",)
    with pytest.raises(PolicyConfigError, match="unknown base op 'Rotate'"):
        OnlineAugNet(bases=["Rotate"])
    assert OnlineAugNet(bases=[]).display_ops("image") == OnlineAugNet()._ops(IMAGE)
    with pytest.raises(PolicyConfigError, match="credit 'affinity' only"):
        OnlineAugNet(credit="cosine", bases=["HorizontalFlip"])
    assert OnlineAugNet(credit="cosine").bases is None and OnlineAugNet().bases == ("HorizontalFlip",)
    # a file may keep the affinity of a base the policy leaves off (round 3's files measured the crop too)
    assert OnlineAugNet(affinity={"image": {"PadCrop": 0.95}}).affinity == {"image": {"PadCrop": 0.95}}
    policy._affinity = {"HorizontalFlip": 1.0}  # what a run with flip the only base measures
    learned = policy.learned()
    assert learned.bases == ("HorizontalFlip",) and "PadCrop" not in learned.display_ops("image")


def test_entropy_magnitudes_off_puts_every_sample_at_its_ops_level(tmp_path):
    entropy = torch.tensor([1.0, 0.5, 0.0])
    rule = OnlineAugNet(entropy_magnitudes=True)
    assert torch.allclose(rule._magnitude_share(entropy, IMAGE), torch.tensor([0.0, 0.5, 1.0]))
    flat = OnlineAugNet(entropy_magnitudes=False, magnitude_warmup=0.0)
    assert torch.equal(flat._magnitude_share(entropy, IMAGE), torch.ones(3))
    assert torch.equal(OnlineAugNet()._magnitude_share(entropy, IMAGE), torch.zeros(3))  # the preset warms up
    flat.save(tmp_path / "p.json")
    assert load_policy(tmp_path / "p.json").entropy_magnitudes is False
    ramped = OnlineAugNet(entropy_magnitudes=False, magnitude_warmup=0.4, batch_confidence=True)
    ramped._state["progress"], ramped._last_mean = 0.1, 0.2  # a quarter of the warm-up; the batch 80% sure
    assert torch.allclose(ramped._magnitude_share(entropy, IMAGE), torch.full((3,), 0.25 * 0.8))
    ramped._state["progress"] = 0.9  # past the warm-up: the batch's confidence alone
    assert torch.allclose(ramped._magnitude_share(entropy, IMAGE), torch.full((3,), 0.8))
    ramped.save(tmp_path / "r.json")
    back = load_policy(tmp_path / "r.json")
    assert back.magnitude_warmup == 0.4 and back.batch_confidence is True
    with pytest.raises(PolicyConfigError, match="magnitude_warmup"):
        OnlineAugNet(magnitude_warmup=2.0)
    floored = OnlineAugNet(entropy_magnitudes=True, magnitude_floor=0.3, magnitude_warmup=0.5)
    floored._state["progress"] = 0.25  # half-way through the warm-up: the floor at half its height
    assert torch.allclose(floored._magnitude_share(entropy, IMAGE), torch.tensor([0.15, 0.5, 1.0]))


def test_bases_are_measured_only_from_base_start():
    """``base_start``: a weak model's affinity for a flip is near 1 by chance (digits it cannot read yet look alike
    either way round), so bases are measured, and so used, only from that share of training on."""
    policy = OnlineAugNet(base_start=0.3)
    policy.reset(0)
    assert "HorizontalFlip" not in policy._measured(IMAGE)
    policy._state["progress"] = 0.3
    assert policy._measured(IMAGE)[0] == "HorizontalFlip"
    assert OnlineAugNet()._measured(IMAGE)[0] == "HorizontalFlip"  # the default judges flip from the start
    with pytest.raises(PolicyConfigError, match="entropy_magnitudes"):
        OnlineAugNet(entropy_magnitudes="no")


def test_base_spread_measures_flip_only_while_the_model_names_more_than_one_class():
    """``base_spread`` (round 11 of experiments/ab-online): a model that names one class for most samples keeps its
    accuracy under a flip by chance (affinity above 1 on seed 643, and the flip locked itself in); the bases are
    measured only while no class takes more than k / classes of its predictions, the ops as before."""
    x, y = images(40, seed=1), torch.arange(40) % 10
    one_class = torch.zeros(40, 10)
    one_class[:30, 3] = 1.0  # over 75% of the predictions name class 3; the rest are right (33% correct: learning)
    one_class[30:] = F.one_hot(y[30:], 10).float()
    spread = F.one_hot(y, 10).float()  # every class named (and all correct)
    for logits, measured in ((one_class, False), (spread, True)):
        policy = OnlineAugNet(base_spread=3)
        policy.reset(0)
        policy.validate_batch(lambda b, logits=logits: logits[: len(b)], x, y)
        assert ("HorizontalFlip" in policy._affinity) is measured
        assert len(policy._affinity) == policy.ops_per_validation  # the ops fill the round instead
    assert OnlineAugNet().base_spread == 3  # the preset (rounds 11-13)
    default = OnlineAugNet(base_spread=None)  # without it the degenerate model is asked about flip too
    default.reset(0)
    default.validate_batch(lambda b: one_class[: len(b)], x, y)
    assert "HorizontalFlip" in default._affinity
    everything = OnlineAugNet(measure_spread=3)  # round 12: no measurement at all while one class takes over
    everything.reset(0)
    assert everything.validate_batch(lambda b: one_class[: len(b)], x, y) == 40 and not everything._affinity
    assert everything.validate_batch(lambda b: spread[: len(b)], x, y) > 40 and everything._affinity
    kept = OnlineAugNet.from_body(
        OnlineAugNet(base_spread=3, measure_spread=2, collapse_pause=True).body(), {}, None, "test"
    )
    assert (kept.base_spread, kept.measure_spread, kept.collapse_pause) == (3, 2, True)  # files keep them
    with pytest.raises(PolicyConfigError, match="collapse_pause"):
        OnlineAugNet(collapse_pause=True)  # it reads measure_spread's check


def test_the_takeover_check_reads_the_labels_own_spread_and_many_classes():
    """A tagger whose labels are mostly O, or a perfect model over 100 classes in a 64-sample minibatch, names one
    class more often than k / classes without having collapsed: the check compares with the labels' own top share
    and with ``MIN_TAKEOVER`` samples; a tagger that says O for every token is still caught."""
    x = images(8, seed=3)
    tags = torch.zeros(8, 12, dtype=torch.long)  # 9 tags, O (0) on 10 of every 12 tokens
    tags[:, 3], tags[:, 7] = torch.arange(8) % 8 + 1, (torch.arange(8) + 3) % 8 + 1
    mask = torch.ones(8, 12, dtype=torch.bool)
    mask[:, 10:] = False  # padding is not scored
    for logits, measured in ((F.one_hot(tags, 9).float(), True), (F.one_hot(torch.zeros_like(tags), 9).float(), False)):
        policy = OnlineAugNet(measure_spread=3)
        policy.reset(0)
        policy.validate_batch(lambda b, logits=logits: (logits, tags, mask), x, torch.zeros(8))
        assert bool(policy._affinity) is measured
    many, y = images(64, seed=4), torch.arange(64) % 20 * 5  # 20 of 100 classes, 3-4 samples each
    perfect = F.one_hot(y, 100).float()
    policy = OnlineAugNet()  # the preset's base_spread 3: 3 / 100 would flag any model at 64 samples
    policy.reset(0)
    policy.validate_batch(lambda b: perfect[: len(b)], many, y)
    assert "HorizontalFlip" in policy._affinity
    with pytest.raises(PolicyConfigError, match="measure_spread"):
        OnlineAugNet(credit="cosine", measure_spread=3)


def test_collapse_pause_stops_augmenting_a_collapsed_model_until_it_works_again():
    """``collapse_pause`` (round 13): while the clean validation minibatch shows one class taking over, every
    sample goes through unchanged and the bases are off; a model that names the classes again is augmented again."""
    x, y = images(40, seed=2), torch.arange(40) % 10
    collapsed = torch.zeros(40, 10)
    collapsed[:, 4] = 1.0
    working = F.one_hot(y, 10).float()
    policy = OnlineAugNet(measure_spread=3, collapse_pause=True, magnitude_warmup=0.0)
    policy.reset(0)
    policy._affinity["HorizontalFlip"] = 1.0  # a flip it would use on half the samples
    g = torch.Generator().manual_seed(0)
    policy.validate_batch(lambda b: working[: len(b)], x, y)
    assert policy._base_probabilities()["HorizontalFlip"] > 0 and not torch.equal(policy(x, generator=g), x)
    policy.validate_batch(lambda b: collapsed[: len(b)], x, y)
    assert policy._base_probabilities()["HorizontalFlip"] == 0.0 and torch.equal(policy(x, generator=g), x)
    policy.validate_batch(lambda b: working[: len(b)], x, y)
    assert not torch.equal(policy(x, generator=g), x)
    with pytest.raises(PolicyConfigError, match="base_spread"):
        OnlineAugNet(base_spread=0.5)


def test_the_preset_keeps_round_3s_design_on_text_and_takes_round_7s_on_images(tmp_path):
    """Round 7 (experiments/ab-online) changed the image defaults only: on text the preset draws exactly what round
    3's design drew (so the text final still measures the preset); on images every sample gets three ops at a
    quarter of the range times the op's level, after flip, the only base."""
    round3 = {"magnitude_max": 0.9, "entropy_magnitudes": True, "ops_per_sample": 2, "bases": None}
    vocab = Vocab(pad_id=0, mask_id=1, num_special=5)
    tokens = TokenBatch(torch.randint(5, 50, (20, 12)), torch.full((20,), 12), None, vocab)
    labels, ids = torch.zeros(20).long(), torch.arange(20)
    logits = torch.zeros(20, 2)
    logits[:14, 0] = torch.linspace(0.5, 4.0, 14)  # 70% right (learning), entropies spread
    outs = []
    for policy in (OnlineAugNet(), OnlineAugNet(**round3), OnlineAugNet(text_ops_per_sample=3)):
        policy.reset(0)
        policy.validate_batch(lambda b: logits[: len(b)], tokens, labels)  # measures every text op
        policy.before_batch(ids=ids)
        policy.after_batch(ids=ids, logits=logits, targets=labels)
        policy.before_batch(ids=ids)
        outs.append(policy(tokens, generator=torch.Generator().manual_seed(2), progress=0.5))
    assert not torch.equal(outs[0].ids, tokens.ids)  # the text ops were used
    assert torch.equal(outs[0].ids, outs[1].ids) and torch.equal(outs[0].lengths, outs[1].lengths)
    assert not torch.equal(outs[0].ids, outs[2].ids)  # text_ops_per_sample is the text's own setting
    for policy, slots, flat in ((OnlineAugNet(), 1 + 3, True), (OnlineAugNet(**round3), 2 + 2, False)):
        policy.reset(0)
        policy._affinity = {n: 1.0 for n in policy.display_ops("image")}
        policy._level = {n: 1.0 for n in policy._ops(IMAGE)}
        policy.before_batch(ids=torch.arange(8))
        params = policy.sample_batch(8, (32, 32), torch.Generator().manual_seed(0), 0.5)
        assert params.op_index.shape[0] == slots  # bases (flip; or flip and crop), then the ops
        # samples never seen: at their op's level here, not augmented by the entropy rule (entropy 1) under round 3
        assert bool(params.mask[-3:].all()) if flat else not bool(params.mask[-2:].any())
    back = OnlineAugNet(text_ops_per_sample=1, text_entropy_magnitudes=False)
    back.save(tmp_path / "p.json")
    loaded = load_policy(tmp_path / "p.json")
    assert loaded.text_ops_per_sample == 1 and loaded.text_entropy_magnitudes is False and loaded.ops_per_sample == 3
    with pytest.raises(PolicyConfigError, match="text_ops_per_sample"):
        OnlineAugNet(text_ops_per_sample=0)


def test_online_augnet_file_round_trip_and_warm_start(tmp_path):
    policy = OnlineAugNet(lr=0.05, validation_every=2, credit="cosine")
    policy.reset(3)
    policy._actor(IMAGE)  # an actor exists once the run sees images
    with torch.no_grad():
        policy._actors["image"].head.bias.copy_(torch.arange(len(ONLINE_IMAGE_OPS), dtype=torch.float32))
    learned = policy.learned()
    learned.save(tmp_path / "p.json")
    back = load_policy(tmp_path / "p.json")
    assert isinstance(back, OnlineAugNet) and back.lr == 0.05 and back.validation_every == 2 and back.credit == "cosine"
    back.reset(7)
    assert torch.equal(back._actor(IMAGE).head.bias, torch.arange(len(ONLINE_IMAGE_OPS), dtype=torch.float32))
    doc = json.loads((tmp_path / "p.json").read_text())
    doc["body"]["weights"]["image"]["head.bias"] = [1.0, 2.0]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(PolicyConfigError, match=r"weights.image.head.bias.*shape"):
        load_policy(tmp_path / "bad.json")
    doc["body"] = {"lr": -1}
    (tmp_path / "bad2.json").write_text(json.dumps(doc))
    with pytest.raises(PolicyConfigError, match="lr"):
        load_policy(tmp_path / "bad2.json")


def test_online_policies_drive_a_child_with_cost_accounting(shared_data_dir):
    for name in ("online-augnet", "entropy-adaptive"):
        policy = load_policy(name)
        run, metrics = run_child("mnist-proxy", seed=0, device="cpu", policy=policy, test=False, **TINY)
        assert metrics["test"] is None
        log = policy.action_log()
        per_sample = getattr(policy, "ops_per_sample", 1)  # online-augnet draws three ops per image
        assert log is not None and float(log.sum()) == run.total_batches * TINY["batch_size"] * per_sample
        if name == "online-augnet":
            assert metrics["extra_forward_samples"] > 0 and 1.0 < metrics["child_run_equivalents"] < 2.0
            schedule = policy.distill(phases=2)
            assert len(schedule.policies) == 2 and schedule(images(4), progress=0.9).shape == (4, 1, 28, 28)
        else:
            assert metrics["extra_forward_samples"] == 0 and metrics["child_run_equivalents"] == 1.0


def test_online_policies_on_text_take_eda_ops():
    vocab = Vocab(pad_id=0, mask_id=1, num_special=5)
    tokens = TokenBatch(torch.randint(5, 50, (6, 12)), torch.full((6,), 12), None, vocab)
    for policy in (OnlineAugNet(), EntropyAdaptive()):
        policy.reset(0)
        policy.before_batch(ids=torch.arange(6))
        policy.after_batch(ids=torch.arange(6), logits=torch.tensor([[9.0, 0.0]] * 6), targets=torch.zeros(6).long())
        policy.before_batch(ids=torch.arange(6))
        out = policy(tokens, generator=torch.Generator().manual_seed(0), progress=0.5)
        assert isinstance(out, TokenBatch)
        assert set(policy.op_distribution()) <= set(TEXT_OPS) and policy.op_distribution()


def test_affinity_is_measured_on_two_class_tasks():
    """A binary task's model at 70% on the clean minibatch is learning: its ops are measured (the threshold was
    twice chance, 100% for two classes, so text sentiment never measured an op before this was fixed)."""
    vocab = Vocab(pad_id=0, mask_id=1, num_special=5)
    tokens = TokenBatch(torch.randint(5, 50, (20, 12)), torch.full((20,), 12), None, vocab)
    labels = torch.zeros(20).long()

    def predict(batch):  # right on the first 14 of 20 sequences, whatever the augmentation did
        logits = torch.zeros(len(batch), 2)
        logits[:14, 0], logits[14:, 1] = 1.0, 1.0
        return logits

    for target in (None, 0.8):
        policy = OnlineAugNet(magnitude_target=target)
        policy.reset(0)
        assert policy.validate_batch(predict, tokens, labels) == 20 * (1 + policy.ops_per_validation)
        assert set(policy._affinity) == set(TEXT_OPS) and all(a == 1.0 for a in policy._affinity.values())
        if target is not None:  # affinity above the target: each op's level rises from its start
            assert all(v > policy.level_start for v in policy._level.values())
    low = OnlineAugNet()
    low.reset(0)
    assert low.validate_batch(lambda b: torch.zeros(len(b), 2) + torch.tensor([0.0, 1.0]), tokens, labels) == 20
    assert not low._affinity  # at 0% the model is not learning yet: nothing measured


def test_online_augnet_on_the_text_child(tmp_path):
    import datasets

    rng = np.random.default_rng(0)
    words = "good great bad awful film movie plot actor story boring fun dull superb weak".split()
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["n", "p"])})
    for split, n in (("train", 160), ("test", 40)):
        labels = rng.integers(0, 2, n)
        texts = [
            " ".join(rng.choice(words[:2] if y else words[2:4], 2).tolist() + rng.choice(words, 5).tolist())
            for y in labels
        ]
        datasets.Dataset.from_dict({"text": texts, "label": labels.tolist()}, features=features).to_parquet(
            str(tmp_path / "sentiment" / f"{split}-00000-of-00001.parquet")
        )
    policy = load_policy("online-augnet")
    overrides = {"dataset": str(tmp_path / "sentiment"), "val_size": 0.2, "train_size": None, "eval_samples": None}
    _, metrics = run_child(
        "imdb-small",
        seed=0,
        device="cpu",
        policy=policy,
        epochs=2,
        batch_size=16,
        vocab_size=100,
        test=False,
        embeddings=None,
        **overrides,
    )
    assert metrics["extra_forward_samples"] > 0
    assert set(policy.op_distribution()) <= set(TEXT_OPS)


def test_benchmark_treats_online_augnet_as_the_policy_under_test():
    from policy_search.benchmark.report import METRICS, PolicySpec

    assert not PolicySpec("online-augnet", "online-augnet").is_baseline
    assert PolicySpec("entropy-adaptive", "entropy-adaptive").is_baseline
    names = [m[0] for m in METRICS]
    assert "child_run_equivalents" in names and "wall_vs_none" in names


def test_childrun_counts_validation_passes_in_its_state(shared_data_dir):
    run = ChildRun("mnist-proxy", seed=0, device="cpu", data_dir=str(shared_data_dir), **TINY)
    policy = load_policy("online-augnet")
    policy.reset(0)
    run.segment(5, policy, torch.Generator().manual_seed(0))
    state = run.state_dict()
    assert state["extra_forward_samples"] == run.extra_forward_samples > 0
    run.segment(2, policy, torch.Generator().manual_seed(0))
    run.load_state_dict(state)
    assert run.extra_forward_samples == state["extra_forward_samples"]


def test_train_agent_online_exports_a_warm_startable_controller_and_a_schedule(shared_data_dir, tmp_path):
    from policy_search.train_agent import TrainConfig, train

    out = tmp_path / "online"
    summary = train(
        TrainConfig(
            task="mnist-proxy", online=True, epochs=1, out=str(out), progress_bar=False, data_dir=str(shared_data_dir)
        ),
        argv=["--online"],
    )
    assert 1.0 < summary["child_run_equivalents"] < 2.0
    learned = load_policy(out / "policy.json")
    assert isinstance(learned, OnlineAugNet) and learned.affinity is not None
    assert learned.provenance["agent"] == "online" and learned.provenance["child_run_equivalents"] > 1
    schedule = load_policy(out / "schedule.json")
    assert schedule.kind == "schedule" and (out / "schedule.png").is_file()
    again = train(
        TrainConfig(
            task="mnist-proxy",
            online=True,
            online_policy=str(out / "policy.json"),
            epochs=1,
            seed=1,
            out=str(tmp_path / "again"),
            progress_bar=False,
            data_dir=str(shared_data_dir),
        ),
        argv=[],
    )
    assert load_policy(again["policy"]).provenance["warm_start"] == str(out / "policy.json")
    with pytest.raises(ValueError, match="does not learn inside the run"):
        train(TrainConfig(task="mnist-proxy", online=True, online_policy="flip-crop", out=str(tmp_path / "x")))


def test_magnitude_levels_follow_the_target_and_warm_start(tmp_path):
    """``magnitude_target``: each op's level moves toward the magnitude at which the model keeps that share of its
    clean accuracy (down for an op that breaks the model, up for one it ignores); ``ops_per_sample`` ops are
    applied in sequence; the levels travel in the learned file and warm-start the next run."""
    policy = OnlineAugNet(magnitude_target=0.8, ops_per_sample=2, ops_per_validation=13, bases=None)
    policy.reset(0)

    class ColorBlind(nn.Module):  # right on clean images; wrong once the pixels' geometry moves
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = (x.float()[:, 0, :14, :2].mean((1, 2)) > 50).long()  # the bright quarter's left edge
            return F.one_hot(y, 2).float()

    x = torch.zeros(64, 1, 28, 28, dtype=torch.uint8)
    x[:32, :, :14, :14] = 200
    y = (torch.arange(64) < 32).long()
    for _ in range(3):
        policy.validate_batch(ColorBlind(), x, y)
    levels = policy._level
    assert levels["Brightness"] > policy.level_start  # brightness keeps the bright quarter bright: affinity 1
    assert levels["TranslateX"] < levels["Brightness"]  # a shift moves the quarter: lower affinity, lower level
    policy.before_batch(ids=torch.arange(8))
    policy.after_batch(ids=torch.arange(8), logits=torch.tensor([[9.0, 0.0]] * 8), targets=torch.zeros(8).long())
    policy.before_batch(ids=torch.arange(8))
    params = policy.sample_batch(8, (28, 28), torch.Generator().manual_seed(0), 0.5)
    assert params.op_index.shape[0] == 2 + 2  # flip and crop bases, then two ops per sample
    learned = policy.learned()
    learned.save(tmp_path / "p.json")
    back = load_policy(tmp_path / "p.json")
    assert back.magnitude_target == 0.8 and back.ops_per_sample == 2
    back.reset(1)
    back._warm(IMAGE)
    assert back._level == pytest.approx(learned.levels["image"], abs=1e-4)
    with pytest.raises(PolicyConfigError, match="levels.image.Rotate"):
        OnlineAugNet(levels={"image": {"Rotate": 2.0}})
    assert OnlineAugNet(credit="cosine")._op_scale(torch.zeros(3).long(), False).tolist() == [1.0, 1.0, 1.0]
