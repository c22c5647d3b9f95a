"""Where an Optuna study lives, and how several workers share it without duplicates, losses or overshoot.

Storage is chosen from the string's form (rl-baselines3-zoo's rule): a path ending in ``.log`` is a journal file
(``JournalFileBackend``: the embedded default, safe for several processes on one machine through its file
lock), and a URL (``postgresql://user@host/db``) is an RDB storage for workers on several machines. SQLite is
refused for parallel use by Optuna's own docs, so a ``sqlite://`` URL is accepted with a warning only.

Coordination, the same for every storage:
- **Trial cap**: a worker claims a trial with ``study.ask()`` (storages number trials atomically), then counts
  the trials numbered below it that are finished or still alive; if those already reach the cap, the claimed
  trial is closed as FAIL with ``user_attrs["over_cap"] = True`` and the worker stops. So N workers together
  run exactly ``--trials`` trials (Optuna's ``MaxTrialsCallback`` only checks after a trial, so racing workers
  overshoot by up to one trial each).
- **Heartbeats**: a running trial writes ``system_attrs["heartbeat"]`` (Unix time) every ``interval`` seconds.
  A RUNNING trial whose heartbeat is older than ``grace`` belongs to a killed worker; any worker marks it FAIL
  (``user_attrs["stale"] = True``), so ``--resume`` frees its slot under the cap. Optuna's built-in heartbeat
  exists only for RDB storages, hence this storage-neutral one. Clocks of machines sharing a PostgreSQL study
  must agree to well within ``grace`` (NTP).
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
from optuna.trial import TrialState

__all__ = [
    "ALIVE",
    "FINISHED",
    "StorageError",
    "describe_storage",
    "fail_stale_trials",
    "heartbeat",
    "make_storage",
    "trials_ahead",
    "worker_name",
]

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
"""States that count as done under the cap (FAIL does not: a failed or killed trial frees its slot)."""
ALIVE = (TrialState.RUNNING, TrialState.WAITING)
"""States that count as in flight under the cap."""


class StorageError(ValueError):
    """A storage string that cannot be used, with the reason and the fix."""


def describe_storage(spec: str) -> str:
    """``journal`` or ``rdb`` for a storage string, or StorageError saying what forms are accepted."""
    if "://" in spec:
        return "rdb"
    if spec.endswith(".log"):
        return "journal"
    raise StorageError(
        f"storage {spec!r} is neither a journal file path ending in '.log' nor a database URL "
        "(postgresql://user:password@host:5432/dbname); use e.g. --storage runs/study.log"
    )


def repair_journal(path: Path) -> int:
    """Drop a torn last line from a journal file (a writer killed mid-append, or a full disk), so that the study
    loads and the next append starts on a fresh line. Says on stderr what it dropped; returns the bytes dropped.
    Only the tail can be torn: every earlier line was followed by a newline when its writer moved on."""
    import json
    import sys

    size = path.stat().st_size if path.is_file() else 0
    if size == 0:
        return 0
    with path.open("rb") as f:  # only the tail can be torn: read the last MiB, not the whole study
        start = max(0, size - (1 << 20))
        f.seek(start)
        data = f.read()
    if data.endswith(b"\n"):
        last = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        try:
            json.loads(last)
            return 0
        except ValueError:
            keep = start + len(data.rstrip(b"\n")) - len(last)
    else:
        keep = start + data.rfind(b"\n") + 1
    dropped = size - keep
    with path.open("r+b") as f:
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    print(
        f"[search] {path}: dropped a torn last line ({dropped} bytes; the trial it belonged to reruns)", file=sys.stderr
    )
    return dropped


def make_storage(spec: str) -> optuna.storages.BaseStorage:
    """A journal file storage for a ``.log`` path (its directory must exist) or an RDB storage for a URL."""
    kind = describe_storage(spec)
    if kind == "journal":
        parent = Path(spec).expanduser().resolve().parent
        if not parent.is_dir():
            raise StorageError(
                f"storage {spec!r}: directory {str(parent)!r} does not exist; create it first "
                "or point --storage at an existing directory"
            )
        from optuna.storages.journal import JournalFileBackend

        path = Path(spec).expanduser()
        repair_journal(path)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if spec.startswith("sqlite"):
        warnings.warn(
            "SQLite storage is not safe for several workers at once (Optuna docs); use a .log journal "
            "file on one machine or PostgreSQL across machines",
            stacklevel=2,
        )
    url = _with_installed_driver(spec)
    try:
        return optuna.storages.RDBStorage(url)
    except ImportError as exc:
        raise StorageError(
            f"storage {spec!r} needs a database driver that is not installed ({exc}); for "
            "PostgreSQL: pip install 'psycopg[binary]' (or psycopg2-binary)"
        ) from None
    except Exception as exc:  # sqlalchemy's errors name the host/port; keep their first line, add what to check
        orig = getattr(exc, "orig", None) or exc  # the driver's own error, without sqlalchemy's background link
        first = next((line.strip() for line in str(orig).splitlines() if line.strip()), type(orig).__name__)
        raise StorageError(
            f"cannot open storage {spec!r}: {type(orig).__name__}: {first}. Check the URL, that the server is "
            "running and that the database exists"
        ) from None


def _with_installed_driver(url: str) -> str:
    """``postgresql://`` means psycopg 3 to SQLAlchemy >= 2.1 and psycopg2 before it: use whichever is installed."""
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def _trial_id(storage: optuna.storages.BaseStorage, study: optuna.Study, number: int) -> int:
    study_id = storage.get_study_id_from_name(study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, number)


@contextmanager
def heartbeat(
    storage: optuna.storages.BaseStorage, study: optuna.Study, trial_number: int, interval: float
) -> Iterator[None]:
    """Write the trial's heartbeat now and every ``interval`` seconds until the block ends."""
    trial_id = _trial_id(storage, study, trial_number)
    storage.set_trial_system_attr(trial_id, "heartbeat", time.time())
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                storage.set_trial_system_attr(trial_id, "heartbeat", time.time())
            except Exception:  # the trial may have been closed meanwhile; the next check decides
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _last_sign_of_life(trial: optuna.trial.FrozenTrial) -> float:
    beat = trial.system_attrs.get("heartbeat")
    if isinstance(beat, (int, float)):
        return float(beat)
    # No heartbeat yet (killed between ask and the first beat): fall back to the start time (local, naive).
    return trial.datetime_start.timestamp() if trial.datetime_start else 0.0


def fail_stale_trials(study: optuna.Study, storage: optuna.storages.BaseStorage, grace: float) -> list[int]:
    """Mark RUNNING trials without a heartbeat for ``grace`` seconds as FAIL; returns their numbers."""
    now = time.time()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if now - _last_sign_of_life(trial) <= grace:
            continue
        trial_id = _trial_id(storage, study, trial.number)
        try:
            storage.set_trial_user_attr(trial_id, "stale", True)
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
            failed.append(trial.number)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # it finished, or another worker failed it first
    return failed


def trials_ahead(study: optuna.Study, number: int) -> int:
    """Trials numbered below ``number`` that are finished or alive: what the cap compares against."""
    return sum(1 for t in study.get_trials(deepcopy=False, states=FINISHED + ALIVE) if t.number < number)


def worker_name() -> str:
    """``host:pid``, stored on each trial so a shared study shows who ran what."""
    return f"{os.uname().nodename}:{os.getpid()}"
