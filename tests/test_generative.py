"""Conditional generators (tiny recipe: 256 MNIST training images, 1 epoch) and the synthetic policy kind."""

import json

import pytest
import torch

import policy_search
from policy_search.child.data import load_image_dataset
from policy_search.child.models import build_model
from policy_search.child.run import ChildRun, run_child
from policy_search.generative import train as generative
from policy_search.generative.quality import ReferenceClassifier, generator_quality, save_grid
from policy_search.generative.synthetic import Synthetic, synthetic_batch_transform
from policy_search.generative.train import GeneratorCheckpointError, get_generator, train_generator
from policy_search.policy import PolicyConfigError

TINY_CHILD = dict(train_size=256, epochs=1, eval_samples=128, batch_size=64)


@pytest.fixture(scope="module")
def gen_root(tmp_path_factory, shared_data_dir):
    """A private generator cache holding tiny MNIST VAE and DCGAN generators, trained once for the module."""
    root = tmp_path_factory.mktemp("generators")
    patch = pytest.MonkeyPatch()
    patch.setenv(generative.GENERATORS_ENV, str(root))
    patch.setenv("POLICY_SEARCH_DATA_DIR", str(shared_data_dir))
    generative._LOADED.clear()
    for model in ("vae", "dcgan"):
        get_generator("mnist", model, "tiny", progress=False)
    yield root
    generative._LOADED.clear()
    patch.undo()


@pytest.mark.parametrize("model", ["vae", "dcgan"])
def test_sample_shapes_conditioning_and_determinism(gen_root, model):
    gen = get_generator("mnist", model, "tiny", train_if_missing=False)
    labels = torch.tensor([0, 1, 2, 3, 9, 9], dtype=torch.int64)
    a = gen.sample(labels, torch.Generator().manual_seed(5))
    assert a.shape == (6, 1, 28, 28) and a.dtype == torch.uint8
    assert torch.equal(a, gen.sample(labels, torch.Generator().manual_seed(5)))
    assert not torch.equal(a, gen.sample(labels, torch.Generator().manual_seed(6)))
    # Same noise, different class: the condition changes the image.
    zeros, ones = (gen.sample(torch.full((4,), c, dtype=torch.int64), torch.Generator().manual_seed(1)) for c in (0, 1))
    assert not torch.equal(zeros, ones)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        gen.sample(torch.tensor([10]), torch.Generator())


def test_cache_reuse_does_not_retrain(gen_root, monkeypatch):
    path = generative.generator_dir("mnist", "vae", "tiny") / "checkpoint.pt"
    mtime = path.stat().st_mtime_ns
    generative._LOADED.clear()

    def fail(*args, **kwargs):
        raise AssertionError("get_generator retrained a cached generator")

    monkeypatch.setattr(generative, "train_generator", fail)
    gen = get_generator("mnist", "vae", "tiny")
    assert gen.meta["epoch"] == 1 and path.stat().st_mtime_ns == mtime
    assert get_generator("mnist", "vae", "tiny") is gen  # in-memory reuse too


def test_missing_and_incompatible_checkpoints_name_the_command(gen_root):
    with pytest.raises(
        GeneratorCheckpointError,
        match="python -m policy_search.generative train --dataset mnist --model vae --size tiny --seed 7",
    ):
        get_generator("mnist", "vae", "tiny", seed=7, train_if_missing=False)
    other = generative.generator_dir("mnist", "dcgan", "tiny", seed=8)
    other.mkdir(parents=True)
    good = torch.load(generative.generator_dir("mnist", "vae", "tiny") / "checkpoint.pt", weights_only=True)
    torch.save(good, other / "checkpoint.pt")  # a VAE where a DCGAN is expected
    with pytest.raises(GeneratorCheckpointError, match="incompatible.*--model dcgan --size tiny --seed 8"):
        get_generator("mnist", "dcgan", "tiny", seed=8, train_if_missing=False)
    (other / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(GeneratorCheckpointError, match="cannot be read"):
        get_generator("mnist", "dcgan", "tiny", seed=8, train_if_missing=False)
    # Missing generators fail on the first batch, even one that picks no image to replace.
    for ratio in (0.5, 1e-9):
        with pytest.raises(GeneratorCheckpointError, match="--model vae --size proxy"):
            Synthetic("vae", ratio, seed=9)(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.zeros(4).long())


def test_resume_continues_exactly(gen_root, tmp_path):
    once = train_generator("mnist", "vae", tmp_path / "a", size="tiny", epochs=2, progress=False)
    train_generator("mnist", "vae", tmp_path / "b", size="tiny", epochs=1, progress=False)
    resumed = train_generator("mnist", "vae", tmp_path / "b", size="tiny", epochs=2, resume=True, progress=False)
    assert [h["epoch"] for h in resumed.meta["history"]] == [1, 2]
    for key, value in once.net.state_dict().items():
        assert torch.equal(value, resumed.net.state_dict()[key]), key


def test_synthetic_transform_replaces_a_fraction_with_labels_kept(gen_root, tmp_path):
    from policy_search.policy import BatchTransform, Policy, Sequence, augment_batch

    transform = Synthetic("dcgan", 0.5, size="tiny")
    assert isinstance(transform, BatchTransform) and not isinstance(transform, Policy)  # its own family
    images = torch.zeros(64, 1, 28, 28, dtype=torch.uint8)
    labels = torch.arange(64) % 10
    out, out_labels = transform(images, labels, generator=torch.Generator().manual_seed(0))
    replaced = out.flatten(1).any(1)
    assert 10 < int(replaced.sum()) < 54 and torch.equal(out_labels, labels) and out.dtype == torch.uint8
    again, _ = augment_batch(transform, images, labels, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    assert transform.expected_cost() == pytest.approx(0.5 * generative.relative_cost("mnist", "dcgan", "tiny"))
    with pytest.raises(TypeError):
        transform(images)
    with pytest.raises(PolicyConfigError, match="do not nest"):
        Sequence([transform])
    loaded = policy_search.load_policy(transform.save(tmp_path / "p.json"))
    assert isinstance(loaded, Synthetic) and loaded.body() == transform.body() and loaded.needs_labels


def test_presets_and_file_validation():
    for model in ("vae", "dcgan"):
        preset = policy_search.load_policy(f"synthetic-{model}-0.2")
        assert isinstance(preset, Synthetic) and preset.ratio == 0.2 and preset.model == model
    with pytest.raises(PolicyConfigError, match="ratio"):
        Synthetic("vae", 1.5)
    with pytest.raises(PolicyConfigError, match="model"):
        Synthetic("flow", 0.2)


def test_op_inside_childrun_and_run_child(gen_root):
    run = ChildRun("mnist-proxy", device="cpu", **TINY_CHILD)
    seen = []
    inner = synthetic_batch_transform("vae", "mnist", 0.3, torch.Generator().manual_seed(0), size="tiny")

    def transform(images, labels):
        out, out_labels = inner(images, labels)
        seen.append(float((out != images).flatten(1).any(1).float().mean()))
        return out, out_labels

    stats = run.train(2, batch_transform=transform)
    assert stats["batches"] == 2 and len(seen) == 2 and 0.0 < sum(seen) / 2 < 0.7
    _, metrics = run_child("mnist-proxy", device="cpu", policy=Synthetic("vae", 0.3, size="tiny"), **TINY_CHILD)
    assert metrics["aug_time_s"] > 0 and 0.0 <= metrics["test"]["accuracy"] <= 1.0


def test_quality_measures_and_grid(gen_root, tmp_path):
    gen = get_generator("mnist", "vae", "tiny", train_if_missing=False)
    classifier = ReferenceClassifier(
        build_model("lenet5", 1, 10, 28), torch.zeros(1, 1, 1, 1), torch.full((1, 1, 1, 1), 255.0), "untrained", 0.1
    )
    real = load_image_dataset("mnist").train.subset(200, seed=0)
    quality = generator_quality(gen, classifier, real, samples_per_class=8)
    assert len(quality["classifier_accuracy_per_class"]) == 10 and 0 <= quality["classifier_accuracy_mean"] <= 1
    assert all(d >= 0 for d in quality["diversity_ratio_per_class"])
    assert save_grid(gen, tmp_path / "grid.png", per_class=4).stat().st_size > 0


def test_synthetic_policy_file_runs_through_the_benchmark_harness(gen_root, tmp_path):
    from policy_search.benchmark.harness import run_benchmark

    path = Synthetic("vae", 0.3, dataset="mnist", size="tiny").save(tmp_path / "syn.json")
    result = run_benchmark(
        "mnist-proxy",
        [str(path)],
        1,
        tmp_path / "bench",
        device="cpu",
        overrides=TINY_CHILD,
        robustness_samples=0,
        progress=False,
        report=False,
    )
    assert result["counts"]["computed"] == 1
    record = json.loads(next((tmp_path / "bench" / "runs").glob("*-seed0.json")).read_text())
    assert 0.0 <= record["test"]["accuracy"] <= 1.0 and record["policy_repr"].startswith("Synthetic")


def test_optuna_searches_the_synthetic_ratio(gen_root, tmp_path):
    import csv

    from policy_search.search.study import SearchConfig, run_search

    config = SearchConfig(
        task="mnist-episode",
        sampler="random",
        pruner="none",
        trials=4,
        out=str(tmp_path / "s"),
        space="randaugment",
        synthetic="vae:tiny",
        seed=1,
        device="cpu",
        epochs=1,
        overrides={"train_size": 256, "eval_samples": 128, "batch_size": 32, "val_size": 500},
    )
    run_search(config)
    with open(tmp_path / "s" / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    ratio_column = next(c for c in rows[0] if "synthetic_ratio" in c)
    assert len(rows) == 4 and all(float(r[ratio_column]) in (0.0, 0.1, 0.2, 0.3, 0.5) for r in rows)
    best = json.loads((tmp_path / "s" / "best_policy.json").read_text())["provenance"]["search"]["params"]
    if best["synthetic_ratio"] > 0:
        assert policy_search.load_policy(str(tmp_path / "s" / "best_synthetic.json")).ratio == best["synthetic_ratio"]
    with pytest.raises(ValueError, match="vae"):
        SearchConfig(task="mnist-episode", synthetic="gan", out=str(tmp_path / "t")).validate()


def test_generative_cli_records_options_and_command_and_refuses_bad_input(gen_root, tmp_path, capsys):
    from policy_search.generative.cli import main

    out = tmp_path / "quality"
    argv = ["evaluate", "--dataset", "mnist", "--model", "vae", "--size", "tiny", "--samples-per-class", "4"]
    assert main([*argv, "--out", str(out)]) == 0
    recorded = json.loads((out / "command_config.json").read_text())
    assert recorded["command"] == "evaluate" and recorded["samples_per_class"] == 4
    assert (out / "command.txt").read_text().startswith("python -m policy_search.generative evaluate --dataset mnist")
    from policy_search.config import parse_config
    from policy_search.generative.cli import GenerativeConfig, build_parser

    config = tmp_path / "c.json"
    config.write_text(json.dumps({"dataset": "mnist", "model": "vae", "size": "tiny", "samples_per_class": 2}))
    parsed = parse_config(GenerativeConfig, build_parser(), ["evaluate", "--config", str(config), "--seed", "3"])
    assert (parsed.command, parsed.samples_per_class, parsed.seed) == ("evaluate", 2, 3)  # --config, like the rest
    capsys.readouterr()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for bad, message in (
        (["evaluate", "--dataset", "mnist", "--out", str(out)], "needs --model"),
        (["train", "--dataset", "mnist", "--model", "vae", "--epochs", "-1", "--out", str(out)], "--epochs"),
        (["train", "--dataset", "mnist", "--model", "vae", "--out", str(blocker / "x")], "cannot hold"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(bad)
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_info.value.code == 2 and message in err[-1] and err[-1].startswith(("error:", "python -m")), err


def test_lambada_filter_keeps_only_reviews_a_real_data_classifier_labels_as_conditioned():
    """issue 35: the classifier learns word presence; the filter keeps a draw only when it carries its label,
    draws again for the rest, counts the acceptance rate, and flags rows it never accepted."""
    import torch

    from policy_search.generative.text_filter import FilteredTextGenerator, train_word_presence_classifier
    from policy_search.ops.text import TokenBatch

    g = torch.Generator().manual_seed(0)
    labels = torch.arange(400) % 2
    words = torch.randint(0, 5, (400, 12), generator=g) + 5 + 5 * labels[:, None]  # class 0: 5-9, class 1: 10-14
    tokens = TokenBatch(words, torch.full((400,), 12))
    clf = train_word_presence_classifier(tokens, labels, vocab_size=20, num_classes=2, epochs=20)
    assert float((clf(tokens).argmax(1) == labels).float().mean()) == 1.0

    class Coin:  # a generator that carries its label half the time
        def sample(self, want, generator, max_length=None):
            flip = torch.rand(len(want), generator=generator) < 0.5
            shown = torch.where(flip, 1 - want, want)
            ids = torch.randint(0, 5, (len(want), 8), generator=generator) + 5 + 5 * shown[:, None]
            return TokenBatch(ids, torch.full((len(want),), 8))

    filtered = FilteredTextGenerator(Coin(), clf, threshold=0.9, rounds=20)
    want = torch.arange(64) % 2
    out, accepted = filtered.sample(want, torch.Generator().manual_seed(1))
    assert bool(accepted.all())  # a row fails 20 draws with probability 0.5**20
    assert bool((clf(TokenBatch(out.ids, out.lengths)).argmax(1) == want).all())
    assert 0.35 < filtered.acceptance_rate < 0.65 and filtered.drawn > 64
    once = FilteredTextGenerator(Coin(), clf, threshold=0.9, rounds=1)
    _, accepted = once.sample(want, torch.Generator().manual_seed(2))
    assert 0 < int(accepted.sum()) < 64  # one draw: the rows it rejected are flagged, not filled with a bad review


def test_synthetic_text_records_its_filter_only_when_it_has_one(tmp_path):
    from policy_search.policy import load_policy
    from policy_search.policy.presets import policy_preset

    plain, filtered = policy_preset("synthetic-text-0.1"), policy_preset("synthetic-text-filtered-0.1")
    assert "filter_threshold" not in plain.to_dict()["body"]
    assert filtered.to_dict()["body"]["filter_threshold"] == 0.9
    filtered.save(tmp_path / "f.json")
    assert load_policy(str(tmp_path / "f.json")).filter_threshold == 0.9
