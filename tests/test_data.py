import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from policy_search.child.data import DatasetError, load_image_dataset, stratified_indices


@pytest.fixture(scope="module")
def cifar(shared_data_dir):
    return load_image_dataset("cifar10", shared_data_dir)


def test_cifar10_splits_shapes_and_balance(cifar):
    assert cifar.train.images.shape == (45000, 3, 32, 32)
    assert cifar.val.images.shape == (5000, 3, 32, 32)
    assert cifar.test.images.shape == (10000, 3, 32, 32)
    assert cifar.train.images.dtype == torch.uint8 and cifar.train.labels.dtype == torch.int64
    assert cifar.val.class_counts(10).tolist() == [500] * 10
    assert cifar.train.class_counts(10).tolist() == [4500] * 10
    assert cifar.class_names[0] == "airplane" and cifar.num_classes == 10


def test_val_split_is_deterministic_and_disjoint_from_train(shared_data_dir, cifar):
    again = load_image_dataset("cifar10", shared_data_dir)
    assert torch.equal(again.val.images, cifar.val.images)
    other = load_image_dataset("cifar10", shared_data_dir, seed=1)
    assert not torch.equal(other.val.labels, cifar.val.labels)
    # no validation image appears in train: compare hashes of the raw bytes
    train_keys = {bytes(x.numpy().tobytes()) for x in cifar.train.images[:45000:9]}
    assert not any(bytes(x.numpy().tobytes()) in train_keys for x in cifar.val.images)


def test_proxy_subset_is_stratified_and_seeded(cifar):
    reduced = cifar.train.subset(4000, seed=0)
    assert len(reduced) == 4000
    assert reduced.class_counts(10).tolist() == [400] * 10
    assert torch.equal(reduced.labels, cifar.train.subset(4000, seed=0).labels)
    with pytest.raises(ValueError, match="at most"):
        cifar.train.subset(10**6)


def test_mnist_loads_single_channel(shared_data_dir):
    mnist = load_image_dataset("mnist", shared_data_dir, val_size=1000)
    assert mnist.train.images.shape[1:] == (1, 28, 28)
    assert len(mnist.train) + len(mnist.val) == 60000 and len(mnist.test) == 10000


def test_stratified_indices_exact_size():
    labels = torch.tensor([0] * 7 + [1] * 3 + [2] * 5)
    idx = stratified_indices(labels, 6, seed=3)
    assert len(idx) == 6 and len(set(idx.tolist())) == 6


def test_missing_dataset_names_the_setting(tmp_path):
    with pytest.raises(DatasetError, match="POLICY_SEARCH_DATA_DIR"):
        load_image_dataset("cifar10", tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_image_dataset("no-such-dataset", tmp_path)


def test_environment_variable_is_the_default(monkeypatch, shared_data_dir):
    monkeypatch.setenv("POLICY_SEARCH_DATA_DIR", str(shared_data_dir))
    assert load_image_dataset("mnist", val_size=100).name == "mnist"


def _write_imagefolder(root: Path, corrupt: bool = False) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog", "eel"):
        (root / cls).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
    if corrupt:
        (root / "cat" / "0.png").write_bytes(b"not a png")


def test_imagefolder_dataset_with_carved_test_split(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POLICY_SEARCH_CACHE", str(tmp_path / "cache"))
    _write_imagefolder(tmp_path / "pets")
    ds = load_image_dataset(str(tmp_path / "pets"), val_size=3, test_fraction=0.25)
    assert "no test split: 25% of 'train' is set aside" in capsys.readouterr().err  # said, not silent
    assert ds.class_names == ["cat", "dog", "eel"]
    assert ds.train.images.shape[1:] == (3, 12, 12)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 24 and len(ds.test) == 6


def test_corrupt_image_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("POLICY_SEARCH_CACHE", str(tmp_path / "cache"))
    _write_imagefolder(tmp_path / "bad", corrupt=True)
    with pytest.raises(DatasetError, match="(?i)corrupt|unreadable|could not load"):
        load_image_dataset(str(tmp_path / "bad"), val_size=3)


def test_a_truncated_parquet_file_is_an_error_not_a_stale_cache(tmp_path, monkeypatch):
    import datasets
    from PIL import Image

    monkeypatch.setenv("POLICY_SEARCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    root = tmp_path / "hub"
    rng = np.random.default_rng(0)
    rows = {"image": [Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)) for _ in range(40)]}
    rows["label"] = [i % 2 for i in range(40)]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])})
    for split in ("train", "test"):
        (root / "data").mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_dict(rows, features=features).to_parquet(
            root / "data" / f"{split}-00000-of-00001.parquet"
        )
    assert len(load_image_dataset(str(root), val_size=4).train) == 36
    parquet = root / "data" / "train-00000-of-00001.parquet"
    before = parquet.stat()
    parquet.write_bytes(parquet.read_bytes()[: before.st_size // 2])
    os.utime(parquet, ns=(before.st_atime_ns, before.st_mtime_ns))  # a copy that kept its time stamp
    with pytest.raises(DatasetError, match="could not load"):
        load_image_dataset(str(root), val_size=4)


def test_a_cache_another_worker_published_first_is_kept_not_swapped_under_its_readers(tmp_path):
    from policy_search.child.data import publish_cache

    target = tmp_path / "cache"
    first, second = tmp_path / "cache.tmp1", tmp_path / "cache.tmp2"
    for folder, value in ((first, "first"), (second, "second")):
        folder.mkdir()
        (folder / "tensors.pt").write_text(value)
    publish_cache(first, target, {"by": 1})
    reader = target / "tensors.pt"  # a worker that saw meta.json and is about to load the tensors
    publish_cache(second, target, {"by": 2})  # a second worker whose build finished later
    assert reader.read_text() == "first" and json.loads((target / "meta.json").read_text()) == {"by": 1}
    assert not second.exists()
    third = tmp_path / "cache.tmp3"
    third.mkdir()
    (third / "tensors.pt").write_text("refreshed")
    publish_cache(third, target, {"by": 3}, replace=True)  # refresh=True rebuilds on purpose
    assert reader.read_text() == "refreshed" and not third.exists()


def test_a_test_class_that_train_never_has_is_refused(tmp_path, monkeypatch):
    import datasets
    from PIL import Image

    monkeypatch.setenv("POLICY_SEARCH_CACHE", str(tmp_path / "cache"))
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b", "c"])})
    rng = np.random.default_rng(0)
    for split, labels in (("train", [0, 1] * 6), ("test", [0, 1, 2, 2])):
        images = [Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)) for _ in labels]
        datasets.Dataset.from_dict({"image": images, "label": labels}, features=features).to_parquet(
            str(tmp_path / "three" / f"{split}-00000-of-00001.parquet")
        )
    with pytest.raises(DatasetError, match=r"label\(s\) \[2\] that the 'train' split never has"):
        load_image_dataset(str(tmp_path / "three"), val_size=2)


def test_tiny_images_are_one_line_and_image_size_is_a_real_option(tmp_path, monkeypatch, capsys):
    """1-pixel images: an error that names the option that fixes it, and that option works from the CLI."""
    from PIL import Image

    from policy_search.child.cli import main

    monkeypatch.setenv("POLICY_SEARCH_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / "dots" / cls).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 255, (1, 1, 3), dtype=np.uint8)).save(tmp_path / "dots" / cls / f"{i}.png")
    argv = [
        "--task",
        "mnist-small",
        "--dataset",
        str(tmp_path / "dots"),
        "--epochs",
        "1",
        "--no-test",
        "--set",
        "batch_size=8",
    ]
    assert main([*argv, "--out", str(tmp_path / "o1")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "1x1 pixels" in err and "--set image_size=32" in err
    assert main([*argv, "--set", "image_size=16", "--out", str(tmp_path / "o2")]) == 0


def test_train_agent_takes_the_set_option_its_hints_name(tmp_path, monkeypatch, capsys):
    """8x8 images (scikit-learn's digits, tried as a new user would): the search's error says --set image_size=16,
    and train_agent takes --set like child, search and benchmark (the race's runs too), recorded in config.json."""
    from PIL import Image

    from policy_search.train_agent import main

    monkeypatch.setenv("POLICY_SEARCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("POLICY_SEARCH_THREADS", "1")
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / "small" / cls).mkdir(parents=True)
        for i in range(16):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(tmp_path / "small" / cls / f"{i}.png")
    argv = ["--task", "mnist-small", "--dataset", str(tmp_path / "small"), "--epochs", "1", "--episodes", "2"]
    argv += ["--rescore", "0", "--set", "batch_size=8", "--no-progress-bar"]
    assert main([*argv, "--out", str(tmp_path / "o1")]) == 2
    assert "--set image_size=16" in capsys.readouterr().err.strip().splitlines()[-1]
    assert main([*argv, "--set", "image_size=16", "--out", str(tmp_path / "o2")]) == 0
    recorded = json.loads((tmp_path / "o2" / "config.json").read_text())
    assert recorded["overrides"] == {"batch_size": 8, "image_size": 16}
    assert main([*argv, "--set", "no_such_field=1", "--out", str(tmp_path / "o3")]) == 2
    assert "no_such_field" in capsys.readouterr().err
    assert not (tmp_path / "o3").exists()  # refused before the folder is made
    assert main([*argv, "--set", "image_size=20", "--resume", "--out", str(tmp_path / "o2")]) == 2
    assert "--set" in capsys.readouterr().err  # a resume keeps the run's overrides
