"""Optuna search: samplers, pruners, spaces, resume after a kill, shared studies, bad arguments, comparison.

Every search here trains a tiny child (256 MNIST images, batch 32, 1 epoch: 8 steps), so a trial is about a
second of compute; the subprocess tests pay Python + torch start-up on top.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest

from policy_search import load_policy
from policy_search.policy import ImageSpec, Policy
from policy_search.search.space import SPACES, build_policy
from policy_search.search.storage import make_storage
from policy_search.search.study import SearchConfig, main, run_search

REPO = Path(__file__).resolve().parent.parent
TINY = {"train_size": 256, "eval_samples": 128, "batch_size": 32, "val_size": 500}
TINY_ARGS = [a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]


def _config(tmp_path: Path, **kwargs) -> SearchConfig:
    base = dict(
        task="mnist-episode",
        epochs=1,
        trials=2,
        out=str(tmp_path / "out"),
        overrides=dict(TINY),
        device="cpu",
        quiet=True,
    )
    return SearchConfig(**{**base, **kwargs})


def _rows(out: Path) -> list[dict]:
    with open(out / "trials.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _study(config: SearchConfig) -> optuna.Study:
    return optuna.load_study(study_name=config.name(), storage=make_storage(config.storage_spec()))


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def _cli(out: Path, *extra: str, trials: int = 3) -> list[str]:
    return [
        sys.executable,
        "-m",
        "policy_search.search",
        "--task",
        "mnist-episode",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--trials",
        str(trials),
        "--out",
        str(out),
        *TINY_ARGS,
        *extra,
    ]


@pytest.mark.parametrize("space", sorted(SPACES))
def test_each_space_rebuilds_its_policy_and_records_real_parameters(space):
    from policy_search.policy.action_space import IMAGE_FAMILIES, ONLINE_CAPS

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    image = ImageSpec(1, 28, 28)
    policy = SPACES[space](trial, image)
    assert isinstance(policy, Policy)
    again = build_policy(space, trial.params, image)
    assert again.to_dict() == policy.to_dict()
    real = trial.user_attrs
    if space == "subpolicies":
        op, mag = trial.params["sp0_op0"], trial.params["sp0_mag0"]
        if op == "Rotate":
            assert real["sp0_op0_param"] == pytest.approx(30.0 * mag / 10, abs=1e-4)
        assert "sp4_op1_param" in real
    elif space == "randaugment":
        assert real["rotate_degrees"] == pytest.approx(30.0 * trial.params["magnitude"] / 30, abs=1e-4)
    elif space == "compact":  # magnitude bin of 10
        assert real["rotate_degrees"] == pytest.approx(30.0 * trial.params["magnitude"] / 9, abs=1e-4)
        assert set(trial.params) == {"flip", "crop", "num_ops", "magnitude"}
    elif space in ("families", "text-families"):  # compact plus one on/off per op family
        families = {k for k in trial.params if k.startswith("family_")}
        assert len(families) == (3 if space == "families" else 6)  # images 3 families; text each of 6 ops
        assert ("rotate_degrees" if space == "families" else "rate") in real
        on = [k for k in families if trial.params[k]]
        if trial.params["num_ops"] and on and space == "families":
            names = {o for p in policy.policies if hasattr(p, "ops") for o in p.ops}
            assert names - {"Identity"} <= {o for f in on for o in IMAGE_FAMILIES[f.removeprefix("family_")]}
    elif space == "text-compact":  # rate = 0.5 * M / 9 per op
        assert set(trial.params) == {"num_ops", "magnitude"} and policy.modality in ("text", None)
        assert real["rate"] == pytest.approx(0.5 * trial.params["magnitude"] / 9)
    elif space in ("online", "text-online"):  # the settings of a controller that learns inside the run
        assert policy.observes_batches and real["ops_per_sample_value"] == trial.params["ops_per_sample"] + 1
        assert real["magnitude_cap_value"] == ONLINE_CAPS[trial.params["magnitude_cap"]]
        assert real["affinity_target_value"] == policy.magnitude_target
    elif space in ("rates", "text-rates"):  # one magnitude choice per op, 0 off; its real parameter recorded
        assert all(k.startswith("rate_") for k in trial.params) and len(trial.params) >= 6
        off = [k for k, v in trial.params.items() if v == 0]
        assert all(real[f"{k}_value"] == 0 for k in off)
    else:
        assert real["phase2_end_progress"] == 1.0 and "phase1_magnitude_normalized" in real


@pytest.mark.parametrize(
    "sampler,pruner,space",
    [("tpe", "none", "randaugment"), ("random", "median", "schedule"), ("tpe", "hyperband", "subpolicies")],
)
def test_small_search_writes_what_it_promises(tmp_path, shared_data_dir, sampler, pruner, space):
    config = _config(
        tmp_path,
        sampler=sampler,
        pruner=pruner,
        space=space,
        trials=3,
        evals_per_epoch=2,
        n_startup_trials=2,
        data_dir=str(shared_data_dir),
    )
    summary = run_search(config)
    out = Path(config.out)
    rows = _rows(out)
    assert summary["finished"] == 3 and len(rows) == 3
    assert sorted(int(r["number"]) for r in rows) == [0, 1, 2]
    assert all(r["state"] in ("COMPLETE", "PRUNED") and int(r["samples"]) > 0 for r in rows)
    assert int(rows[-1]["cumulative_samples"]) == sum(int(r["samples"]) for r in rows)
    policy = load_policy(out / "best_policy.json")
    assert policy.kind == {"randaugment": "randaugment", "schedule": "schedule", "subpolicies": "subpolicies"}[space]
    assert policy.provenance["agent"] == f"optuna-{sampler}"
    assert policy.provenance["search_seed"] == config.seed and policy.provenance["child_run_equivalents"] > 0
    assert policy.provenance["search"]["val_accuracy"] == pytest.approx(summary["best_value"])
    saved = json.loads((out / "config.json").read_text())
    assert saved["sampler"] == sampler and saved["pruner"] == pruner and saved["storage"].endswith("study.log")
    assert "python -m policy_search.search " in (out / "command.txt").read_text()


def test_resume_after_a_kill_keeps_finished_trials_and_frees_the_killed_slot(tmp_path, shared_data_dir):
    out = tmp_path / "out"
    args = _cli(out, "--data-dir", str(shared_data_dir), "--heartbeat", "0.5", "--grace", "3", trials=3)
    proc = subprocess.Popen(args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    # Kill once the first trial has finished and the second is running (its trial line is printed on finish).
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line.startswith("[trial 0]") or proc.poll() is not None:
            break
    assert proc.poll() is None, "the search ended before it could be killed"
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    config = _config(tmp_path, trials=3, data_dir=str(shared_data_dir), heartbeat_s=0.5, grace_s=3.0)
    first = {t.number: t.value for t in _study(config).get_trials(states=(optuna.trial.TrialState.COMPLETE,))}
    assert 0 in first
    with pytest.raises(RuntimeError, match="--resume"):
        run_search(config)  # an existing study is never silently reused
    config.resume = True
    run_search(config)
    trials = _study(config).get_trials()
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3 and len({t.number for t in complete}) == 3
    assert all(next(t.value for t in complete if t.number == n) == v for n, v in first.items())
    killed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert all(t.user_attrs.get("stale") for t in killed)


def test_two_workers_share_one_journal_study_exactly(tmp_path, shared_data_dir):
    out = tmp_path / "shared"
    # Trials of ~1 s (1,024 images), not the tiny ~0.2 s ones: otherwise the worker that finishes importing first
    # can claim all six before the other starts, and the test would not exercise sharing at all.
    args = _cli(
        out,
        "--data-dir",
        str(shared_data_dir),
        "--resume",
        "--sampler",
        "random",
        "--quiet",
        "--set",
        "train_size=1024",
        trials=6,
    )
    procs = [
        subprocess.Popen(args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    logs = [p.communicate(timeout=400)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    config = _config(tmp_path, out=str(out), sampler="random", data_dir=str(shared_data_dir))
    trials = _study(config).get_trials()
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 6
    assert len({t.number for t in complete}) == 6
    # Anything beyond the 6 is a claimed-then-returned slot, never a run trial.
    assert all(t.user_attrs.get("over_cap") for t in trials if t.state != optuna.trial.TrialState.COMPLETE)
    assert len({t.user_attrs["worker"] for t in complete}) == 2, "both workers should have run trials"
    assert len({json.dumps(t.params, sort_keys=True) for t in complete}) == 6, "workers replayed each other's draws"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--sampler", "cmaes"], "unknown sampler 'cmaes'"),
        (["--pruner", "asha"], "unknown pruner 'asha'"),
        (["--task", "imagenet"], "unknown task preset 'imagenet'"),
        (["--space", "gan"], "unknown search space 'gan'"),
        (["--trials", "0"], "--trials must be a number of trials from 1"),
        (["--storage", "/nonexistent-dir/x/study.log"], "does not exist"),
        (["--storage", "study.db"], "neither a journal file"),
    ],
)
def test_bad_arguments_fail_with_clear_messages(tmp_path, capsys, args, message):
    assert main(["--out", str(tmp_path / "o"), *args]) == 2
    assert message in capsys.readouterr().err


def test_compare_runs_optuna_methods_at_equal_budget(tmp_path, shared_data_dir):
    from policy_search.search.compare import CompareConfig, run_compare

    config = CompareConfig(
        task="mnist-episode",
        budget_samples=2 * 256,
        seeds=1,
        out=str(tmp_path / "cmp"),
        methods=("tpe", "random"),
        test_seeds=1,
        baselines=("none",),
        device="cpu",
        data_dir=str(shared_data_dir),
        overrides={**TINY, "epochs": 1},
    )
    summary = run_compare(config)
    assert summary["runs"] == 2 and set(summary["methods"]) == {"tpe", "random"}
    for method in ("tpe", "random"):
        assert summary["methods"][method]["samples_spent"] == [512]
        assert 0.0 <= summary["methods"][method]["test_mean"] <= 1.0
    out = Path(config.out)
    assert (out / "curves.png").stat().st_size > 0 and (out / "curves.csv").is_file()
    assert "baseline-none" in summary["test"]
    if importlib.util.find_spec("policy_search.benchmark.harness") is not None:
        assert summary["test_harness"] == "policy_search.benchmark.harness.run_benchmark"


def test_compare_replicates_each_method_over_searches_on_fresh_test_seeds(tmp_path, shared_data_dir):
    """issue 31: a budget in child runs, test seeds apart from the searches', and each method judged as the mean
    of its searches (replicated_effect) against each baseline and against the other method."""
    from policy_search.search.compare import CompareConfig, run_compare

    config = CompareConfig(
        task="mnist-episode",
        budget_runs=2,
        seeds=2,
        out=str(tmp_path / "cmp"),
        methods=("tpe", "random"),
        test_seeds=2,
        first_test_seed=500,
        baselines=("none",),
        device="cpu",
        data_dir=str(shared_data_dir),
        overrides={**TINY, "epochs": 1},
    )
    summary = run_compare(config)
    assert summary["runs"] == 2 and summary["budget_samples"] == 2 * summary["samples_per_run"]
    replicated = summary["replicated"]
    assert replicated["test_seeds"] == [500, 501] and replicated["unit"] == "search"
    for method in ("tpe", "random"):
        effect = replicated["effects"]["none"][method]
        assert effect["searches"] == 2 and len(effect["search_gains"]) == 2
        assert -1.0 <= effect["effect"] <= 1.0
    assert replicated["pairs"]["tpe - random"]["searches_a"] == 2
    seeds = {json.loads(p.read_text())["seed"] for p in (Path(config.out) / "benchmark" / "runs").glob("*.json")}
    assert seeds == {500, 501}  # never the seeds the searches trained their children with
    with pytest.raises(ValueError, match="leaves fewer than 4 runs to search"):
        CompareConfig(budget_runs=8, rescore=6).validate()


@pytest.mark.slow
def test_compare_drives_the_rl_trainer_through_its_api(tmp_path):
    pytest.importorskip(
        "policy_search.train_agent", reason="the RL trainer (policy_search.train_agent) is not here yet"
    )
    from policy_search.search.compare import CompareConfig, run_compare

    config = CompareConfig(
        task="mnist-episode",
        budget_samples=2 * 3968,
        seeds=1,
        out=str(tmp_path / "cmp"),
        methods=("ppo",),
        test_seeds=0,
        device="cpu",
    )
    summary = run_compare(config)
    assert summary["methods"]["ppo"]["samples_spent"][0] <= config.budget_samples


def test_compare_gives_the_rl_methods_the_optuna_action_space(tmp_path):
    """issue 31: with an action space (families here), the RL methods search that very action, as Optuna does."""
    from policy_search.search.compare import CompareConfig, run_compare

    config = CompareConfig(
        task="mnist-episode", budget_runs=2, seeds=1, out=str(tmp_path / "cmp"), methods=("augnet",),
        space="families", test_seeds=0, device="cpu",
    )  # fmt: skip
    run_compare(config)
    recorded = json.loads((tmp_path / "cmp" / "runs" / "augnet" / "seed0" / "config.json").read_text())
    assert recorded["action_kind"] == "families" and recorded["rescore"] == 0
    with pytest.raises(ValueError, match="action space of image, but imdb-small is a text task; choose one of"):
        CompareConfig(task="imdb-small", space="families", methods=("augnet",)).validate()


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


@pytest.fixture
def postgres_url():
    """A throwaway PostgreSQL server in a temp dir (skips when the binaries or psycopg2 are missing)."""
    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is None:
        pytest.skip("no PostgreSQL driver: pip install 'psycopg[binary]' or psycopg2-binary")
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed: apt-get install -y postgresql")
    # Not pytest's tmp dir: that sits under a 0700 directory the postgres user cannot enter.
    root = Path(tempfile.mkdtemp(prefix="policy-search-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        runuser = shutil.which("runuser")
        if not runuser:
            pytest.skip("running as root without runuser: cannot start a PostgreSQL server")
        try:
            shutil.chown(root, user="postgres")
        except (LookupError, PermissionError):
            shutil.rmtree(root)
            pytest.skip("running as root and no 'postgres' user to own the server")
        prefix = [runuser, "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {root}"
    for command in (
        [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        [pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
    ):
        done = subprocess.run([*prefix, *command], capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            pytest.fail(f"{command[0]} failed: {done.stdout}{done.stderr}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_postgresql_storage_runs_a_search(tmp_path, shared_data_dir, postgres_url):
    config = _config(tmp_path, storage=postgres_url, trials=2, sampler="tpe", data_dir=str(shared_data_dir))
    summary = run_search(config)
    assert summary["finished"] == 2
    assert len(_study(config).get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 2
    load_policy(Path(config.out) / "best_policy.json")


def test_families_action_says_only_these_ops_and_round_trips():
    """The families action expresses what the compact one cannot: "only affine ops" (issue 31)."""
    import numpy as np

    from policy_search.policy.action_space import IMAGE_FAMILIES, ActionSpec

    spec = ActionSpec.families_spec()
    assert spec.nvec.tolist() == [2, 2, 2, 2, 2, 4, 10] and spec.family_names() == list(IMAGE_FAMILIES)
    assert len(spec.legend()) == len(spec.nvec) and not spec.ordinal[:5].any() and spec.ordinal[5:].all()
    policy = spec.to_policy(np.array([0, 0, 1, 0, 0, 2, 3]))  # affine only, 2 ops at bin 3
    (ra,) = policy.policies
    assert set(ra.ops) == {"Identity", *IMAGE_FAMILIES["affine"]} and ra.num_ops == 2
    assert spec.to_policy(np.array([1, 0, 0, 0, 0, 2, 3])).policies[0].__class__.__name__ == "SubPolicies"
    assert len(spec.to_policy(np.array([1, 0, 0, 0, 0, 2, 3])).policies) == 1  # no family on: flip alone
    assert ActionSpec.from_dict(spec.to_dict()) == spec
    assert "families" not in ActionSpec.compact().to_dict()  # files written before families read the same
    text = ActionSpec.families_spec("text")
    on = np.array([name == "RandomDeletion" for name in text.family_names()], dtype=np.int64)
    (tra,) = text.to_policy(np.concatenate([on, [1, 5]])).policies  # deletion only
    assert set(tra.ops) == {"RandomDeletion"}
    with pytest.raises(ValueError, match="families"):
        ActionSpec(kind="slots", families=(("Rotate",),))
    with pytest.raises(ValueError, match="Bogus"):
        ActionSpec.compact(families=(("Bogus",),))


def test_rescore_races_the_studys_best_within_its_trials(tmp_path, shared_data_dir):
    """--rescore: the study runs --trials minus N trials, its best distinct policies race on shared validation
    seeds, and the winner (or no augmentation) is best_policy.json; every run is counted."""
    import json

    from policy_search.policy import load_policy

    config = _config(tmp_path, trials=10, rescore=6, space="compact", sampler="random")
    summary = run_search(config)
    assert len(_rows(Path(config.out))) == 4 and summary["rescore"]["runs"] <= 6
    out = Path(config.out)
    race = json.loads((out / "race" / "race.json").read_text())
    assert len(race["candidates"]) <= 2 and (out / "study_best_policy.json").is_file()
    best = json.loads((out / "best_policy.json").read_text())["provenance"]
    assert best["selection"] == "race" and best["child_run_equivalents"] == 4 + race["race_runs"] <= 10
    load_policy(str(out / "best_policy.json"))
    from dataclasses import replace

    again = run_search(replace(config, resume=True))  # the finished study and the cached race: the same export
    assert again["rescore"] == summary["rescore"]
    with pytest.raises(ValueError, match="--rescore"):
        _config(tmp_path, trials=8, rescore=6).validate()


def test_compare_scores_a_tagger_by_entity_f1_on_test(tmp_path):
    """search compare's test scores are the task's headline metric: entity F1 for a tagger (it read token
    accuracy, mostly O tokens), from the harness's rows and from its cached run files alike."""
    from types import SimpleNamespace

    from policy_search.search.compare import CompareConfig, _harness_records, _via_harness

    for task, expected in (("conll2003-small", 0.81), ("imdb-small", 0.97)):
        f1 = 0.81 if task.startswith("conll") else None  # the harness's rows and summary, as it writes them
        rows = [{"policy": "none", "seed": 700, "test_accuracy": 0.97, "test_entity_f1": f1}]
        summary = {"none": {"test_entity_f1": {"n": int(f1 is not None)}, "test_accuracy": {"n": 1}}}
        harness = SimpleNamespace(
            run_benchmark=lambda *a, rows=rows, summary=summary, **k: {"runs": rows, "summary": summary}
        )
        config = CompareConfig(task=task)
        assert _via_harness(harness, config, {"none": "none"}, [700], tmp_path) == {"none": {700: expected}}
    (tmp_path / "runs").mkdir()
    record = {"policy": "none", "seed": 700, "test": {"accuracy": 0.97, "entity_f1": 0.81}}
    (tmp_path / "runs" / "none-seed700.json").write_text(json.dumps(record))
    assert _harness_records(tmp_path, {"none": "none"}, [700], "entity_f1") == {("none", 700): 0.81}


def test_rescore_races_listed_policies_in_their_own_slots(tmp_path, shared_data_dir):
    """--race-policies: the study's race holds the listed policies beside its best trial (one slot each), and
    records them in command.txt so the search reruns as it ran."""
    import json

    config = _config(tmp_path, trials=10, rescore=6, space="compact", sampler="random", race_policies=("flip-crop",))
    run_search(config)
    race = json.loads((Path(config.out) / "race" / "race.json").read_text())
    names = [c["name"] for c in race["candidates"]]
    assert "flip-crop" in names and len(names) == 2 and race["race_runs"] <= 6
    assert "--race-policies flip-crop" in (Path(config.out) / "command.txt").read_text()


def test_rescore_races_the_best_trial_against_a_reference(tmp_path, shared_data_dir):
    """--race-reference: the study's best trial races the incumbent on every seed of one round, no augmentation
    is not run, and the flag is recorded in command.txt."""
    import json

    config = _config(tmp_path, trials=10, rescore=6, space="compact", sampler="random", race_reference="flip-crop")
    run_search(config)
    race = json.loads((Path(config.out) / "race" / "race.json").read_text())
    assert race["reference"] == "flip-crop" and len(race["candidates"]) == 1 and race["rounds"] == [[3000, 3001, 3002]]
    assert not list((Path(config.out) / "race" / "evals").glob("none-*"))
    from policy_search.benchmark.ablation import key

    raced = load_policy(race["candidates"][0]["file"])  # a trial equal to the reference is not raced against it
    assert key(raced) != key(load_policy("flip-crop"))
    assert "--race-reference flip-crop" in (Path(config.out) / "command.txt").read_text()


def test_the_rates_action_gives_ops_without_a_magnitude_an_on_off_head():
    """Autocontrast and equalize take no magnitude: a head over nine bins would name one policy nine ways."""
    from policy_search.policy.action_space import ActionSpec
    from policy_search.search.study import SearchConfig

    spec = ActionSpec.rates_spec("image")
    heads = dict(zip(spec.ops, spec.nvec.tolist(), strict=True))
    assert heads["AutoContrast"] == heads["Equalize"] == 2 and heads["Rotate"] == 10
    assert spec.slots_of([0] * 11 + [1, 0])[-2][:2] == ("AutoContrast", 1.0)
    with pytest.raises(ValueError, match="only magnitude 0"):
        ActionSpec.for_search("rates", "image", magnitude_range=(0.0, 0.1))
    with pytest.raises(ValueError, match="action space of image"):
        SearchConfig(task="conll2003-small", space="rates", trials=4).validate()
