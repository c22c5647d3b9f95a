"""Hostile inputs and interruptions (issue 13): bounded policy files, one-line errors, crash-safe and locked runs,
checked resumes, checkpoints that cannot run code."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from policy_search.policy import RandAugment, Sequence, SubPolicies, load_policy
from policy_search.policy.file import PolicyFileError

REPO = Path(__file__).resolve().parent.parent
TINY = ["--task", "mnist-episode", "--epochs", "0.2", "--steps-per-episode", "2", "--no-progress-bar"]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def _randaugment_file(tmp_path: Path, **body) -> Path:
    path = tmp_path / "policy.json"
    RandAugment(2, 9, 31).save(path)
    doc = json.loads(path.read_text())
    doc["body"].update(body)
    if "num_bins" in body:
        doc["magnitude_semantics"]["num_bins"] = body.pop("num_bins")
        doc["body"].pop("num_bins")
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("field,value", [("num_bins", 10**9), ("num_ops", 10**9), ("num_ops", -1)])
def test_oversized_policy_fields_fail_at_load_quickly(tmp_path, field, value):
    path = _randaugment_file(tmp_path, **{field: value})
    start = time.perf_counter()
    with pytest.raises(PolicyFileError, match=field):
        load_policy(path)
    assert time.perf_counter() - start < 5


def test_deep_nesting_and_non_finite_numbers_are_one_line_errors(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(PolicyFileError, match="nested"):
        load_policy(deep)
    nan = _randaugment_file(tmp_path)
    nan.write_text(nan.read_text().replace('"num_ops": 2', '"num_ops": NaN'))
    with pytest.raises(PolicyFileError, match="NaN"):
        load_policy(nan)


def test_child_cli_rejects_a_hostile_policy_file_with_exit_2(tmp_path):
    path = _randaugment_file(tmp_path, num_bins=10**9)
    from policy_search.child.cli import main

    assert main(["--task", "mnist-episode", "--policy", str(path), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o" / "metrics.json").exists()


@pytest.mark.parametrize(
    "change,match",
    [
        ({"bogus": 1}, "unknown field"),
        ({"output": "bogus"}, "output"),
        ({"observe_every_batches": -3}, "observe_every_batches"),
        ({"observe_every_batches": 2.7}, "observe_every_batches"),
        ({"decision": "max"}, "decision"),
    ],
)
def test_controller_bodies_are_validated_like_every_kind(tmp_path, change, match):
    path = _controller_file(tmp_path)
    doc = json.loads(path.read_text())
    doc["body"].update(change)
    path.write_text(json.dumps(doc))
    with pytest.raises(PolicyFileError, match=match):
        load_policy(path)


def test_controller_with_nan_weights_fails_at_load(tmp_path):
    path = _controller_file(tmp_path)
    doc = json.loads(path.read_text())
    doc["body"]["network"]["layers"][0]["bias"][0] = 1e400  # JSON's way to write infinity is overflow
    path.write_text(json.dumps(doc).replace("Infinity", "1e400"))
    with pytest.raises(PolicyFileError, match="non-finite"):
        load_policy(path)


def _controller_file(tmp_path: Path) -> Path:
    from policy_search.policy.action_space import ActionSpec
    from policy_search.policy.controller import Controller, build_mlp

    spec = ActionSpec.compact()
    path = tmp_path / "controller.json"
    Controller(spec, build_mlp([3, 4, int(spec.nvec.sum())]), ["a", "b", "c"]).save(path)
    return path


def test_a_controller_used_without_observe_warns_once(tmp_path):
    controller = load_policy(_controller_file(tmp_path))
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        controller(images)
        controller(images)
    assert sum("observe()" in str(w.message) for w in caught) == 1
    controller.reset()
    controller.observe({"a": 0.0, "b": 0.0, "c": 0.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        controller(images)  # observed: no warning


def test_unvalidated_numbers_are_refused_up_front(tmp_path):
    from policy_search.child.cli import main as child_main
    from policy_search.train_agent import TrainConfig

    for epochs in ("-1", "0", "nan"):
        assert child_main(["--task", "mnist-episode", "--epochs", epochs, "--out", str(tmp_path / "c")]) == 2
    for bad in (
        {"cost_weight": float("nan")},
        {"cost_weight": -5.0},
        {"lr": float("inf")},
        {"budget_seconds": float("nan")},
    ):
        with pytest.raises(ValueError):
            TrainConfig(**bad).validate()
    from policy_search.child.tasks import get_preset

    with pytest.raises(ValueError, match="train_size"):
        get_preset("mnist-episode", train_size=-5)
    with pytest.raises(ValueError, match="train_size"):
        get_preset("mnist-episode", train_size="abc")


def test_atomic_writes_leave_the_old_file_when_the_disk_is_full(tmp_path, monkeypatch):
    from policy_search import outputs

    target = tmp_path / "checkpoint.pt"
    outputs.atomic_torch_save({"v": 1}, target)

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs.os, "fsync", full_disk)
    with pytest.raises(OSError):
        outputs.atomic_torch_save({"v": 2}, target)
    assert torch.load(target, weights_only=True) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_a_folder_lock_refuses_a_second_writer_and_dies_with_its_holder(tmp_path):
    code = "import sys, time; from policy_search.outputs import lock_folder; lock_folder(sys.argv[1]); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], env=_env())
    try:
        deadline = time.time() + 60
        while not (tmp_path / ".lock").exists() or not (tmp_path / ".lock").read_text().strip():
            assert time.time() < deadline
            time.sleep(0.1)
        from policy_search.outputs import FolderInUseError, lock_folder

        with pytest.raises(FolderInUseError, match=str(holder.pid)):
            lock_folder(tmp_path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    from policy_search.outputs import lock_folder, unlock_folder

    lock_folder(tmp_path)  # the kernel released the dead holder's lock: taken over, no clean-up needed
    unlock_folder(tmp_path)


@pytest.mark.slow
def test_two_train_agent_runs_on_one_out_exactly_one_succeeds(tmp_path):
    args = [sys.executable, "-m", "policy_search.train_agent", *TINY, "--episodes", "2", "--out", str(tmp_path / "o")]
    procs = [
        subprocess.Popen(args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    err = next(e for code, e in results if code == 2).strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and ("in use" in err[0] or "already holds" in err[0])


@pytest.mark.slow
def test_kill_9_mid_run_then_resume_loses_and_duplicates_nothing(tmp_path):
    out = tmp_path / "o"
    args = [sys.executable, "-m", "policy_search.train_agent", *TINY, "--out", str(out)]
    proc = subprocess.Popen(
        [*args, "--episodes", "4"], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 600
    while not (out / "checkpoint.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # somewhere after the first checkpoint: mid-episode, mid-write or between
    proc.wait()
    done = subprocess.run(
        [*args, "--episodes", "4", "--resume"], env=_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = (out / "episodes.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [0, 1, 2, 3]


def test_resume_refuses_changed_flags_and_truncated_checkpoints(tmp_path):
    from policy_search.train_agent import TrainConfig, train

    out = tmp_path / "o"
    base = dict(task="mnist-episode", agent="augnet", epochs=0.2, steps_per_episode=2, out=str(out), progress_bar=False)
    train(TrainConfig(**base, episodes=1))
    with pytest.raises(ValueError, match="--task 'mnist-episode' -> 'cifar10-episode'"):
        train(TrainConfig(**{**base, "task": "cifar10-episode"}, episodes=2, resume=True))
    with pytest.raises(ValueError, match="--seed 0 -> 5"):
        train(TrainConfig(**base, episodes=2, seed=5, resume=True))
    summary = train(TrainConfig(**base, episodes=2, resume=True))  # more episodes: allowed
    assert summary["episodes"] == 2
    data = (out / "checkpoint.pt").read_bytes()
    (out / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cannot be loaded safely"):
        train(TrainConfig(**base, episodes=3, resume=True))


@pytest.mark.parametrize("tail", [b'{"op_code": 5, "worker_id": "x", "study_id": 0, "datetime_', b"{not json}\n"])
def test_a_torn_journal_line_is_dropped_and_the_study_still_loads(tmp_path, tail, capsys):
    import optuna

    from policy_search.search.storage import make_storage

    path = tmp_path / "study.log"
    study = optuna.create_study(study_name="s", storage=make_storage(str(path)))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    with path.open("ab") as f:
        f.write(tail)  # a writer killed mid-append, or a full disk
    loaded = optuna.load_study(study_name="s", storage=make_storage(str(path)))
    assert len(loaded.trials) == 3
    assert "dropped a torn last line" in capsys.readouterr().err
    loaded.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)  # appends start on a fresh line
    assert len(optuna.load_study(study_name="s", storage=make_storage(str(path))).trials) == 4


def test_a_corrupt_image_in_an_imagefolder_is_named(tmp_path):
    import numpy as np
    from PIL import Image

    from policy_search.child.data import DatasetError, load_image_dataset

    root = tmp_path / "shapes"
    for c in ("a", "b"):
        (root / "train" / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(root / "train" / c / f"{i}.png")
    (root / "train" / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(DatasetError, match="broken.png"):
        load_image_dataset(str(root), val_size=0.2)


def _benchmark_command(tmp_path: Path, data_dir, policies: list[str], seeds: int, train_size: int, val_size: int):
    """(out folder, argv) of a tiny mnist-proxy benchmark given by a --config file."""
    out = tmp_path / "bench"
    config = tmp_path / "config.json"
    overrides = {"train_size": train_size, "epochs": 1, "eval_samples": 128, "val_size": val_size}
    config.write_text(
        json.dumps(
            {
                "task": "mnist-proxy",
                "policies": policies,
                "seeds": seeds,
                "out": str(out),
                "robustness_samples": 0,
                "device": "cpu",
                "data_dir": str(data_dir),
                "overrides": overrides,
                "adaptive_baseline": False,
            }
        )
    )
    return out, [sys.executable, "-m", "policy_search.benchmark", "--config", str(config), "--no-progress"]


@pytest.mark.slow
def test_benchmark_killed_mid_run_resumes_without_loss_and_refuses_a_second_writer(tmp_path, shared_data_dir):
    out, args = _benchmark_command(tmp_path, shared_data_dir, ["none", "progress-heuristic"], 2, 640, 500)
    proc = subprocess.Popen(args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and not list((out / "runs").glob("*-seed*.json")):
        time.sleep(0.05)
    second = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=600)  # while the first runs
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if second.returncode != 0:  # refused: the folder was locked by the live first run
        assert second.returncode == 2 and "in use by another run" in second.stderr
    done = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    files = sorted(p.name for p in (out / "runs").iterdir())
    assert files == sorted(f"{p}-seed{s}.json" for p in ("none", "progress-heuristic") for s in (0, 1)), files
    results = json.loads((out / "results.json").read_text())
    assert results["counts"]["total"] == 4 and len(results["runs"]) == 4


def _killed_at(point: str, args: list[str]) -> None:
    """Run ``args`` with the fault-injection point ``point`` armed; it must die by SIGKILL there."""
    proc = subprocess.run(
        args, env={**_env(), "POLICY_SEARCH_KILL_AT": point}, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == -signal.SIGKILL, (point, proc.returncode, proc.stderr[-2000:])


@pytest.mark.slow
@pytest.mark.parametrize(
    "point",
    ["train_agent:episode-done@2", "train_agent:checkpointed@2", "rename:checkpoint.pt@2", "rename:episodes.csv@1"],
)
def test_train_agent_killed_at_each_write_point_resumes_exactly(tmp_path, point):
    out = tmp_path / "o"
    args = [sys.executable, "-m", "policy_search.train_agent", *TINY, "--episodes", "3", "--out", str(out)]
    _killed_at(point, args)
    done = subprocess.run([*args, "--resume"], env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = (out / "episodes.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [0, 1, 2]  # nothing lost, nothing twice
    assert not list(out.glob(".*.tmp"))  # a temp file left by the kill is cleaned or replaced
    assert json.loads((out / "summary.json").read_text())["episodes"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("point", ["benchmark:run-saved@1", "rename:results.json@1"])
def test_benchmark_killed_at_each_write_point_keeps_finished_runs(tmp_path, shared_data_dir, point):
    out, args = _benchmark_command(tmp_path, shared_data_dir, ["none", "flip-crop"], 1, 320, 200)
    _killed_at(point, args)
    finished = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*-seed*.json")}
    assert finished, "the kill came before the first run was saved"
    done = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    after = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*-seed*.json")}
    assert sorted(after) == ["flip-crop-seed0.json", "none-seed0.json"]
    assert all(after[name] == mtime for name, mtime in finished.items())  # reused, not recomputed
    assert json.loads((out / "results.json").read_text())["counts"]["total"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("point", ["search:trial-done@2", "rename:trials.csv@1"])
def test_search_killed_at_each_write_point_resumes_with_every_finished_trial(tmp_path, shared_data_dir, point):
    import optuna

    out = tmp_path / "s"
    args = [
        sys.executable,
        "-m",
        "policy_search.search",
        "--task",
        "mnist-episode",
        "--epochs",
        "0.2",
        "--device",
        "cpu",
        "--trials",
        "3",
        "--out",
        str(out),
        "--data-dir",
        str(shared_data_dir),
        "--heartbeat",
        "0.2",
        "--grace",
        "1",
        "--set",
        "train_size=256",
        "--set",
        "eval_samples=128",
    ]
    _killed_at(point, args)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / "study.log")))
    name = json.loads((out / "config.json").read_text())["study_name"]
    before = {
        t.number: t.value
        for t in optuna.load_study(study_name=name, storage=storage).get_trials(
            states=(optuna.trial.TrialState.COMPLETE,)
        )
    }
    assert before, "the kill came before the first trial finished"
    time.sleep(1.2)  # past --grace: the killed worker's running trial is stale
    done = subprocess.run([*args, "--resume"], env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / "study.log")))
    complete = optuna.load_study(study_name=name, storage=storage).get_trials(
        states=(optuna.trial.TrialState.COMPLETE,)
    )
    assert len(complete) == 3 and all(next(t.value for t in complete if t.number == n) == v for n, v in before.items())
    rows = (out / "trials.csv").read_text().splitlines()[1:]
    assert len({r.split(",")[0] for r in rows}) == len(rows)  # no trial listed twice
    assert not list(out.glob(".*.tmp"))  # the killed writer's temp file was stale: removed


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 192 KiB tmpfs (a disk that fills up for real), where the machine lets the tests mount one."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", str(mount)], capture_output=True)
    except OSError:  # no mount command at all
        made = None
    if made is None or made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the injected-ENOSPC test covers full disks")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.slow
def test_train_agent_on_a_disk_that_fills_up_loses_no_finished_episode(small_tmpfs):
    out = small_tmpfs / "o"
    args = [sys.executable, "-m", "policy_search.train_agent", *TINY, "--episodes", "3", "--out", str(out)]
    full = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=600)
    assert full.returncode == 2, full.stderr[-2000:]
    err = full.stderr.strip().splitlines()
    assert err[-1].startswith("error:") and "space" in err[-1].lower(), err[-3:]
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_tmpfs)], check=True)  # the user frees space
    resumed = subprocess.run(
        [*args, "--resume"] if (out / "checkpoint.pt").exists() else args,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = (out / "episodes.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [0, 1, 2]
    assert (out / "policy.json").is_file() and (out / "schedule.json").is_file()


@pytest.mark.parametrize(
    ("module", "values", "match"),
    [
        ("policy_search.child.cli", {"test": "no"}, "'test': expected true or false"),
        ("policy_search.train_agent", {"episodes": 1.7}, "'episodes': expected a whole number"),
        ("policy_search.train_agent", {"seed": 1.5}, "'seed': expected a whole number"),
        ("policy_search.train_agent", {"task": ["mnist-small"]}, "'task': expected a string"),
        ("policy_search.train_agent", {"cost_weight": True}, "'cost_weight': expected a finite number"),
        ("policy_search.search.race", {"rounds": [1, "x"]}, "'rounds': expected a whole number"),
    ],
)
def test_config_file_values_are_type_checked(tmp_path, capsys, module, values, match):
    """JSON is not argparse: a --config value of the wrong type is one error line, never a silently wrong run."""
    import importlib

    config = tmp_path / "config.json"
    config.write_text(json.dumps(values))
    with pytest.raises(SystemExit) as exc:
        importlib.import_module(module).main(["--config", str(config), "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and match in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize(
    "module",
    [
        "policy_search.child.cli",
        "policy_search.train_agent",
        "policy_search.search.study",
        "policy_search.benchmark.harness",
    ],
)
def test_an_empty_out_is_refused_not_the_current_folder(tmp_path, capsys, monkeypatch, module):
    import importlib

    monkeypatch.chdir(tmp_path)
    argv = ["--task", "mnist-small", "--out", ""] + (["--policies", "none"] if "benchmark" in module else [])
    try:
        code = importlib.import_module(module).main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--out is empty" in err and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []  # nothing written here


def test_more_decisions_than_a_run_can_make_is_refused(tmp_path, capsys, shared_data_dir):
    from policy_search.train_agent import main

    argv = ["--task", "mnist-episode", "--epochs", "0.2", "--no-progress-bar", "--data-dir", str(shared_data_dir)]
    assert main([*argv, "--steps-per-episode", "100000", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--steps-per-episode 100000" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "a" / "checkpoint.pt").exists()
    # a count the run can make only approximately runs, says so, and the export records what ran
    assert main([*argv, "--steps-per-episode", "4", "--episodes", "1", "--out", str(tmp_path / "b")]) == 0
    note = capsys.readouterr().err
    ran = json.loads((tmp_path / "b" / "policy.json").read_text())["provenance"]["method"]["decisions_per_episode"]
    assert ran >= 1 and (ran == 4 or f"makes {ran} decisions" in note)


def test_absurd_counts_are_refused_before_any_allocation(tmp_path, capsys):
    from policy_search.benchmark.harness import main as bench
    from policy_search.child.tasks import get_preset
    from policy_search.train_agent import main as train

    assert (
        bench(["--task", "mnist-small", "--policies", "none", "--seeds", "100000000000", "--out", str(tmp_path / "b")])
        == 2
    )
    assert "seeds must be a count from 1 to" in capsys.readouterr().err
    assert train(["--task", "mnist-small", "--episodes", "100000000000", "--out", str(tmp_path / "t")]) == 2
    assert "--episodes must be from 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="epochs must be finite and > 0 and <= 100000"):
        get_preset("mnist-small", epochs=1e12)


@pytest.mark.parametrize(
    ("flag", "value", "match"),
    [("--epochs", "0", "--epochs must be a positive"), ("--prior-runs", "nan", "--prior-runs must be a finite")],
)
def test_race_refuses_values_it_would_record_but_not_use(tmp_path, capsys, flag, value, match):
    from policy_search.search.race import main

    policy = tmp_path / "p.json"
    from policy_search.policy import load_policy

    load_policy("flip-crop").save(policy)
    assert main(["--task", "mnist-small", "--policies", str(policy), flag, value, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and match in err and len(err.splitlines()) == 1, err


def test_a_moved_run_folder_resumes_where_it_now_is(tmp_path):
    from policy_search.train_agent import main

    first = tmp_path / "first"
    assert main([*TINY, "--episodes", "1", "--out", str(first)]) == 0
    from policy_search.outputs import unlock_folder

    unlock_folder(first)  # as when that process ends (a lock dies with its holder)
    moved = tmp_path / "renamed" / "run"
    moved.parent.mkdir()
    first.rename(moved)
    assert main([*TINY, "--episodes", "2", "--resume", "--out", str(moved)]) == 0
    rows = (moved / "episodes.csv").read_text().strip().splitlines()
    assert len(rows) == 3  # header + the moved run's episode + the one resumed here


def test_a_controller_with_unknown_feature_names_is_one_line_before_training(tmp_path, capsys):
    from policy_search.child.cli import main

    path = _controller_file(tmp_path)  # feature names a, b, c: no child run computes them
    assert main(["--task", "mnist-episode", "--policy", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "['a', 'b', 'c']" in err and len(err.splitlines()) == 1, err
    controller = load_policy(path)
    with pytest.raises(ValueError, match="observe\\(\\) was not given"):
        controller.observe({"a": 0.0})


def test_a_diverging_child_is_one_line(tmp_path, capsys, shared_data_dir):
    from policy_search.child.cli import main

    argv = ["--task", "mnist-episode", "--set", "lr=1e30", "--epochs", "0.2", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: training loss became") and "lower the learning rate" in err


def test_a_negative_train_agent_seed_is_one_line(tmp_path, capsys):
    from policy_search.train_agent import main

    assert main([*TINY, "--seed", "-5", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --seed must be from 0 to 1,099,511,627,776 (2**40), got -5"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "does not exist"),
        ("{not json", "not valid JSON"),
        ('{"bogus": 1}', "unknown key"),
        ('{"seeds": "ten"}', "'seeds': expected a whole number or a list"),
        ('{"adaptive_baseline": "no"}', "'adaptive_baseline': expected true or false"),
    ],
)
def test_benchmark_config_errors_exit_2_in_one_line(tmp_path, capsys, content, match):
    from policy_search.benchmark.harness import main

    config = tmp_path / "config.json"
    if content is not None:
        config.write_text(content)
    assert main(["--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and match in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize(
    ("extra", "match"),
    [(["--baselines", "bogus"], "unknown baseline preset"), (["--methods"], "--methods needs at least one")],
)
def test_search_compare_refuses_nothing_to_compare(tmp_path, capsys, extra, match):
    from policy_search.search.compare import main

    assert main(["--task", "mnist-small", "--out", str(tmp_path / "c"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and match in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "c").exists()


def test_train_agent_records_the_data_folder_and_command_it_really_used(tmp_path, monkeypatch, shared_data_dir):
    from policy_search.train_agent import main

    monkeypatch.setenv("POLICY_SEARCH_DATA_DIR", str(shared_data_dir))
    out = tmp_path / "run"
    assert main([*TINY, "--episodes", "1", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["data_dir"] == str(shared_data_dir)
    command = (out / "command.txt").read_text().strip()
    assert command.startswith(f"POLICY_SEARCH_DATA_DIR={shared_data_dir}") and "--episodes 1" in command
    from policy_search.child.cli import main as child_main

    child = tmp_path / "child"
    assert child_main(["--preset", "mnist-episode", "--epochs", "0.1", "--no-test", "--out", str(child)]) == 0
    assert json.loads((child / "config.json").read_text())["data_dir"] == str(shared_data_dir)  # child too


def test_schedule_figure_and_table_say_no_augmentation_and_fit_one_phase(tmp_path, recwarn):
    from policy_search.policy import RandAugment, Schedule, Sequence
    from policy_search.policy.export import applies_nothing, markdown_table, plot_schedule

    ops = ("Identity", "Rotate", "ShearX")
    empty = Schedule([(1.0, Sequence([]))])
    assert applies_nothing(empty, ops)
    assert markdown_table(empty, ops).startswith("No augmentation in any phase")
    plot_schedule(empty, ops, tmp_path / "empty.png", title="a long title " * 8)
    one = Schedule([(1.0, RandAugment(1, 5, num_bins=10, ops=["Rotate", "ShearX"]))])
    assert not applies_nothing(one, ops)
    plot_schedule(one, ops, tmp_path / "one.png", title="a long title " * 8)
    assert (tmp_path / "empty.png").stat().st_size > 0 and (tmp_path / "one.png").stat().st_size > 0
    assert not [w for w in recwarn if "layout" in str(w.message).lower()]


def test_train_agent_says_when_the_search_chose_no_augmentation_and_what_to_do_next(tmp_path, capsys):
    from policy_search.train_agent import main

    out = tmp_path / "run"
    argv = [*TINY, "--agent", "fixed", "--fixed-policy", "none", "--episodes", "1", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "the search chose no augmentation" in printed and "next: load either file" in printed
    assert (out / "schedule.md").read_text().startswith("No augmentation in any phase")
    legend = json.loads((out / "summary.json").read_text())["actions_legend"]
    assert legend[0].startswith("flip") and len(legend) == 4  # episodes.csv's actions column, head by head
    assert json.loads((out / "actions_legend.json").read_text())["episodes.csv actions"] == legend  # from the start


def test_benchmark_report_on_a_file_or_a_device_is_one_line(tmp_path, capsys):
    from policy_search.benchmark.report import main

    afile = tmp_path / "report.md"
    afile.write_text("x")
    for target in (str(afile), "/dev/null"):
        with pytest.raises(SystemExit) as exc:
            main([target])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {target}:") and len(err.splitlines()) == 1, err


def test_search_commands_refuse_an_out_that_is_a_file_in_one_line(tmp_path, capsys):
    from policy_search.policy import load_policy
    from policy_search.search.compare import main as compare
    from policy_search.search.curve import main as curve
    from policy_search.search.race import main as race

    afile = tmp_path / "taken"
    afile.write_text("x")
    policy = tmp_path / "p.json"
    load_policy("flip-crop").save(policy)
    designs = tmp_path / "designs.json"
    designs.write_text(json.dumps({"designs": {"a": {"episodes": 2}}}))
    for cli, argv in (
        (compare, ["--task", "mnist-small", "--out", str(afile)]),
        (race, ["--task", "mnist-small", "--policies", str(policy), "--out", str(afile)]),
        (curve, ["--config", str(designs), "--task", "mnist-small", "--out", str(afile)]),
    ):
        assert cli(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: --out") and "not a writable folder" in err and len(err.splitlines()) == 1, err


def _edited(tmp_path: Path, policy, body: dict) -> str:
    """A valid file of ``policy`` with its body replaced."""
    policy.save(tmp_path / "valid.json")
    doc = json.loads((tmp_path / "valid.json").read_text())
    doc["body"] = body
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda tmp: "[" + "[]," * 2_000_000 + "[]]", "JSON arrays and objects"),  # 6 MB of empty lists
        (
            lambda tmp: _edited(
                tmp,
                SubPolicies([[("Rotate", 0.5, 0.5)]]),
                {"magnitude_sampling": "fixed", "subpolicies": [[["Rotate", 0.5, 0.5]] * 20_000]},
            ),
            r"subpolicies\[0\].*over the limit of 32",
        ),
        (
            lambda tmp: _edited(
                tmp,
                SubPolicies([[("Rotate", 0.5, 0.5)]]),
                {"magnitude_sampling": "fixed", "subpolicies": [[["Rotate", 0.5, 0.5]]] * 5000},
            ),
            "over the limit of 4,096",
        ),
        (
            lambda tmp: _edited(tmp, Sequence([]), {"policies": [Sequence([]).to_dict()] * 300}),
            "over the limit of 256",
        ),
    ],
)
def test_huge_policy_files_are_refused_fast_and_small(tmp_path, make, match):
    import resource

    path = tmp_path / "huge.json"
    path.write_text(make(tmp_path))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(PolicyFileError, match=match):
        load_policy(path)
    assert time.perf_counter() - start < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # KiB: no gigabytes parsed


def test_workers_die_with_a_killed_parent(tmp_path):
    """kill -9 of a command that trains in worker processes leaves no worker behind."""
    script = tmp_path / "parent.py"
    started = tmp_path / "started"
    script.write_text(
        "import pathlib, time\n"
        "from policy_search.threads import worker_pool\n"
        "def job(flag):\n"
        "    pathlib.Path(flag).write_text('x')\n"
        "    time.sleep(600)\n"
        "if __name__ == '__main__':\n"
        "    pool = worker_pool(1)\n"
        f"    pool.submit(job, {str(started)!r})\n"
        f"    while not pathlib.Path({str(started)!r}).exists():\n"
        "        time.sleep(0.05)\n"
        "    print(next(iter(pool._processes)), flush=True)\n"
        "    time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=_env())
    worker = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        try:  # a zombie reaped by init counts as gone
            if open(f"/proc/{worker}/stat").read().split()[2] == "Z":
                return
        except FileNotFoundError:
            return
        time.sleep(0.2)
    os.kill(worker, signal.SIGKILL)
    pytest.fail("the worker outlived its killed parent")


def test_a_missing_generator_is_one_line_in_every_command(tmp_path, capsys, monkeypatch, shared_data_dir):
    from policy_search.child.cli import main as child
    from policy_search.train_agent import main as train

    monkeypatch.setenv("POLICY_SEARCH_GENERATORS", str(tmp_path / "no-generators"))
    for cli, argv in (
        (train, [*TINY, "--episodes", "1", "--synthetic", "vae", "--out", str(tmp_path / "t")]),
        (
            child,
            [
                "--task",
                "mnist-episode",
                "--epochs",
                "0.2",
                "--policy",
                "synthetic-vae-0.2",
                "--out",
                str(tmp_path / "c"),
            ],
        ),
    ):
        assert cli(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith("error: no trained vae generator") and "python -m policy_search.generative train" in err


def test_curve_needs_seeds_and_checkpoints(tmp_path, capsys):
    from policy_search.search.curve import main

    designs = tmp_path / "designs.json"
    designs.write_text(json.dumps({"designs": {"a": {"episodes": 2}}}))
    for flag in ("--seeds", "--checkpoints"):
        assert main(["--config", str(designs), "--task", "mnist-small", flag, "--out", str(tmp_path / "c")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {flag} needs one or more") and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("state", [{"foo": 1}, {"recorder": [1, 2], "agent": None}, [1, 2, 3]])
def test_a_resume_checkpoint_of_the_wrong_structure_is_one_line(tmp_path, capsys, state):
    from policy_search.train_agent import main

    out = tmp_path / "run"
    assert main([*TINY, "--episodes", "1", "--out", str(out)]) == 0
    from policy_search.outputs import unlock_folder

    unlock_folder(out)
    torch.save(state, out / "checkpoint.pt")
    capsys.readouterr()
    assert main([*TINY, "--episodes", "2", "--resume", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --resume:") and "start a new --out" in err and len(err.splitlines()) == 1, err


def test_search_help_lists_every_subcommand(capsys):
    from policy_search.search.__main__ import main

    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(f"`{sub} ...`" in text for sub in ("compare", "curve", "race"))


def test_usage_lines_show_the_choices(capsys):
    from policy_search.search.study import build_parser as search_parser
    from policy_search.train_agent import build_parser as train_parser

    usage = " ".join(train_parser().format_usage().split())
    assert "--credit {end,step}" in usage and "--agent {" in usage and "--distill {last,elite,critic}" in usage
    usage = " ".join(search_parser().format_usage().split())
    assert "--sampler {" in usage and "--space {" in usage


def test_default_threads_leave_the_cores_other_processes_use(monkeypatch):
    """Issue 33's thread cliff: a single-run command's default takes only the cores that other processes leave free
    (at least one); POLICY_SEARCH_THREADS still wins; without /proc/stat every usable core."""
    import os

    import torch

    from policy_search import threads

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr("time.sleep", lambda s: None)
    monkeypatch.setattr("time.process_time", lambda: 0.0)  # this process used no CPU in the window

    def machine(busy_cores: float):
        reads = iter([(0.0, 0.0), (busy_cores * 100.0, 400.0)])  # 4 cores x 100 jiffies, busy_cores of them busy
        monkeypatch.setattr(threads, "_cpu_times", lambda: next(reads))

    for busy, expected in ((0.0, 4), (1.0, 3), (2.2, 2), (3.9, 1), (4.0, 1)):
        machine(busy)
        assert threads.usable_cores() == expected, (busy, expected)
    monkeypatch.setattr(threads, "_cpu_times", lambda: None)
    assert threads.usable_cores() == 4
    before = torch.get_num_threads()
    try:
        machine(3.0)
        monkeypatch.delenv("POLICY_SEARCH_THREADS", raising=False)
        assert threads.configure_threads("all") == 1
        monkeypatch.setenv("POLICY_SEARCH_THREADS", "2")
        assert threads.configure_threads("all") == 2  # the setting wins over the measurement
    finally:
        torch.set_num_threads(before)


def test_search_compare_follows_the_thread_setting(tmp_path, monkeypatch, capsys):
    """``search compare`` ran its children at torch's default thread count whatever POLICY_SEARCH_THREADS said (two
    side-by-side compares at one thread each ran 2 threads each: 4-6x slower on two cores)."""
    import torch

    from policy_search.search import compare

    seen = []

    def fake_run(config, argv):
        seen.append(torch.get_num_threads())
        raise ValueError("stopped here")

    before = torch.get_num_threads()
    want = 2 if before == 1 else 1
    monkeypatch.setenv("POLICY_SEARCH_THREADS", str(want))
    monkeypatch.setattr(compare, "run_compare", fake_run)
    try:
        assert compare.main(["--task", "mnist-small", "--out", str(tmp_path / "c")]) == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [want]
    assert "stopped here" in capsys.readouterr().err


# --- issue 33, second hostile sweep (inputs kept outside the repository: /tmp/hostile/run_all.sh) -----------------
def _parquet_dataset(root: Path, splits: dict[str, tuple[list, list]], label_feature=None) -> Path:
    """A Hub-layout image dataset: per split (images as uint8 arrays, labels)."""
    import datasets
    import numpy as np
    from PIL import Image

    for split, (arrays, labels) in splits.items():
        features = datasets.Features({"image": datasets.Image(), "label": label_feature or datasets.Value("int64")})
        images = [Image.fromarray(np.asarray(a, dtype=np.uint8)) for a in arrays]
        datasets.Dataset.from_dict({"image": images, "label": labels}, features=features).to_parquet(
            str(root / f"{split}-00000-of-00001.parquet")
        )
    return root


@pytest.mark.parametrize(
    "labels, dtype, match",
    [
        ([0, 1, -1, 1] * 3, "int64", r"label -1 at row 2 .* is not a class index"),
        ([0.5, 1.5] * 6, "float64", r"label 0.5 at row 0 .* is not a class index"),
        ([1] * 12, "int64", r"the 'train' split has 1 class\(es\)"),
    ],
)
def test_labels_that_are_not_class_indices_are_one_line(tmp_path, monkeypatch, labels, dtype, match):
    import datasets
    import numpy as np

    from policy_search.child.data import DatasetError, load_image_dataset

    monkeypatch.setenv("POLICY_SEARCH_CACHE", str(tmp_path / "cache"))
    grey = [np.full((8, 8), 9 * i) for i in range(12)]
    splits = {"train": (grey, labels), "test": (grey[:4], [0, 1, 0, 1])}
    root = _parquet_dataset(tmp_path / "d", splits, datasets.Value(dtype))
    with pytest.raises(DatasetError, match=match):
        load_image_dataset(str(root), val_size=2)


def test_one_colour_image_makes_the_whole_dataset_colour(tmp_path, monkeypatch):
    """A grey first image used to turn a colour dataset grey (and a colour test split then met a grey model)."""
    import numpy as np

    from policy_search.child.data import load_image_dataset

    monkeypatch.setenv("POLICY_SEARCH_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    grey = [rng.integers(0, 255, (8, 8)) for _ in range(12)]
    colour = [rng.integers(0, 255, (8, 8, 3)) for _ in range(4)]
    root = _parquet_dataset(tmp_path / "d", {"train": (grey, [0, 1] * 6), "test": (colour, [0, 1, 0, 1])})
    ds = load_image_dataset(str(root), val_size=2)
    assert ds.train.images.shape[1] == 3 and ds.test.images.shape[1] == 3
    assert torch.equal(ds.train.images[:, 0], ds.train.images[:, 1])  # grey images stay grey, in three channels


def test_a_decode_larger_than_free_memory_is_refused_before_allocating(tmp_path, monkeypatch):
    import numpy as np

    import policy_search.child.data as data

    monkeypatch.setenv("POLICY_SEARCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_memory_budget", lambda: 12 * 64 * 64 - 1)  # one byte short of 12 images at 64x64
    grey = [np.full((8, 8), 9 * i) for i in range(12)]
    root = _parquet_dataset(tmp_path / "d", {"train": (grey, [0, 1] * 6), "test": (grey[:4], [0, 1, 0, 1])})
    with pytest.raises(data.DatasetError, match=r"needs 0.0 GiB, over .* use a smaller --set image_size=N"):
        data.load_image_dataset(str(root), val_size=2, image_size=64)
    assert len(data.load_image_dataset(str(root), val_size=2, image_size=32).train) == 10


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("nesterov", "False", "preset field nesterov must be true or false, got str 'False'"),
        ("max_length", 10**8, "preset field max_length must be finite and >= 2 and <= 65536"),
        ("vocab_size", 10**12, "preset field vocab_size must be finite"),
    ],
)
def test_preset_fields_are_type_and_size_checked(field, value, match):
    from policy_search.child.tasks import get_preset

    with pytest.raises(ValueError, match=match):
        get_preset("imdb-small", **{field: value})


def test_child_refuses_an_empty_policy_and_a_seed_out_of_range(tmp_path, capsys):
    from policy_search.child.cli import main

    assert main(["--task", "mnist-small", "--policy", "", "--out", str(tmp_path / "o")]) == 2
    assert "--policy is empty" in capsys.readouterr().err
    assert main(["--task", "mnist-small", "--seed", "-5", "--out", str(tmp_path / "o")]) == 2
    assert "--seed must be from 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, match",
    [
        (dict(population=2, episodes=4, reward_metric="loss"), "--population rewards members .* ignores"),
        (dict(population=2, episodes=4, credit="step"), r"ignores --credit step"),
        (dict(population=6, episodes=2), "over the budget of --episodes 2"),
        (dict(agent="augnet", fixed_policy="flip-crop"), "--agent augnet would ignore it"),
        (dict(online=True, population=4), "--online trains once with --online-policy and ignores --population"),
        (dict(online=True, credit="step"), r"ignores --credit step"),
        (dict(seed=10**20), "--seed must be from 0 to"),
    ],
)
def test_train_agent_refuses_flags_it_would_record_but_ignore(flags, match):
    from policy_search.train_agent import TrainConfig

    with pytest.raises(ValueError, match=match):
        TrainConfig(**{"task": "mnist-small", **flags}).validate()


@pytest.mark.parametrize("stored", ['"task agent seed"', None])
def test_a_resume_whose_config_is_missing_or_not_an_object_is_one_line(tmp_path, stored):
    from policy_search.train_agent import TrainConfig, _check_resume

    if stored is not None:
        (tmp_path / "config.json").write_text(stored)
    with pytest.raises(ValueError, match="is missing|holds str, not the run's flags"):
        _check_resume(tmp_path, TrainConfig(task="mnist-small", seed=7, cost_weight=0.9))


@pytest.mark.parametrize("episodes", ["abc", [{}], [{"episode": 0}]])
def test_a_checkpoint_with_edited_episode_records_is_refused(episodes):
    from policy_search.agents.recorder import EpisodeRecorder

    recorder = EpisodeRecorder.__new__(EpisodeRecorder)
    with pytest.raises(ValueError, match="not a list of episode records"):
        recorder.load_state({"base_seed": 0, "episode_index": 1, "episodes": episodes})


def test_a_benchmark_seed_beyond_torchs_seeds_names_the_option():
    from policy_search.benchmark.harness import resolve_seeds

    with pytest.raises(ValueError, match=r"seeds must be .* from 0 to 2\*\*63 - 1"):
        resolve_seeds([10**20])


def test_a_waiting_lock_serialises_the_workers_of_one_study(tmp_path):
    """issue 31: every worker of a study races its shortlist at the end (the default race); the race is held under
    a lock the next worker waits for (not refused), so it finds the first one's race runs cached."""
    import threading
    import time

    from policy_search.outputs import waiting_lock

    events: list[str] = []
    held = threading.Event()

    def first() -> None:
        with waiting_lock(tmp_path / "race.lock"):
            held.set()
            time.sleep(0.3)
            events.append("first done")

    worker = threading.Thread(target=first)
    worker.start()
    held.wait(5)
    with waiting_lock(tmp_path / "race.lock"):
        events.append("second in")
    worker.join()
    assert events == ["first done", "second in"]
