"""Shared fixtures: small slices of the real datasets, read through the POLICY_SEARCH_DATA_DIR setting."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

# One torch thread for the whole session: CLIs called in-process would otherwise switch to all cores midway
# (they set threads from POLICY_SEARCH_THREADS), and results must not depend on test order.
os.environ.setdefault("POLICY_SEARCH_THREADS", "1")
import pytest
import torch

torch.set_num_threads(int(os.environ["POLICY_SEARCH_THREADS"]) or torch.get_num_threads())

REPO = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    configured = os.environ.get("POLICY_SEARCH_DATA_DIR")
    path = Path(configured) if configured else REPO.parent / "shared" / "data"
    if not (path / "cifar10").is_dir():
        pytest.skip(f"offline datasets not found at {path}; set POLICY_SEARCH_DATA_DIR to the shared data folder")
    return path


def _parquet_images(parquet: Path, column: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    import pyarrow.parquet as pq
    from PIL import Image

    table = pq.ParquetFile(parquet).read_row_group(0).slice(0, n)
    images, labels = [], table.column("label").to_pylist()
    for cell in table.column(column).to_pylist():
        array = np.asarray(Image.open(io.BytesIO(cell["bytes"])))
        images.append(array[None] if array.ndim == 2 else array.transpose(2, 0, 1))
    return torch.from_numpy(np.stack(images)).contiguous(), torch.tensor(labels, dtype=torch.int64)


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    return data_dir()


@pytest.fixture(scope="session")
def cifar_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """64 real CIFAR-10 training images, uint8 [64,3,32,32], and their labels."""
    return _parquet_images(data_dir() / "cifar10/plain_text/train-00000-of-00002.parquet", "img", 64)


@pytest.fixture(scope="session")
def mnist_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """64 real MNIST training images, uint8 [64,1,28,28], and their labels."""
    return _parquet_images(data_dir() / "mnist/mnist/train-00000-of-00001.parquet", "image", 64)


@pytest.fixture(params=["fused", "torch"])
def kernels(request, monkeypatch) -> str:
    """Runs a test once per CPU kernel backend (policy_search/ops_fused.py vs the batched torch kernels)."""
    from policy_search.ops.image import fused as ops_fused

    if request.param == "fused" and ops_fused.numba is None:
        pytest.skip("numba is not installed: no fused kernels")
    monkeypatch.setenv("POLICY_SEARCH_KERNELS", request.param)
    return request.param
