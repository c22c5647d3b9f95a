"""Hostile input to the reports and the search commands: each case is one ``error:`` line and exit code 2, found
before any work where it can be, and never a traceback or a silently wrong result (benchmark_report, benchmark
reruns, search, search compare / curve / race, generative train, strict JSON outputs)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

SEARCH = ["--task", "mnist-small", "--epochs", "0.3", "--quiet"]


def _strict(text: str):
    """``json.loads`` that refuses the bare NaN / Infinity Python writes by default (as other JSON readers do)."""

    def refuse(token: str):
        raise ValueError(f"not strict JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# --- a benchmark folder made by hand: results.json and one cached run --------------------------------------------


def _protocol(fgsm_eps=(2 / 255, 8 / 255), robustness_samples: int = 0, epochs: float | None = None) -> dict:
    from policy_search.benchmark.harness import _protocol
    from policy_search.child.tasks import get_preset

    preset = get_preset("mnist-small", **({"epochs": epochs} if epochs is not None else {}))
    return _protocol(preset, robustness_samples, fgsm_eps)


def _record(protocol: dict, robustness: dict | None = None) -> dict:
    return {
        "format": "policy-search/benchmark-run",
        "version": 1,
        "policy": "none",
        "key": "none",
        "source": "preset",
        "seed": 0,
        "protocol": protocol,
        "class_names": ["0", "1"],
        "test": {"accuracy": 0.75, "loss": 0.5, "macro_f1": 0.7, "confusion_matrix": [[3, 1], [1, 3]]},
        "generalization_gap": 0.01,
        "train_time_s": 1.0,
        "aug_time_s": 0.1,
        "wall_time_s": 1.5,
        "peak_rss_mb": None,  # a value the run could not measure: null reads as missing
        "history": [{"batches": 2, "samples": 64, "val_acc": 0.5}, {"batches": 4, "samples": 128, "val_acc": 0.7}],
        "robustness": robustness,
        "op_usage": [{"progress": 0.0, "ops": {}}, {"progress": 1.0, "ops": {}}],
        "search_cost": None,
        "provenance": {},
    }


def _bench_folder(tmp_path: Path, fgsm_eps=(2 / 255, 8 / 255), robustness: dict | None = None) -> Path:
    from policy_search.child.tasks import get_preset

    out = tmp_path / "bench"
    (out / "runs").mkdir(parents=True)
    protocol = _protocol(fgsm_eps, 20 if robustness else 0)
    meta = {
        "command": "python -m policy_search.benchmark (by hand)",
        "task": "mnist-small",
        "preset": get_preset("mnist-small").to_dict(),
        "seeds": [0],
        "policies": [{"name": "none", "key": "none", "source": "preset"}],
        "protocol": protocol,
        "versions": {"policy_search": "test"},
    }
    (out / "results.json").write_text(json.dumps({"meta": meta}))
    (out / "runs" / "none-seed0.json").write_text(json.dumps(_record(protocol, robustness)))
    return out


def _edit_results(folder: Path, edit) -> None:
    results = json.loads((folder / "results.json").read_text())
    edit(results["meta"])
    (folder / "results.json").write_text(json.dumps(results))


def test_a_hand_made_benchmark_folder_rebuilds(tmp_path):
    """The fixture the cases below break is a valid folder."""
    from policy_search.benchmark.report import rebuild_report

    report = rebuild_report(_bench_folder(tmp_path))
    assert report.read_text().startswith("# Benchmark: mnist-small")


def test_a_run_that_never_left_chance_is_named_in_the_report_and_kept_in_the_analysis(tmp_path):
    """Round 6 on mnist-small missed its primary by one seed whose LeNet-5 stayed at chance: the report says which
    runs did, so a reader sees it before reading a mean. An overfitted text child (high loss, sound accuracy) is not
    one of them."""
    from policy_search.benchmark.report import failed_runs, rebuild_report

    folder = _bench_folder(tmp_path)
    assert "never left chance" not in rebuild_report(folder).read_text()
    run = json.loads((folder / "runs" / "none-seed0.json").read_text())
    stuck = {"batches": 4, "samples": 128, "val_loss": 0.69, "val_acc": 0.52}  # two classes: ln 2 = 0.693
    (folder / "runs" / "none-seed0.json").write_text(json.dumps({**run, "history": [stuck]}))
    report = rebuild_report(folder).read_text()
    assert "**1 run(s) never left chance**" in report and "`none` seed 0 (52.0%)" in report
    results = json.loads((folder / "results.json").read_text())
    assert results["failed_runs"] == [
        {"policy": "none", "seed": 0, "run": "none", "final_val_loss": 0.69, "final_val_acc": 0.52}
    ]
    assert results["summary"]["none"]["test_accuracy"]["n"] == 1  # kept in the analysis
    overfit = {**run, "history": [{**stuck, "val_loss": 1.9, "val_acc": 0.70}]}  # IMDB's children end like this
    assert failed_runs([overfit]) == [] and failed_runs([{**run, "history": []}]) == []


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("[1, 2]", "a JSON list, not an object"),
        (lambda r: {k: v for k, v in r.items() if k != "test"}, "it has no 'test' metrics"),
        (lambda r: {**r, "seed": 3}, "not the seed 0 its file name says"),
        (lambda r: {**r, "history": "x"}, "'history'"),
        ('{"seed": 0, "test": {', "not valid JSON"),
    ],
)
def test_benchmark_report_names_a_cached_run_that_is_not_a_record(tmp_path, capsys, content, why):
    from policy_search.benchmark.report import main

    folder = _bench_folder(tmp_path)
    run = folder / "runs" / "none-seed0.json"
    run.write_text(content if isinstance(content, str) else json.dumps(content(json.loads(run.read_text()))))
    with pytest.raises(SystemExit) as exc:
        main([str(folder)])
    assert exc.value.code == 2
    err = _one_error_line(capsys)
    assert str(run) in err and "not a benchmark run record" in err and why in err, err


@pytest.mark.parametrize("content", ["[1, 2]", "missing test"])
def test_benchmark_rerun_refuses_a_cached_run_that_is_not_a_record_before_training(tmp_path, capsys, content):
    """The harness reads every cached run before it trains one: a broken one is named (and left alone) at once."""
    from policy_search.benchmark.harness import main

    out = tmp_path / "bench"
    run = out / "runs" / "none-seed0.json"
    run.parent.mkdir(parents=True)
    record = _record(_protocol(epochs=0.3))
    record.pop("test")
    run.write_text(content if content.startswith("[") else json.dumps(record))
    before = run.read_bytes()
    argv = ["--task", "mnist-small", "--epochs", "0.3", "--policies", "none", "--seeds", "1"]
    argv += ["--robustness-samples", "0", "--no-adaptive-baseline", "--no-progress", "--out", str(out)]
    assert main(argv) == 2
    err = _one_error_line(capsys)
    assert str(run) in err and "not a benchmark run record" in err, err
    assert run.read_bytes() == before and sorted(p.name for p in (out / "runs").iterdir()) == ["none-seed0.json"]
    assert not (out / "results.json").exists()


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda meta: meta.pop("seeds"), "'seeds'"),
        (lambda meta: meta.update(policies="none"), "'policies'"),
        (lambda meta: meta["preset"].update(colour="red"), "'preset'"),
        (lambda meta: meta.update(seeds=[0, "1"]), "'seeds'"),
    ],
)
def test_benchmark_report_names_a_bad_field_of_results_json(tmp_path, capsys, edit, field):
    from policy_search.benchmark.report import main

    folder = _bench_folder(tmp_path)
    _edit_results(folder, edit)
    with pytest.raises(SystemExit) as exc:
        main([str(folder)])
    assert exc.value.code == 2
    err = _one_error_line(capsys)
    assert "results.json" in err and field in err, err
    if field == "'preset'":
        assert "colour" in err


# --- strict JSON: NaN and infinities are written as null -----------------------------------------------------------


def test_write_json_writes_strict_json_with_null_for_nan_and_infinity(tmp_path):
    from policy_search.outputs import write_json

    path = write_json(tmp_path / "a.json", {"a": math.nan, "b": [math.inf, 1.5], "c": (-math.inf,), "d": {"e": 2}})
    assert _strict(path.read_text()) == {"a": None, "b": [None, 1.5], "c": [None], "d": {"e": 2}}


def test_results_json_of_one_seed_is_strict_json(tmp_path):
    """One seed: every CI half-width is nan; results.json must still be JSON any reader accepts."""
    from policy_search.benchmark.report import rebuild_report

    folder = _bench_folder(tmp_path)
    rebuild_report(folder)
    results = _strict((folder / "results.json").read_text())
    assert results["summary"]["none"]["test_accuracy"]["half_width"] is None
    assert results["summary"]["none"]["peak_rss_mb"]["n"] == 0  # null in a run record reads as missing


def test_race_json_of_one_seed_is_strict_json(tmp_path):
    from policy_search.benchmark.race import RaceConfig, _write_race
    from policy_search.policy.kinds import Schedule, Sequence

    out = tmp_path / "race"
    out.mkdir()
    summary = {
        "task": "mnist-small",
        "winner": "c0",
        "rounds": [[3000]],
        "child_run_equivalents": 3,
        "candidates": [{"name": "c0", "gain_mean": 0.5, "gain_ci95": math.nan, "seeds": 1, "gains": [0.5]}],
    }
    rows = [{"round": 0, "candidate": "c0", "seed": 3000, "val_accuracy": 0.5, "reference_accuracy": 0.4}]
    _write_race(RaceConfig(out=str(out)), out, summary, Schedule([(1.0, Sequence([]))]), rows)
    assert _strict((out / "race.json").read_text())["candidates"][0]["gain_ci95"] is None


# --- FGSM step sizes: every configured one is reported, none outside (0, 1] is accepted ----------------------------


def test_fgsm_columns_follow_the_configured_step_sizes(tmp_path):
    from policy_search.benchmark.report import rebuild_report

    robustness = {"corruption_accuracy": 0.6, "fgsm": {"4/255": 0.55}, "corruptions": {}}
    folder = _bench_folder(tmp_path, fgsm_eps=(0.01568627,), robustness=robustness)
    report = rebuild_report(folder).read_text()
    results = json.loads((folder / "results.json").read_text())
    assert results["summary"]["none"]["fgsm_4"]["mean"] == pytest.approx(0.55)
    assert "fgsm_2" not in results["summary"]["none"] and results["runs"][0]["fgsm_4"] == pytest.approx(0.55)
    assert "fgsm_4" in (folder / "results.csv").read_text().splitlines()[0]
    assert "FGSM 4/255 acc %" in report and "55.00" in report


@pytest.mark.parametrize("eps", [1e300, 0.0, -0.1, 2.0])
def test_benchmark_refuses_an_fgsm_step_outside_0_1(tmp_path, capsys, eps):
    from policy_search.benchmark.harness import main

    config = tmp_path / "config.json"
    out = tmp_path / "bench"
    values = {"task": "mnist-small", "policies": ["none"], "seeds": 1, "epochs": 0.3, "fgsm_eps": [eps]}
    config.write_text(json.dumps({**values, "adaptive_baseline": False, "out": str(out)}))
    assert main(["--no-progress", "--config", str(config)]) == 2
    err = _one_error_line(capsys)
    assert "fgsm_eps" in err and "(0, 1]" in err, err
    assert not out.exists()


# --- search curve ------------------------------------------------------------------------------------------------


def _curve(tmp_path: Path, capsys, **fields) -> str:
    from policy_search.search.curve import main

    config = tmp_path / "curve.json"
    base = {"task": "mnist-small", "epochs": 0.3, "designs": {"a": {"agent": "augnet"}}, "checkpoints": [2]}
    config.write_text(json.dumps({**base, "seeds": [0], "eval_seeds": [1000], **fields}))
    assert main(["--config", str(config), "--out", str(tmp_path / "c")]) == 2
    err = _one_error_line(capsys)
    assert not (tmp_path / "c").exists()  # refused before any work
    return err


def test_curve_refuses_no_eval_seeds_before_any_work(tmp_path, capsys):
    assert "--eval-seeds needs one or more" in _curve(tmp_path, capsys, eval_seeds=[])


@pytest.mark.parametrize("key", ["seed", "task", "epochs", "out", "data_dir", "resume"])
def test_curve_refuses_a_design_that_sets_what_the_curve_sets(tmp_path, capsys, key):
    value = {"seed": 5, "task": "mnist-small", "epochs": 1.0, "out": "x", "data_dir": "d", "resume": True}[key]
    err = _curve(tmp_path, capsys, designs={"a": {"agent": "augnet", key: value}})
    assert "design 'a' sets" in err and repr(key) in err, err


def test_curve_names_the_design_with_a_bad_value(tmp_path, capsys):
    err = _curve(tmp_path, capsys, designs={"a": {"agent": "augnet", "cost_weight": "high"}})
    assert err.startswith("error: design 'a': 'cost_weight': expected a finite number"), err


# --- search race on a broken search folder -------------------------------------------------------------------------


def _search_folder(tmp_path: Path, config=None, actions: str = "[[1, 0, 2, 3]]") -> Path:
    folder = tmp_path / "search"
    folder.mkdir()
    fields = {"task": "mnist-small", "dataset": None, "steps_per_episode": 1, "population": 0}
    (folder / "config.json").write_text(json.dumps(fields if config is None else config))
    (folder / "episodes.csv").write_text(
        "episode,return,final_val_acc,samples,cumulative_samples,wall_s,cost,diverged,child_seed,actions\n"
        f'0,11.2,0.1124,128,128,1.17,2.7,,1826701614,"{actions}"\n'
    )
    return folder


@pytest.mark.parametrize(
    ("kind", "file", "why"),
    [
        ("config_list", "config.json", "a JSON list"),
        ("config_garbage", "config.json", "not valid JSON"),
        ("actions_empty", "episodes.csv", "not a list of one or more action lists"),
        ("actions_garbage", "episodes.csv", "line 2"),
        ("actions_out_of_range", "episodes.csv", "magnitude"),
    ],
)
def test_race_names_the_search_file_it_cannot_read(tmp_path, capsys, kind, file, why):
    from policy_search.search.race import main

    folder = _search_folder(
        tmp_path,
        config={"config_list": [], "config_garbage": {}}.get(kind),
        actions={"actions_empty": "[]", "actions_garbage": "[[zero]]", "actions_out_of_range": "[[1, 1, 2, 99]]"}.get(
            kind, "[[1, 0, 2, 3]]"
        ),
    )
    if kind == "config_garbage":
        (folder / "config.json").write_text("{not json")
    argv = ["--task", "mnist-small", "--epochs", "0.3", "--rounds", "1", "--candidates", "2", "--no-progress-bar"]
    assert main([*argv, "--searches", str(folder), "--out", str(tmp_path / "race")]) == 2
    err = _one_error_line(capsys)
    assert str(folder / file) in err and why in err, err
    assert not list((tmp_path / "race").glob("evals/*"))


# --- generative train ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "key"), [({"dataset": "imagenet"}, "'dataset'"), ({"size": "huge"}, "'size'")])
def test_generative_config_values_are_checked_against_the_choices(tmp_path, capsys, values, key):
    from policy_search.generative.cli import main

    config = tmp_path / "gen.json"
    config.write_text(json.dumps({"dataset": "mnist", "model": "vae", **values}))
    with pytest.raises(SystemExit) as exc:
        main(["train", "--config", str(config), "--epochs", "1", "--out", str(tmp_path / "g")])
    assert exc.value.code == 2
    err = _one_error_line(capsys)
    assert str(config) in err and key in err and "is not one of" in err, err


def test_config_file_values_are_checked_against_a_flags_choices(tmp_path, capsys):
    from policy_search.search.race import main

    config = tmp_path / "race.json"
    config.write_text(json.dumps({"pick": "best", "policies": ["none"]}))
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(config), "--out", str(tmp_path / "race")])
    assert exc.value.code == 2
    assert "'pick': \"best\" is not one of mean, lcb" in _one_error_line(capsys)


def test_generative_resume_without_a_checkpoint_is_an_error_not_a_fresh_training(tmp_path, capsys):
    from policy_search.generative.cli import main
    from policy_search.generative.train import GeneratorCheckpointError, train_generator

    out = tmp_path / "gen"
    with pytest.raises(SystemExit) as exc:
        main(["train", "--dataset", "mnist", "--model", "vae", "--resume", "--epochs", "1", "--out", str(out)])
    assert exc.value.code == 2
    err = _one_error_line(capsys)
    assert "--resume" in err and "checkpoint.pt" in err and "drop --resume" in err, err
    assert not (out / "checkpoint.pt").exists()
    with pytest.raises(GeneratorCheckpointError, match="no checkpoint"):
        train_generator("mnist", "vae", out, size="tiny", resume=True, progress=False)


# --- search ------------------------------------------------------------------------------------------------------


def test_search_refuses_a_sample_budget_below_one_trial(tmp_path, capsys, shared_data_dir):
    from policy_search.search.study import main

    for quiet in ([], ["--quiet"]):
        out = tmp_path / f"s{len(quiet)}"
        argv = ["--task", "mnist-small", "--epochs", "0.3", *quiet, "--trials", "3", "--budget-samples", "1"]
        assert main([*argv, "--data-dir", str(shared_data_dir), "--out", str(out)]) == 2
        err = _one_error_line(capsys)
        assert "--budget-samples 1 is less than one trial" in err and "give at least 128" in err, err
        assert not (out / "best_policy.json").exists() and not (out / "trials.csv").exists()


def test_search_refuses_a_negative_number_of_startup_trials(tmp_path, capsys):
    from policy_search.search.study import main

    assert main([*SEARCH, "--trials", "2", "--n-startup-trials", "-5", "--out", str(tmp_path / "s")]) == 2
    assert "--n-startup-trials must be >= 0" in _one_error_line(capsys)


def test_search_where_every_trial_diverged_exports_nothing_and_says_so(tmp_path, capsys, shared_data_dir):
    from policy_search.search.study import main

    out = tmp_path / "s"
    argv = [*SEARCH, "--trials", "2", "--set", "lr=1e30", "--data-dir", str(shared_data_dir), "--out", str(out)]
    assert main(argv) == 2
    err = _one_error_line(capsys)
    assert "no trial of the search completed without diverging" in err and "2 diverged" in err, err
    assert not (out / "best_policy.json").exists()
    assert len((out / "trials.csv").read_text().splitlines()) == 3  # the trials are kept
    import csv

    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert all(r["diverged"] for r in rows) and all(r["best_so_far"] == "" for r in rows), rows


def test_search_names_a_damaged_study_log(tmp_path, capsys):
    from policy_search.search.study import main

    out = tmp_path / "s"
    out.mkdir()
    for content in ("{not json\n[1,2]\n", "[1,2]\n"):
        (out / "study.log").write_text(content)
        assert main([*SEARCH, "--trials", "2", "--resume", "--out", str(out)]) == 2
        err = _one_error_line(capsys)
        assert str(out / "study.log") in err and "move it aside" in err, err
        assert (out / "study.log").read_text() == content  # the user's file is left alone


# --- search compare ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--methods", "random", "random", "--set", "epochs=0.3"], "lists random more than once"),
        (["--methods", "tpe", "--space", "bogus"], "unknown search space 'bogus'"),
        (["--methods", "tpe", "--n-startup-trials", "-1"], "--n-startup-trials must be >= 0"),
        (["--methods", "random", "--budget-runs", "-1"], "--budget-runs must be >= 0 (0: off), got -1"),
        (["--methods", "random", "--budget-runs", "8", "--rescore", "3"], "--rescore must be 0 or at least 6"),
        (["--methods", "random", "--budget-runs", "8", "--rescore", "6"], "give --budget-runs 10 or more"),
        (
            ["--methods", "random", "--first-test-seed", str(10**20)],
            f"--first-test-seed must be from 0 to 2**62 - 1, got {10**20}",
        ),
    ],
)
def test_compare_refuses_a_plan_that_cannot_run_before_any_run(tmp_path, capsys, extra, match):
    from policy_search.search.compare import main

    out = tmp_path / "c"
    assert main(["--task", "mnist-small", "--seeds", "1", "--test-seeds", "0", *extra, "--out", str(out)]) == 2
    assert match in _one_error_line(capsys)
    assert not out.exists()


def test_compare_where_every_method_was_skipped_is_an_error(tmp_path, capsys, monkeypatch, shared_data_dir):
    from policy_search.search import compare

    def fails(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(compare, "_run_rl", fails)
    argv = ["--task", "mnist-small", "--seeds", "1", "--test-seeds", "0", "--methods", "augnet"]
    argv += ["--budget-samples", "20000", "--data-dir", str(shared_data_dir), "--out", str(tmp_path / "c")]
    assert compare.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: every method was skipped") and "augnet: train_agent failed: RuntimeError: boom" in err
    assert not (tmp_path / "c" / "summary.json").exists()


# --- third sweep (issue 33: /tmp/hostile2/run_new.sh) ------------------------------------------------------------
def test_empty_images_and_token_lengths_out_of_range_are_one_line():
    import torch

    from policy_search.ops.text import TokenBatch
    from policy_search.policy import load_policy

    with pytest.raises(ValueError, match="height and width must be at least 1 pixel"):
        load_policy("randaugment")(torch.zeros(2, 3, 0, 0, dtype=torch.uint8))
    tokens = TokenBatch(torch.full((2, 5), 7), torch.tensor([9, -3]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 5\]"):
        load_policy("eda")(tokens)


@pytest.mark.parametrize(
    "flags, match",
    [
        (dict(online=True, batch_episodes=4), "ignores --batch-episodes"),
        (dict(online=True, agent="ppo", episodes=7), "ignores --agent ppo, --episodes 7"),
        (dict(agent="fixed", fixed_policy="flip-crop", episodes=10, rescore=6), "--agent fixed does not search"),
    ],
)
def test_train_agent_refuses_what_online_or_a_fixed_agent_would_ignore(flags, match):
    from policy_search.train_agent import TrainConfig

    with pytest.raises(ValueError, match=match):
        TrainConfig(task="mnist-small", **flags).validate()


def test_report_refuses_repeated_seeds_and_accuracies_that_are_not_fractions(tmp_path, capsys):
    from policy_search.benchmark.harness import _check_numbers
    from policy_search.benchmark.report import RunFileError, check_run, rebuild_report

    folder = _bench_folder(tmp_path)
    _edit_results(folder, lambda meta: meta.update(seeds=[0, 0]))
    with pytest.raises(ValueError, match="repeats a seed"):
        rebuild_report(folder)
    for bad in (1.7, float("nan")):
        record = _record(_protocol())
        record["test"]["accuracy"] = bad
        with pytest.raises(RunFileError, match="not a fraction in"):
            check_run(record, tmp_path / "none-seed0.json", 0)
    with pytest.raises(ValueError, match="robustness_samples must be a whole number from 0"):
        _check_numbers(1, 10**6, [])


def test_curve_and_race_refuse_repeats():
    from policy_search.benchmark.race import RaceConfig
    from policy_search.search.curve import CurveConfig

    with pytest.raises(ValueError, match="distinct search seeds"):
        CurveConfig(designs={"a": {}}, seeds=(0, 0)).validate()
    with pytest.raises(ValueError, match="must not repeat an entry"):
        RaceConfig(task="mnist-episode", policies=("flip-crop", "flip-crop")).validate()
    with pytest.raises(ValueError, match="--first-seed must be from 0"):
        RaceConfig(task="mnist-episode", policies=("flip-crop",), first_seed=-5).validate()


def test_lenet5_on_images_it_cannot_pool_is_one_line():
    from policy_search.child.models import build_model

    with pytest.raises(ValueError, match="lenet5 needs images of at least 16x16"):
        build_model("lenet5", 1, 10, 8)


@pytest.mark.parametrize("edit", ["drop_state", "bad_epoch"])
def test_an_edited_generator_checkpoint_is_one_line_on_resume(tmp_path, edit, shared_data_dir, monkeypatch):
    import torch

    from policy_search.generative.train import GeneratorCheckpointError, train_generator

    monkeypatch.setenv("POLICY_SEARCH_DATA_DIR", str(shared_data_dir))
    out = tmp_path / "gen"
    train_generator("mnist", "vae", out, size="tiny", progress=False)
    path = out / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=True)
    if edit == "drop_state":
        del ckpt["state"]
    else:
        ckpt.update(epoch="1", state={})
    torch.save(ckpt, path)
    with pytest.raises(GeneratorCheckpointError, match="is not a generator checkpoint this run can resume"):
        train_generator("mnist", "vae", out, size="tiny", resume=True, progress=False)


# --- fourth sweep (issue 33: both sweeps rerun; one-line errors that misled) ------------------------------------


def test_a_run_file_with_a_confusion_matrix_that_is_not_square_is_named(tmp_path, capsys):
    from policy_search.benchmark.report import main

    folder = _bench_folder(tmp_path)
    run = folder / "runs" / "none-seed0.json"
    for matrix in ([], [[1, 2]], [[1, 2], [3]], [[1, -2], [3, 4]]):
        record = json.loads(run.read_text())
        record["test"]["confusion_matrix"] = matrix
        run.write_text(json.dumps(record))
        with pytest.raises(SystemExit) as exc:
            main([str(folder)])
        assert exc.value.code == 2
        err = _one_error_line(capsys)
        assert str(run) in err and "confusion_matrix is not a square table of counts" in err, err


def test_a_results_json_that_is_not_text_is_named(tmp_path, capsys):
    from policy_search.benchmark.report import main

    folder = _bench_folder(tmp_path)
    (folder / "results.json").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(SystemExit) as exc:
        main([str(folder)])
    assert exc.value.code == 2
    err = _one_error_line(capsys)
    assert "results.json is not a benchmark's results (not UTF-8 text" in err and "rerun the benchmark" in err, err


def test_search_seeds_beyond_numpys_32_bits_run_and_small_seeds_draw_as_before():
    import optuna

    from policy_search.search.objective import make_sampler
    from policy_search.search.study import SearchConfig

    def draws(seed: int) -> list[float]:
        study = optuna.create_study(sampler=make_sampler("random", seed), direction="maximize")
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
        return [t.params["x"] for t in study.trials]

    expected = []
    for n in range(3):  # trial n draws first from a sampler seeded for (seed, n)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3 * 1_000_003 + n))
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
        expected.append(study.trials[0].params["x"])
    assert draws(3) == expected
    assert len(set(draws(2**40))) == 3  # once "Seed must be between 0 and 2**32 - 1" at the first trial
    with pytest.raises(ValueError, match="--seed must be from 0 to 2\\*\\*62 - 1, got -1"):
        SearchConfig(task="mnist-small", out="x", seed=-1).validate()


def test_an_empty_parquet_split_is_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from policy_search.child.data import DatasetError
    from policy_search.child.sources import load_hub_dataset

    data = tmp_path / "ds" / "data"
    data.mkdir(parents=True)
    pq.write_table(pa.table({"text": ["good", "bad"], "label": [1, 0]}), data / "train-00000-of-00001.parquet")
    pq.write_table(
        pa.table({"text": pa.array([], pa.string()), "label": pa.array([], pa.int64())}),
        data / "test-00000-of-00001.parquet",
    )
    with pytest.raises(DatasetError, match="test-00000-of-00001.parquet holds no rows"):
        load_hub_dataset("ds", tmp_path / "ds")


def test_generative_seed_and_sample_count_are_named_apart(tmp_path, capsys):
    from policy_search.generative.cli import main

    base = ["train", "--dataset", "mnist", "--model", "vae", "--out", str(tmp_path / "g")]
    for extra, message in (
        (["--seed", str(10**15)], f"--seed must be from 0 to 2**31 - 1, got {10**15}"),
        (["--samples-per-class", "0"], "--samples-per-class must be at least 1, got 0"),
    ):
        with pytest.raises(SystemExit) as exc:
            main([*base, *extra])
        assert exc.value.code == 2
        assert message in capsys.readouterr().err


def test_integer_bounds_of_preset_fields_are_written_as_integers():
    from policy_search.child.tasks import get_preset

    with pytest.raises(ValueError, match=f"data_seed must be finite and >= 0 and <= {2**62}, got"):
        get_preset("mnist-small", data_seed=2**63)


def test_benchmark_refuses_a_repeated_seed_as_the_report_does():
    from policy_search.benchmark.harness import resolve_seeds

    assert resolve_seeds([3, 1, 2]) == [3, 1, 2]
    with pytest.raises(ValueError, match=r"seeds list \[1\] more than once"):
        resolve_seeds([1, 2, 1])


def test_an_unreachable_storage_server_is_one_line():
    from policy_search.search.storage import StorageError, make_storage

    with pytest.raises(StorageError) as exc:
        make_storage("postgresql://nobody@127.0.0.1:1/x")
    message = str(exc.value)
    assert "\n" not in message and "sqlalche.me" not in message, message
    assert "Check the URL" in message or "database driver" in message, message  # driver missing: said too
