"""The data-source layer (issue 34): where a dataset comes from, for images, text and the generators alike.

One table of the datasets the project knows (``SOURCES``: Hub id, folder under the data directory, modality, and
for images the shape and class count the generators are built for), the data directory and cache settings, and
the two steps every loader shares: ``resolve_dataset`` (a known name, a local folder or a Hub id -> where to read
it, or one ``DatasetError`` line saying what to set) and ``load_hub_dataset`` (Hugging Face ``datasets``, offline
when the folder is local). Decoding and caching stay with each modality (``child.data`` for images,
``child.text_data`` for text): what is decoded differs, where it comes from does not.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

DATA_DIR_ENV = "POLICY_SEARCH_DATA_DIR"
CACHE_ENV = "POLICY_SEARCH_CACHE"


@dataclass(frozen=True)
class Source:
    """One known dataset: its Hub repository id, its folder under the data directory, its modality, and for
    images the (channels, height, width) and class count its generators are built for."""

    hub_id: str
    folder: str
    modality: str
    shape: tuple[int, int, int] | None = None
    classes: int | None = None


SOURCES: dict[str, Source] = {
    "cifar10": Source("uoft-cs/cifar10", "cifar10", "image", (3, 32, 32), 10),
    "mnist": Source("ylecun/mnist", "mnist", "image", (1, 28, 28), 10),
    "imdb": Source("stanfordnlp/imdb", "imdb", "text"),  # tokenized by child.text_data
    "conll2003": Source("eriktks/conll2003", "conll2003", "text"),
}
# name -> (Hub repository id, folder under the data directory): SOURCES, as the loaders read it
KNOWN_DATASETS: dict[str, tuple[str, str]] = {k: (v.hub_id, v.folder) for k, v in SOURCES.items()}
_ALIASES = {
    "cifar-10": "cifar10",
    **{v.hub_id: k for k, v in SOURCES.items()},
}


class DatasetError(RuntimeError):
    """A dataset could not be found, read or decoded; the message says what to set or fetch."""


def default_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    value = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "policy_search")).expanduser()


def check_dataset(name: str | None, data_dir: str | os.PathLike | None = None) -> None:
    """Fail early, with ``DatasetError``'s one line, on a ``--dataset`` that names nothing (before any work)."""
    if name is not None:
        resolve_dataset(str(name), default_data_dir(data_dir))


def resolve_dataset(name: str, data_dir: Path | None) -> tuple[str, Path | None]:
    """-> (Hub repository id or "", local path or None)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key in KNOWN_DATASETS:
        hub_id, folder = KNOWN_DATASETS[key]
        if data_dir is None:
            return hub_id, None
        local = data_dir / folder
        if not local.is_dir():
            raise DatasetError(
                f"dataset {name!r} not found: expected {local} (Hugging Face Hub layout) because "
                f"{DATA_DIR_ENV} / --data-dir is set to {data_dir}. Point the setting at the folder that holds "
                f"'{folder}/', or unset it to read {hub_id!r} from the Hub."
            )
        return hub_id, local
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise DatasetError(f"{path} is a file; pass a directory in the Hub layout or an imagefolder tree")
        return "", path
    if data_dir is not None and (data_dir / name).is_dir():
        return "", data_dir / name
    if "/" in name and not name.startswith((".", "/")):
        return name, None
    raise DatasetError(
        f"unknown dataset {name!r}: not one of {sorted(KNOWN_DATASETS)}, not a local directory"
        + (f" (also looked in {data_dir})" if data_dir else "")
        + ", and not a Hub id of the form 'owner/name'. Pass a known name, a folder, or a Hub id."
    )


def source_fingerprint(hub_id: str, local: Path | None) -> str:
    if local is None:
        return f"hub:{hub_id}"
    files = sorted(p for p in local.rglob("*") if p.is_file())
    if not files:
        raise DatasetError(f"{local} holds no files; fetch the dataset into it or point the setting elsewhere")
    digest = hashlib.sha1()
    for p in files:
        st = p.stat()
        digest.update(f"{p.relative_to(local)}:{st.st_size}:{int(st.st_mtime)}".encode())
    return f"local:{local.resolve()}:{digest.hexdigest()}"


def _check_parquet_rows(local: Path) -> None:
    """A split whose parquet files hold no rows at all (an empty split) is named before ``datasets`` fails on it
    with a reader error; an empty shard beside shards with rows is fine. Shards of a split share a folder and the
    file-name prefix before the first '-' (the Hub layout's ``train-00000-of-00002.parquet``)."""
    import pyarrow.parquet as pq

    rows: dict[tuple[Path, str], list[tuple[Path, int]]] = {}
    for path in sorted(local.rglob("*.parquet")):
        try:
            count = pq.ParquetFile(path).metadata.num_rows
        except Exception:  # noqa: BLE001 - unreadable files are left to datasets' own message
            continue
        rows.setdefault((path.parent, path.name.split("-")[0]), []).append((path, count))
    for shards in rows.values():
        if all(count == 0 for _, count in shards):
            raise DatasetError(
                f"{shards[0][0]} holds no rows (an empty split); every split needs at least one example: fill it or "
                "rebuild the dataset folder"
            )


def load_hub_dataset(hub_id: str, local: Path | None):
    import datasets

    datasets.disable_progress_bars()
    try:
        if local is None:
            return datasets.load_dataset(hub_id)
        # Our decoded cache missed (its key covers every source file's size and mtime), so the sources changed or
        # were never read: make datasets read them again rather than serve its own Arrow cache of an older copy
        # (a truncated parquet file was otherwise served silently from a stale cache).
        fresh = datasets.DownloadMode.FORCE_REDOWNLOAD
        _check_parquet_rows(local)
        has_parquet_or_card = any(local.rglob("*.parquet")) or (local / "README.md").exists()
        if has_parquet_or_card:
            return datasets.load_dataset(str(local), download_mode=fresh)
        return datasets.load_dataset("imagefolder", data_dir=str(local), download_mode=fresh)
    except DatasetError:
        raise
    except Exception as err:  # datasets raises many types; the user needs one clear message
        where = str(local) if local else f"the Hub ({hub_id})"
        while isinstance(err.__cause__, Exception):  # the reader's own error (raised from) says most
            err = err.__cause__
        hint = (
            f"set {DATA_DIR_ENV} (or --data-dir) to a folder holding it in the Hub layout"
            if local is None
            else "check that the folder is in the Hub layout (parquet + README card) or an imagefolder tree"
        )
        raise DatasetError(f"could not load the dataset from {where}: {type(err).__name__}: {err}. {hint}.") from err
