"""Output folders that survive crashes and refuse a second writer.

- ``lock_folder(folder)``: an exclusive ``fcntl.flock`` on ``FOLDER/.lock`` for the life of the process. A second
  run into the same folder fails at once, naming the holder's pid; the kernel drops the lock when its holder dies
  (kill -9 included), so a stale lock is taken over without any clean-up.
- ``atomic_write_bytes`` / ``atomic_write_text`` / ``write_json`` / ``atomic_torch_save``: write a temporary
  file in the same folder, fsync it, then ``os.replace`` it over the target: a reader (or a resumed run) sees the
  old file or the new one, never a torn one, whatever kills the writer (kill -9, full disk, power cut).
  ``write_json`` writes strict JSON: a NaN or infinite float (a CI half-width over one seed, a diverged loss) is
  written as ``null``, which readers take as "no value", never as the bare ``NaN`` other JSON readers reject.

- ``waiting_lock(path)``: an exclusive ``flock`` held for a ``with`` block, waiting for the holder (the workers of
  one study race its shortlist in turn).

- ``kill_point(name)``: fault injection for the crash tests. With ``POLICY_SEARCH_KILL_AT=NAME[@N]`` in the
  environment the process kills itself with SIGKILL (no clean-up, no ``finally``) the N-th time (default 1) it
  passes the point called NAME; unset, a point costs one environment look-up. Points: ``rename:FILE`` (a temp
  file written and fsynced, not yet renamed over FILE), ``train_agent:episode-done``, ``train_agent:checkpointed``
  (the checkpoint saved, the episode log not yet rewritten), ``benchmark:run-saved``, ``search:trial-done`` (a
  trial trained, its result not yet in the journal).

Layer: imports nothing of the package; any module may use it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_HELD: dict[str, int] = {}  # folder -> open lock fd, kept for the life of the process
_PASSED: dict[str, int] = {}  # kill point -> times passed


def kill_point(name: str) -> None:
    """SIGKILL this process here if ``POLICY_SEARCH_KILL_AT`` names this point (module docstring)."""
    spec = os.environ.get("POLICY_SEARCH_KILL_AT")
    if not spec:
        return
    target, _, nth = spec.partition("@")
    if target != name:
        return
    _PASSED[name] = _PASSED.get(name, 0) + 1
    if _PASSED[name] == int(nth or 1):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


class FolderInUseError(RuntimeError):
    """Another live process holds the folder's lock."""


def lock_folder(folder: str | os.PathLike[str]) -> None:
    """Take ``folder``'s exclusive lock (creating the folder), or raise ``FolderInUseError`` naming the holder.
    Raises ``OSError`` subclasses with the system's reason when the folder cannot be created or written."""
    import fcntl

    path = Path(folder)
    key = str(path.resolve())
    if key in _HELD:
        return
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise FolderInUseError(
            f"{path} is in use by another run (pid {holder}); wait for it to finish or choose another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _HELD[key] = fd


@contextmanager
def waiting_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` for the ``with`` block, waiting for another holder to finish (where
    ``lock_folder`` refuses at once): the workers of one study race its shortlist one after another, and the
    second finds every run of the race cached by the first."""
    import fcntl

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock (the kernel drops it too when the holder dies)


def unlock_folder(folder: str | os.PathLike[str]) -> None:
    """Release a lock taken by this process (a no-op when none is held)."""
    fd = _HELD.pop(str(Path(folder).resolve()), None)
    if fd is not None:
        os.close(fd)


def require_writable(folder: str | os.PathLike[str], flag: str = "--out") -> None:
    """``check_writable`` for commands: a ``ValueError`` with one line saying what is wrong and what to do."""
    try:
        check_writable(folder)
    except OSError as exc:
        raise ValueError(
            f"{flag} {os.fspath(folder)!r} is not a writable folder ({exc.strerror or type(exc).__name__}); "
            "choose another"
        ) from None


def check_writable(folder: str | os.PathLike[str]) -> None:
    """Create ``folder`` and write and remove a probe file in it; raises ``OSError`` if it cannot hold outputs.
    Commands call it before training, so that a finished run is never lost to an unwritable folder."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test.")
    os.close(fd)
    os.unlink(probe)


def remove_stale_temps(folder: str | os.PathLike[str], older_than_s: float = 0.0) -> list[str]:
    """Delete the temporary files that writers killed mid-write left in ``folder`` (``.NAME.*.tmp``, from
    ``atomic_write_bytes``) and return their names. Call it holding the folder's lock (then every temp is stale),
    or, in folders that several processes share, with ``older_than_s`` longer than any write takes."""
    now, removed = time.time(), []
    for tmp in Path(folder).glob(".*.tmp"):
        try:
            if now - tmp.stat().st_mtime >= older_than_s:
                tmp.unlink()
                removed.append(tmp.name)
        except FileNotFoundError:  # its writer renamed or removed it meanwhile
            pass
    return removed


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        kill_point(f"rename:{path.name}")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def finite_json(value: Any) -> Any:
    """``value`` with every NaN or infinite float (at any depth of dicts, lists and tuples) replaced by None, so
    that it serializes as strict JSON (``null``: no value)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def write_json(path: str | os.PathLike[str], value: Any, indent: int | None = 1) -> Path:
    """``value`` as strict JSON at ``path``, atomically (with a trailing newline). NaN and infinite floats are
    written as ``null`` (``finite_json``): readers treat ``null`` as a missing value."""
    return atomic_write_text(path, json.dumps(finite_json(value), indent=indent, allow_nan=False) + "\n")


def read_json_object(path: Path, what: str, fix: str, error: type[Exception] = ValueError) -> dict:
    """The JSON object in ``path``, or one ``error`` line: "<path> is not <what> (why); <fix>" (not UTF-8, not JSON,
    or JSON that is not an object)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise error(f"{path} is not {what} (not UTF-8 text: {exc.reason}); {fix}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path} is not {what} (not valid JSON: line {exc.lineno}: {exc.msg}); {fix}") from None
    if not isinstance(value, dict):
        raise error(f"{path} is not {what} (a JSON {type(value).__name__}, not an object); {fix}")
    return value


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` through a temporary file, fsync and rename."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())
