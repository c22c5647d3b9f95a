import json

import numpy as np
import pytest
import torch

from policy_search.child.metrics import classification_report, confusion_matrix
from policy_search.child.models import MODELS, build_model
from policy_search.child.run import FEATURE_NAMES, ChildDivergedError, ChildRun
from policy_search.child.tasks import PRESETS, get_preset

TINY = dict(train_size=512, epochs=1, eval_samples=256, batch_size=64)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("shape", [(1, 28), (3, 32)])
def test_models_build_and_run(name, shape):
    c, s = shape
    model = build_model(name, c, 10, s)
    assert model(torch.zeros(2, c, s, s)).shape == (2, 10)


def test_unknown_model_and_preset_are_named():
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        build_model("vgg", 3, 10, 32)
    with pytest.raises(ValueError, match="unknown task preset 'nope'.*mnist-proxy"):
        get_preset("nope")
    with pytest.raises(ValueError, match="unknown preset field"):
        get_preset("mnist-proxy", epoch=3)


def test_seed_experiment_presets_match_the_designs():
    assert PRESETS["cifar10-resnet18"].optimizer == "adam" and PRESETS["cifar10-resnet18"].epochs == 50
    assert PRESETS["mnist-lenet5"].batch_size == 32 and PRESETS["mnist-lenet5"].lr == 0.01
    assert PRESETS["cifar10-cnn-sgd"].momentum == 0.9 and PRESETS["cifar10-cnn-sgd"].batch_size == 128
    assert {"mnist-proxy", "cifar10-proxy"} <= set(PRESETS)


def test_childrun_steps_features_and_accounting(shared_data_dir):
    run = ChildRun("mnist-proxy", seed=0, device="cpu", data_dir=str(shared_data_dir), **TINY)
    assert run.total_batches == 8 and run.progress == 0.0
    seen = []
    stats = run.train(3, augment=lambda x: (seen.append(x.dtype), torch.flip(x, dims=[3]))[1])
    assert stats["batches"] == 3 and seen == [torch.uint8] * 3
    val = run.evaluate("val")
    assert val["samples"] == 256 and 0.0 <= val["accuracy"] <= 1.0
    feats = run.features()
    assert feats.dtype == np.float32 and feats.shape == (len(FEATURE_NAMES),)
    assert feats[0] == pytest.approx(3 / 8)
    run.train(100)
    assert run.done and run.batches_done == 8
    acct = run.accounting()
    assert acct["samples_seen"] == 8 * 64 and acct["aug_time_s"] > 0 and acct["peak_rss_mb"] > 0


def test_childrun_is_deterministic_on_cpu(shared_data_dir):
    def final_loss(seed):
        run = ChildRun("mnist-proxy", seed=seed, device="cpu", data_dir=str(shared_data_dir), **TINY)
        run.train(8)
        return run.evaluate("val")["loss"]

    assert final_loss(1) == final_loss(1)
    assert final_loss(1) != final_loss(2)


def test_test_split_is_locked_during_search(shared_data_dir):
    run = ChildRun("mnist-proxy", device="cpu", data_dir=str(shared_data_dir), allow_test=False, **TINY)
    with pytest.raises(PermissionError, match="test split"):
        run.evaluate("test")


def test_divergence_raises_clear_error(shared_data_dir):
    run = ChildRun("mnist-proxy", device="cpu", data_dir=str(shared_data_dir), **TINY)
    with pytest.raises(ChildDivergedError, match="lower the learning rate"):
        run.train(2, augment=lambda x: x, batch_transform=lambda x, y: (x, y))  # fine
        run.model.features[0].weight.data.fill_(float("nan"))
        run.train(1)


def test_checkpoint_round_trip_continues_identically(shared_data_dir):
    a = ChildRun("mnist-proxy", seed=3, device="cpu", data_dir=str(shared_data_dir), **TINY)
    a.train(4)
    state = a.state_dict()
    b = ChildRun("mnist-proxy", seed=99, device="cpu", data_dir=str(shared_data_dir), **TINY)
    b.load_state_dict(state)
    a.train(4)
    b.train(4)
    assert a.evaluate("val")["loss"] == b.evaluate("val")["loss"]


def test_metrics_report_matches_hand_computation():
    preds = torch.tensor([0, 1, 1, 2, 2, 2])
    labels = torch.tensor([0, 1, 2, 2, 2, 0])
    cm = confusion_matrix(preds, labels, 3)
    assert cm.tolist() == [[1, 0, 1], [0, 1, 0], [0, 1, 2]]
    rep = classification_report(preds, labels, 3)
    assert rep["accuracy"] == pytest.approx(4 / 6)
    # precision: 1/1, 1/2, 2/3; recall: 1/2, 1/1, 2/3
    assert rep["macro_precision"] == pytest.approx((1 + 0.5 + 2 / 3) / 3)
    assert rep["macro_recall"] == pytest.approx((0.5 + 1 + 2 / 3) / 3)
    f1 = [2 * p * r / (p + r) for p, r in ((1, 0.5), (0.5, 1), (2 / 3, 2 / 3))]
    assert rep["macro_f1"] == pytest.approx(sum(f1) / 3)


def test_child_cli_writes_metrics(tmp_path, shared_data_dir):
    from policy_search.child.cli import main

    rc = main(
        [
            "--preset",
            "mnist-proxy",
            "--epochs",
            "0.3",
            "--data-dir",
            str(shared_data_dir),
            "--device",
            "cpu",
            "--out",
            str(tmp_path),
        ]
    )
    assert rc == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.5 and 0 < metrics["test"]["macro_f1"] <= 1
    assert metrics["train_time_s"] > 0 and len(metrics["test"]["confusion_matrix"]) == 10
    assert main(["--preset", "nope", "--out", str(tmp_path)]) == 2


def test_child_cli_overrides_preset_fields(tmp_path, shared_data_dir, capsys):
    from policy_search.child.cli import main

    args = ["--preset", "mnist-proxy", "--epochs", "0.3", "--data-dir", str(shared_data_dir), "--device", "cpu"]
    assert PRESETS["mnist-proxy"].lr_schedule == "cosine"
    assert main([*args, "--set", "lr_schedule=constant", "--set", "epochs=5", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["preset"]["lr_schedule"] == "constant" and "lr_schedule=constant" in metrics["preset"]["description"]
    assert metrics["preset"]["epochs"] == 0.3  # --epochs wins over --set epochs=
    assert {round(h["lr"], 12) for h in metrics["history"]} == {PRESETS["mnist-proxy"].lr}
    assert json.loads((tmp_path / "config.json").read_text())["overrides"] == {"lr_schedule": "constant", "epochs": 5}
    capsys.readouterr()
    assert main([*args, "--set", "lr_schedule=linear", "--out", str(tmp_path)]) == 2
    assert main([*args, "--set", "lr_shedule=cosine", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "lr_schedule" in err[0] and "lr_shedule" in err[1] and "valid fields" in err[1]


def test_child_cli_no_test_locks_the_test_split(tmp_path, shared_data_dir, capsys, monkeypatch):
    from policy_search.child import run as child_run
    from policy_search.child.cli import main

    splits = []
    evaluate_full = child_run.ChildRun.evaluate_full
    monkeypatch.setattr(
        child_run.ChildRun,
        "evaluate_full",
        lambda self, split="test": splits.append(split) or evaluate_full(self, split),
    )
    args = ["--preset", "mnist-proxy", "--epochs", "0.2", "--data-dir", str(shared_data_dir), "--device", "cpu"]
    assert main([*args, "--no-test", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"] is None and "test" not in splits and metrics["val"]["accuracy"] > 0
    assert json.loads((tmp_path / "config.json").read_text())["test"] is False
    assert "val (test split locked) accuracy" in capsys.readouterr().out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_childrun_on_cuda(shared_data_dir):
    run = ChildRun("mnist-proxy", device="cuda", data_dir=str(shared_data_dir), **TINY)
    run.train(2)
    assert run.evaluate("val")["samples"] == 256 and "cuda_max_allocated_mb" in run.accounting()


def test_one_model_table_says_each_models_modality_and_metric():
    """issue 34: one registry (child/tasks.py MODEL_TABLE); every row builds in its modality's builder."""
    from policy_search.child.models import build_model
    from policy_search.child.tasks import MODEL_TABLE, TaskPreset
    from policy_search.child.text_models import build_text_model

    for row in MODEL_TABLE:
        preset = TaskPreset(name="t", model=row.name)
        assert (preset.modality, preset.metric) == (row.modality, row.metric)
        if row.modality == "image":
            assert build_model(row.name, 3, 10, 32) is not None
        elif row.name != "bert-pretrained":  # needs a Hub name or a local folder
            assert build_text_model(row.name, 50, 2, 16) is not None
    assert TaskPreset(name="t", model="bilstm-tagger").metric == "entity_f1"
