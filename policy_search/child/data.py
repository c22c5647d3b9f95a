"""Image-classification datasets, decoded once to uint8 ``[N,C,H,W]`` and cached on disk.

Sources, through Hugging Face ``datasets``:

- a known name (``cifar10``, ``mnist``) read from ``<data_dir>/<name>`` (the Hub layout, offline) when a data
  directory is set (``POLICY_SEARCH_DATA_DIR`` or ``data_dir=``), else from the Hub by its repository id;
- any Hub repository id (``owner/name``);
- any local directory: a Hub-layout folder (parquet shards + card) or an ``imagefolder`` tree
  (``<split>/<class>/<file>`` or ``<class>/<file>``).

The decoded arrays are cached as ``.npy`` under ``$POLICY_SEARCH_CACHE`` (default ``~/.cache/policy_search``), so a
warm load is a memory map plus one copy. The validation split is carved out of the training split (stratified,
seeded); the test split is kept apart and never used for search.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from policy_search.child.sources import (  # noqa: F401  (DATA_DIR_ENV, check_dataset: this module's API too)
    CACHE_ENV,
    DATA_DIR_ENV,
    KNOWN_DATASETS,
    DatasetError,
    cache_root,
    check_dataset,
    default_data_dir,
    load_hub_dataset,
    resolve_dataset,
    source_fingerprint,
)

CACHE_FORMAT = 2  # 2: one colour mode per dataset (a grey first image made format 1 caches of colour data grey)

_IMAGE_COLUMNS = ("img", "image", "pixel_values", "images", "picture")
_LABEL_COLUMNS = ("label", "labels", "fine_label", "class", "target")


@dataclass
class Split:
    """One split: ``images`` uint8 ``[N,C,H,W]`` and ``labels`` int64 ``[N]``, on the same device."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> Split:
        return Split(self.images.to(device), self.labels.to(device))

    def subset(self, n: int, seed: int = 0) -> Split:
        """A stratified, seeded subset of ``n`` examples (e.g. the 4,000-image reduced CIFAR-10)."""
        if n > len(self):
            raise ValueError(
                f"subset of {n} examples requested from a split of {len(self)}; ask for at most {len(self)}"
            )
        index = stratified_indices(self.labels.cpu(), n, seed)
        index = index.to(self.labels.device)
        return Split(self.images.index_select(0, index), self.labels.index_select(0, index))

    def class_counts(self, num_classes: int) -> torch.Tensor:
        return torch.bincount(self.labels.cpu(), minlength=num_classes)


@dataclass
class ImageDataset:
    """Train / validation / test splits of an image-classification dataset."""

    name: str
    train: Split
    val: Split
    test: Split
    class_names: list[str]
    source: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])  # type: ignore[return-value]

    def to(self, device: torch.device | str) -> ImageDataset:
        return ImageDataset(
            self.name,
            self.train.to(device),
            self.val.to(device),
            self.test.to(device),
            self.class_names,
            self.source,
            self.extra,
        )


def stratified_indices(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` indices into ``labels`` with each class represented in proportion (largest remainder), seeded."""
    generator = torch.Generator().manual_seed(int(seed))
    classes, counts = torch.unique(labels, return_counts=True)
    quota = counts.double() * n / len(labels)
    take = quota.floor().long()
    remainder = n - int(take.sum())
    if remainder > 0:
        order = torch.argsort(quota - take.double(), descending=True, stable=True)
        take[order[:remainder]] += 1
    chosen = []
    for cls, k in zip(classes.tolist(), take.tolist()):
        members = torch.nonzero(labels == cls).flatten()
        chosen.append(members[torch.randperm(len(members), generator=generator)[:k]])
    index = torch.cat(chosen)
    return index[torch.randperm(len(index), generator=generator)]


def _pick_column(columns: list[str], given: str | None, candidates: tuple[str, ...], what: str, features) -> str:
    if given is not None:
        if given not in columns:
            raise DatasetError(f"{what} column {given!r} not in the dataset; its columns are {columns}")
        return given
    for name in candidates:
        if name in columns:
            return name
    if what == "image":
        import datasets

        for name in columns:
            if isinstance(features.get(name), datasets.Image):
                return name
    raise DatasetError(
        f"could not detect the {what} column among {columns}; name it with --set {what}_column=NAME "
        f"({what}_column=NAME in Python)"
    )


def _image_cells(ds, image_column: str) -> list:
    import datasets

    return ds.cast_column(image_column, datasets.Image(decode=False)).data.column(image_column).to_pylist()


def _open(cell: Any):
    from PIL import Image

    raw = cell.get("bytes")
    return Image.open(io.BytesIO(raw)) if raw is not None else Image.open(cell["path"])


def _colour_mode(*splits: list) -> str:
    """``RGB`` if any image of any split is in colour, else ``L``: one mode for the whole dataset, so a grey first
    image does not turn a colour dataset grey (nor a colour test split meet a grey-trained model). Reads headers
    only; unreadable files are left to the decoder, which names them."""
    for cells in splits:
        for cell in cells:
            try:
                if _open(cell).mode not in ("L", "1", "I", "I;16", "F"):
                    return "RGB"
            except Exception:  # noqa: BLE001 - reported with its row by _decode_split
                continue
    return "L"


def _labels(ds, label_column: str) -> np.ndarray:
    """The label column as int64 class indices; a label that is not a whole number >= 0 is one line."""
    values = ds.data.column(label_column).to_pylist()
    bad = next(
        (
            (i, v)
            for i, v in enumerate(values)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v != int(v) or v < 0
        ),
        None,
    )
    if bad is not None:
        raise DatasetError(
            f"label {bad[1]!r} at row {bad[0]} of column {label_column!r} is not a class index (a whole number >= 0); "
            "map the labels to 0..K-1 (a ClassLabel column) or name the right column with --set label_column=NAME"
        )
    return np.asarray(values, dtype=np.int64)


def _memory_budget() -> int:
    """Bytes a decoded split may take: half the memory available now (8 GiB where /proc/meminfo is missing)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except (OSError, ValueError, IndexError):
        pass
    return 8 << 30


def _decode_split(
    ds, image_column: str, label_column: str, image_size: int | None, mode: str = "RGB"
) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    cells = _image_cells(ds, image_column)
    labels = _labels(ds, label_column)
    out: np.ndarray | None = None
    for i, cell in enumerate(cells):
        try:
            img = _open(cell).convert(mode)
            if image_size is not None and img.size != (image_size, image_size):
                img = img.resize((image_size, image_size), Image.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
        except Exception as err:
            where = f" ({cell['path']})" if isinstance(cell, dict) and cell.get("path") else ""
            raise DatasetError(
                f"corrupt or unreadable image at row {i}{where} of column {image_column!r}: {type(err).__name__}: "
                f"{err}. Replace or remove that file, or re-fetch the dataset files (check their checksums)."
            ) from err
        array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
        if out is None:
            need, budget = len(cells) * array.size, _memory_budget()
            if need > budget:  # before allocating: a huge image_size must not take the machine's memory
                raise DatasetError(
                    f"decoding {len(cells):,} images of shape {tuple(array.shape)} needs {need / 2**30:.1f} GiB, over "
                    f"the {budget / 2**30:.1f} GiB this machine has free for it; use a smaller --set image_size=N"
                )
            out = np.empty((len(cells),) + array.shape, dtype=np.uint8)
        if array.shape != out.shape[1:]:
            raise DatasetError(
                f"image at row {i} has shape {tuple(array.shape)} but earlier images have {out.shape[1:]}; "
                "resize them to one square size with --set image_size=N (image_size=N in Python)"
            )
        out[i] = array
    if out is None:
        raise DatasetError(f"split is empty (column {image_column!r})")
    return out, labels


def _class_names(ds, label_column: str, labels: np.ndarray) -> list[str]:
    feature = ds.features.get(label_column)
    names = getattr(feature, "names", None)
    if names:
        return list(names)
    return [str(i) for i in range(int(labels.max()) + 1)]


def _build_cache(
    target: Path,
    hub_id: str,
    local: Path | None,
    image_column: str | None,
    label_column: str | None,
    image_size: int | None,
    test_fraction: float,
    refresh: bool = False,
) -> None:
    dsd = load_hub_dataset(hub_id, local)
    if "train" not in dsd:
        raise DatasetError(f"the dataset has splits {list(dsd)}, but a 'train' split is required")
    train = dsd["train"]
    cols = train.column_names
    image_column = _pick_column(cols, image_column, _IMAGE_COLUMNS, "image", train.features)
    label_column = _pick_column(cols, label_column, _LABEL_COLUMNS, "label", train.features)
    t0 = time.perf_counter()
    test_name = next((s for s in ("test", "validation", "valid", "val") if s in dsd), None)
    splits = [train] + ([dsd[test_name]] if test_name is not None else [])
    mode = _colour_mode(*(_image_cells(split, image_column) for split in splits))
    train_x, train_y = _decode_split(train, image_column, label_column, image_size, mode)
    if len(np.unique(train_y)) < 2:
        raise DatasetError(
            f"the 'train' split has {len(np.unique(train_y))} class(es) in column {label_column!r}; a classifier "
            "needs at least 2: add examples of another class, or name the right column with --set label_column=NAME"
        )
    names = _class_names(train, label_column, train_y)
    if test_name is not None:
        test_x, test_y = _decode_split(dsd[test_name], image_column, label_column, image_size, mode)
        unseen = sorted(set(np.unique(test_y).tolist()) - set(np.unique(train_y).tolist()))
        if unseen:  # scored as an extra class the model can never predict: refuse rather than report a wrong number
            raise DatasetError(
                f"the {test_name!r} split has label(s) {unseen} that the 'train' split never has; a classifier cannot "
                "learn them: drop those examples or add them to train"
            )
    else:
        print(
            f"[data] the dataset has no test split: {test_fraction:.0%} of 'train' is set aside as a fixed test split "
            "(stratified, never used for search)",
            file=sys.stderr,
        )
        # No held-out split shipped: carve a fixed stratified test split so it is never seen by search.
        n_test = max(len(names), int(round(len(train_y) * test_fraction)))
        index = stratified_indices(torch.from_numpy(train_y), n_test, seed=12345).numpy()
        mask = np.ones(len(train_y), dtype=bool)
        mask[index] = False
        test_x, test_y = train_x[index], train_y[index]
        train_x, train_y = train_x[mask], train_y[mask]
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    for stem, array in (
        ("train_images", train_x),
        ("train_labels", train_y),
        ("test_images", test_x),
        ("test_labels", test_y),
    ):
        np.save(tmp / f"{stem}.npy", array)
    meta = {
        "format": CACHE_FORMAT,
        "class_names": names,
        "image_column": image_column,
        "label_column": label_column,
        "test_split": test_name or f"carved {test_fraction:.0%} of train",
        "decode_seconds": round(time.perf_counter() - t0, 2),
    }
    publish_cache(tmp, target, meta, replace=refresh)


def publish_cache(tmp: Path, target: Path, meta: dict, *, replace: bool = False) -> None:
    """Write ``meta.json`` last into the finished ``tmp`` folder and move it to ``target``, so a cache folder with
    ``meta.json`` is always complete.

    Without ``replace``, a complete ``target`` that another process published while this one was building wins and
    ``tmp`` is dropped: parallel workers (``--workers N``) that all find the cache missing build it side by side,
    and none may delete the folder another one is already reading. ``replace=True`` (a refresh) swaps it out.
    """
    import shutil

    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    if (target / "meta.json").exists() and not replace:
        shutil.rmtree(tmp, ignore_errors=True)
        return
    if target.exists():
        shutil.rmtree(target)
    try:
        tmp.rename(target)
    except OSError:
        if not (target / "meta.json").exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # another worker published between our check and our rename


def load_image_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    val_size: int | float = 5000,
    seed: int = 0,
    image_column: str | None = None,
    label_column: str | None = None,
    image_size: int | None = None,
    test_fraction: float = 0.1,
    refresh: bool = False,
) -> ImageDataset:
    """Load ``name`` as uint8 ``[N,C,H,W]`` train / val / test splits on the CPU.

    ``val_size`` images (or, for a value in (0, 1), that fraction of the training split) are carved from the
    training split, stratified by class and seeded by ``seed``;
    ``test_fraction`` is used only when the source has no test split. ``refresh=True`` re-decodes.
    """
    root = default_data_dir(data_dir)
    hub_id, local = resolve_dataset(name, root)
    fingerprint = source_fingerprint(hub_id, local)
    key = hashlib.sha1(
        json.dumps([CACHE_FORMAT, fingerprint, image_column, label_column, image_size, test_fraction]).encode()
    ).hexdigest()[:16]
    label = local.name if local is not None else hub_id.replace("/", "--")
    target = cache_root() / "datasets" / f"{label}-{key}"
    if refresh or not (target / "meta.json").exists():
        _build_cache(target, hub_id, local, image_column, label_column, image_size, test_fraction, refresh)
    try:
        meta = json.loads((target / "meta.json").read_text())
        arrays = {
            stem: np.load(target / f"{stem}.npy")
            for stem in ("train_images", "train_labels", "test_images", "test_labels")
        }
    except (OSError, ValueError) as err:
        raise DatasetError(
            f"the decoded cache at {target} is unreadable ({err}); "
            "delete that folder or pass refresh=True to rebuild it"
        ) from err
    train_x = torch.from_numpy(arrays["train_images"])
    train_y = torch.from_numpy(arrays["train_labels"])
    if isinstance(val_size, float) and 0 < val_size < 1:  # a fraction of the training split
        val_size = max(1, int(round(val_size * len(train_y))))
    val_size = int(val_size)
    if not 0 <= val_size < len(train_y):
        raise ValueError(f"val_size={val_size} must be in [0, {len(train_y)}) for a training split of {len(train_y)}")
    val_index = stratified_indices(train_y, val_size, seed) if val_size else torch.empty(0, dtype=torch.long)
    keep = torch.ones(len(train_y), dtype=torch.bool)
    keep[val_index] = False
    train_index = torch.nonzero(keep).flatten()
    return ImageDataset(
        name=name,
        train=Split(train_x.index_select(0, train_index), train_y.index_select(0, train_index)),
        val=Split(train_x.index_select(0, val_index), train_y.index_select(0, val_index)),
        test=Split(torch.from_numpy(arrays["test_images"]), torch.from_numpy(arrays["test_labels"])),
        class_names=list(meta["class_names"]),
        source=str(local) if local is not None else f"hub:{hub_id}",
        extra={"cache": str(target), **meta},
    )
