"""Benchmark harness end to end at a tiny budget: caching, resume after interruption, adding policies, CLI."""

import json
import math

import pytest

from policy_search.benchmark import harness as benchmark
from policy_search.benchmark.harness import main, resolve_policy, run_benchmark
from policy_search.benchmark.report import rebuild_report
from policy_search.policy import SubPolicies

# ~1-2 s per run on mnist-proxy: 10 batches of 64, small validation split, 50 robustness images.
TINY = dict(train_size=640, epochs=1, eval_samples=128, val_size=500)
KW = dict(device="cpu", overrides=TINY, robustness_samples=50, progress=False, adaptive_baseline=False)


def test_interrupt_resume_add_policy_and_cli(tmp_path, shared_data_dir, monkeypatch, capsys):
    out = tmp_path / "bench"
    kw = dict(KW, data_dir=str(shared_data_dir))
    real_run_one, calls = benchmark._run_one, []

    def interrupted(*args, **kwargs):
        if len(calls) == 1:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C during the second run
        calls.append(args)
        return real_run_one(*args, **kwargs)

    monkeypatch.setattr(benchmark, "_run_one", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark("mnist-proxy", ["none", "progress-heuristic"], 2, out, **kw)
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["none-seed0.json"]  # no partial files
    monkeypatch.setattr(benchmark, "_run_one", real_run_one)

    resumed = run_benchmark("mnist-proxy", ["none", "progress-heuristic"], 2, out, **kw)
    assert resumed["counts"] == {"computed": 3, "shared": 0, "cached": 1, "total": 4}
    again = run_benchmark("mnist-proxy", ["none", "progress-heuristic"], 2, out, **kw)
    assert again["counts"] == {"computed": 0, "shared": 0, "cached": 4, "total": 4}
    assert json.dumps(again["runs"]) == json.dumps(resumed["runs"])  # read back, not retrained

    # a learned policy arrives later as a file: only its pairs run, and its search cost is reported
    agent = tmp_path / "agent"
    SubPolicies([[("HorizontalFlip", 0.5, 0.0)]]).save(agent / "policy.json", provenance={"compute_spent": 123.0})
    added = run_benchmark("mnist-proxy", ["none", "progress-heuristic", str(agent)], 2, out, **kw)
    assert added["counts"] == {"computed": 2, "shared": 0, "cached": 4, "total": 6}
    assert added["summary"][str(agent)]["search_cost"]["mean"] == 123.0
    assert added["best_baseline"] in ("none", "progress-heuristic")
    assert set(added["comparisons"]) == {"none", "progress-heuristic", str(agent)} - {added["best_baseline"]}
    for name in (
        "results.json",
        "results.csv",
        "report.md",
        "learning_curves.png",
        "accuracy_vs_cost.png",
        "op_usage.png",
        "confusion_best.png",
    ):
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    assert "Significant at 0.05" in report and "torch" in report and "seeds" in report.lower()
    assert "after Holm" in report and "Robustness on 50 stratified test images" in report
    for table in added["comparisons"].values():
        if math.isfinite(table["test_accuracy"]["p_value"]):
            assert table["test_accuracy"]["p_holm"] >= table["test_accuracy"]["p_value"]
    record = json.loads(next((out / "runs").glob("progress-heuristic-seed0.json")).read_text())
    assert record["observes_training"] and record["op_usage"][0]["progress"] == 0.0
    assert 0.0 <= record["robustness"]["fgsm"]["8/255"] <= 1.0 and record["robustness"]["samples"] == 50

    # the report can be rebuilt from the cached runs alone, to the same statistics
    (out / "report.md").unlink()
    rebuild_report(out)
    rebuilt = json.loads((out / "results.json").read_text())
    assert json.dumps(rebuilt["comparisons"], sort_keys=True) == json.dumps(added["comparisons"], sort_keys=True)
    assert (out / "report.md").read_text() == report

    # the CLI reads the same settings from a config file and finds everything cached
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "task": "mnist-proxy",
                "policies": ["none", "progress-heuristic"],
                "seeds": 2,
                "out": str(out),
                "device": "cpu",
                "data_dir": str(shared_data_dir),
                "overrides": TINY,
                "robustness_samples": 50,
                "optional_policies": [str(tmp_path / "missing-augnet" / "policy.json")],
                "adaptive_baseline": False,
            }
        )
    )
    assert main(["--config", str(config), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "0 run(s) trained, 0 shared with a policy that does the same, 4 read from cache" in captured.out
    assert "skipping optional policy" in captured.err

    # the policy file moves (a renamed experiment folder): its cached runs are found by content and reported under
    # the new path, nothing retrained
    moved = tmp_path / "renamed" / "agent"
    moved.parent.mkdir()
    agent.rename(moved)
    after_move = run_benchmark("mnist-proxy", ["none", "progress-heuristic", str(moved)], 2, out, **kw)
    assert after_move["counts"] == {"computed": 0, "shared": 0, "cached": 6, "total": 6}
    assert str(moved) in after_move["summary"] and str(agent) not in after_move["summary"]
    rebuild_report(out)
    assert str(moved) in json.loads((out / "results.json").read_text())["summary"]


def test_one_run_at_a_time_shows_the_runs_own_progress(tmp_path, shared_data_dir, capsys):
    """A long child run (imdb-bilstm: 20 minutes) showed nothing between the benchmark's ticks; run one at a time,
    its own bar of batches shows under the benchmark's."""
    kw = dict(KW, data_dir=str(shared_data_dir), robustness_samples=0, progress=True)
    run_benchmark("mnist-proxy", ["none"], 1, tmp_path, **kw)
    err = capsys.readouterr().err
    assert "benchmark mnist-proxy" in err and "mnist-proxy:" in err and "batch/s" in err


def test_cached_run_from_another_protocol_is_refused(tmp_path, shared_data_dir):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "none-seed0.json").write_text(json.dumps({"protocol": {"task": "other"}}))
    with pytest.raises(ValueError, match="different task, budget"):
        run_benchmark("mnist-proxy", ["none"], 1, tmp_path, data_dir=str(shared_data_dir), **KW)


def test_a_cached_run_of_a_preset_whose_definition_changed_is_refused(tmp_path, shared_data_dir):
    """The cache file of a preset is named by the preset's name: a run recorded under another definition of it (an
    earlier library version's) is refused with one line, not reported as today's preset; runs written before
    definitions were recorded are read as before."""
    from policy_search.policy import load_policy

    kw = dict(KW, data_dir=str(shared_data_dir), robustness_samples=0)
    run_benchmark("mnist-proxy", ["flip-crop"], 1, tmp_path, **kw)
    path = tmp_path / "runs" / "flip-crop-seed0.json"
    record = json.loads(path.read_text())
    assert record["definition"] == benchmark.preset_definition(load_policy("flip-crop"))
    assert benchmark.preset_definition(load_policy("flip-crop")) != benchmark.preset_definition(load_policy("none"))
    path.write_text(json.dumps({**record, "definition": "0123456789ab"}))
    with pytest.raises(ValueError, match="another definition of the preset 'flip-crop'") as info:
        run_benchmark("mnist-proxy", ["flip-crop"], 1, tmp_path, **kw)
    assert "\n" not in str(info.value)
    path.write_text(json.dumps({k: v for k, v in record.items() if k != "definition"}))  # an older run file
    assert run_benchmark("mnist-proxy", ["flip-crop"], 1, tmp_path, **kw)["counts"]["cached"] == 1


def test_bad_arguments_fail_with_clear_messages(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown policy 'nope'.*flip-crop"):
        resolve_policy("nope")
    with pytest.raises(ValueError, match="unknown task preset 'mnist-tiny'"):
        run_benchmark("mnist-tiny", ["none"], 1, tmp_path, **KW)
    with pytest.raises(ValueError, match="seeds must be a count from 1 to"):
        run_benchmark("mnist-proxy", ["none"], 0, tmp_path, **KW)
    with pytest.raises(ValueError, match="listed twice"):
        run_benchmark("mnist-proxy", ["none", "none"], 1, tmp_path, **KW)
    assert main(["--task", "mnist-proxy", "--policies", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown policy 'nope'" in capsys.readouterr().err
    assert main(["--policies", "none", "--out", str(tmp_path)]) == 2
    assert "missing --task" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # nothing ran


def test_worker_processes_train_the_runs_one_process_would(tmp_path, shared_data_dir):
    kw = dict(KW, data_dir=str(shared_data_dir), robustness_samples=0)
    results = {}
    for workers in (2, 1):
        out = run_benchmark(
            "mnist-proxy", ["none", "progress-heuristic"], 1, tmp_path / f"w{workers}", workers=workers, **kw
        )
        assert out["counts"] == {"computed": 2, "shared": 0, "cached": 0, "total": 2}
        runs = sorted((tmp_path / f"w{workers}" / "runs").glob("*.json"))
        results[workers] = {p.name: {k: json.loads(p.read_text())[k] for k in ("test", "val", "history")} for p in runs}
    assert len(results[2]) == 2 and results[2] == results[1]
    with pytest.raises(ValueError, match="workers"):
        run_benchmark("mnist-proxy", ["none"], 1, tmp_path / "w0", workers=0, **kw)


def test_a_failing_job_cancels_the_queued_ones_instead_of_running_them():
    import time

    from policy_search.threads import pooled

    with pytest.raises(TypeError):
        with pooled(1) as pool:
            failing = pool.submit(pow, "a", "b")
            queued = [pool.submit(time.sleep, 0.2) for _ in range(20)]
            failing.result()
    deadline = time.monotonic() + 30  # the pool's manager thread cancels them shortly after the error
    while sum(f.cancelled() for f in queued) < 15 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(f.cancelled() for f in queued) >= 15  # at most a few had been handed to the worker already


def test_a_failing_job_stops_the_workers_still_running_a_job():
    import time

    from policy_search.threads import pooled

    with pytest.raises(TypeError):
        with pooled(2) as pool:
            pool.submit(time.sleep, 120)
            failing = pool.submit(pow, "a", "b")
            processes = list(pool._processes.values())
            failing.result()
    # The pool's manager thread reaps the stopped workers too; while it holds one's exit status but has not yet
    # recorded it, is_alive() reads True (waitpid answers ECHILD). Give it a moment rather than read that as alive.
    deadline = time.monotonic() + 60
    while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(p.is_alive() for p in processes)  # the 120 s job was stopped, not waited for


def test_entropy_adaptive_joins_the_free_recipes_unless_turned_off(tmp_path, monkeypatch):
    trained: list[str] = []

    def fake_run_one(spec, seed, preset, protocol, device, data_dir, progress_bar=False):
        trained.append(spec.name)
        return {
            "policy": spec.name,
            "key": spec.key,
            "seed": seed,
            "protocol": protocol,
            "test": {"accuracy": 0.5},
            "wall_time_s": 1.0,
        }

    monkeypatch.setattr(benchmark, "_run_one", fake_run_one)
    kw = dict(device="cpu", overrides=TINY, robustness_samples=0, progress=False, report=False)
    run_benchmark("mnist-proxy", ["none"], 1, tmp_path / "a", **kw)
    assert trained == ["none", "entropy-adaptive"]
    trained.clear()
    run_benchmark("mnist-proxy", ["none"], 1, tmp_path / "b", adaptive_baseline=False, **kw)
    assert trained == ["none"]
    trained.clear()
    run_benchmark("mnist-proxy", ["none", "online-augnet"], 1, tmp_path / "c", **kw)
    assert trained == ["none", "online-augnet", "entropy-adaptive"]


def test_methods_are_reported_as_the_mean_of_their_searches(tmp_path, shared_data_dir):
    """issue 31: policies grouped by search method ({method: its searches' files}) are benchmarked like any, then
    each method is reported as the mean of its searches against the best baseline and against the other method,
    in results.json and report.md, and again when the report is rebuilt."""
    from policy_search.benchmark.stats import replicated_difference, replicated_effect

    files = {}
    for method, ops in (("flips", "HorizontalFlip"), ("rotations", "Rotate")):
        for s in range(2):
            path = tmp_path / method / f"s{s}" / "policy.json"
            SubPolicies([[(ops, 0.3 + 0.2 * s, 0.5)]]).save(path)
            files.setdefault(method, []).append(str(path))
    out = tmp_path / "bench"
    policies = ["none", *files["flips"], *files["rotations"]]
    kw = dict(KW, data_dir=str(shared_data_dir))
    result = run_benchmark("mnist-proxy", policies, [3, 4, 5], out, methods=files, **kw)
    rep = result["replicated"]
    assert rep["unit"] == "search" and rep["reference"] == "none" == result["best_baseline"]
    assert rep["by_baseline"]["none"] == rep["effects"]  # against every free recipe; the best's is the primary
    acc = {p: {r["seed"]: r["test_accuracy"] for r in result["runs"] if r["policy"] == p} for p in policies}
    expected = replicated_effect([acc[p] for p in files["flips"]], acc["none"])
    got = rep["effects"]["flips"]
    assert got["effect"] == pytest.approx(expected["effect"]) and got["searches"] == 2 and got["seeds"] == 3
    assert got["p_holm"] >= got["p_value"] or math.isnan(got["p_value"])
    pair = rep["pairs"]["flips - rotations"]
    diff = replicated_difference([acc[p] for p in files["flips"]], [acc[p] for p in files["rotations"]])
    assert pair["difference"] == pytest.approx(diff["difference"])
    assert result["meta"]["methods"] == files
    report = (out / "report.md").read_text()
    assert "## Search methods, each the mean of its searches" in report and "| flips - rotations |" in report
    rebuild_report(out)
    rebuilt = json.loads((out / "results.json").read_text())
    assert json.dumps(rebuilt["replicated"], sort_keys=True) == json.dumps(rep, sort_keys=True)
    with pytest.raises(ValueError, match=r"methods\['flips'\] lists .* not among the policies"):
        run_benchmark("mnist-proxy", ["none", *files["rotations"]], [3], out, methods=files, **kw)
    with pytest.raises(ValueError, match="non-empty list of policy files"):
        run_benchmark("mnist-proxy", policies, [3], out, methods={"flips": []}, **kw)
    with pytest.raises(ValueError, match="more than once"):
        run_benchmark("mnist-proxy", policies, [3], out, methods={**files, "again": files["flips"][:1]}, **kw)
    with pytest.raises(ValueError, match="no policy file or preset"):
        run_benchmark("mnist-proxy", policies, [3], out, methods={"gone": [str(tmp_path / "gone.json")]}, **kw)


def test_a_renamed_preset_keeps_its_cached_runs():
    """issue 35: conll2003-bilstm became the converged recipe and the old one conll2003-bilstm-v1; a cached run is
    matched by the preset's fields (its recipe), not by its name or description, so the v1 baselines read back."""
    from policy_search.child.tasks import get_preset

    old = benchmark._protocol(get_preset("conll2003-bilstm-v1"), 0, (0.01,))
    renamed = json.loads(json.dumps(old))
    renamed["task"].update(name="conll2003-bilstm", description="an older wording")
    assert benchmark._comparable(renamed) == benchmark._comparable(old)
    converged = benchmark._protocol(get_preset("conll2003-bilstm"), 0, (0.01,))
    assert benchmark._comparable(converged) != benchmark._comparable(old)  # another recipe is another protocol


def test_imdb_bilstm_v1_is_the_seed_recipe_and_imdb_bilstm_differs_from_it_only_by_truncation():
    """issue 35: the seed-003 recipe's committed baselines read back under imdb-bilstm-v1; the converged imdb-bilstm
    keeps its model, optimiser and length and reads a long review's head and tail."""
    from dataclasses import asdict

    from policy_search.child.tasks import get_preset

    v1, converged = asdict(get_preset("imdb-bilstm-v1")), asdict(get_preset("imdb-bilstm"))
    assert v1["truncation"] == "head" and converged["truncation"] == "head+tail"
    differs = {k for k in v1 if v1[k] != converged[k]}
    assert differs == {"name", "description", "truncation"}


def test_baselines_given_as_files_are_ranked_with_the_presets(tmp_path, shared_data_dir, capsys):
    """A plan's hand-written baselines (files) are baselines when the config says so: the best baseline is the best
    of them all, the report names them, a rebuild keeps them; by default a file is a policy under test."""
    flip = tmp_path / "flip.json"
    SubPolicies([[("HorizontalFlip", 0.5, 0.0)]]).save(flip)
    out, kw = tmp_path / "bench", dict(KW, data_dir=str(shared_data_dir), robustness_samples=0)
    default = run_benchmark("mnist-proxy", ["none", str(flip)], 2, out, **kw)
    assert default["best_baseline"] == "none" and default["meta"]["baselines"] == ["none"]
    given = run_benchmark("mnist-proxy", ["none", str(flip)], 2, out, baselines=["none", str(flip)], **kw)
    assert given["counts"]["computed"] == 0 and given["meta"]["baselines"] == ["none", str(flip)]
    means = {n: given["summary"][n]["test_accuracy"]["mean"] for n in ("none", str(flip))}
    assert given["best_baseline"] == max(means, key=means.get) and given["head_to_head"] == []
    report = (out / "report.md").read_text()
    assert f"The best of the baselines `none`, `{flip}`" in report
    rebuild_report(out)
    assert json.loads((out / "results.json").read_text())["best_baseline"] == given["best_baseline"]
    with pytest.raises(ValueError, match="baselines lists 'eda', not among the policies"):
        run_benchmark("mnist-proxy", ["none", str(flip)], 2, out, baselines=["eda"], **kw)
    with pytest.raises(ValueError, match="searches of methods too"):
        run_benchmark(
            "mnist-proxy", ["none", str(flip)], 2, out, baselines=[str(flip)], methods={"m": [str(flip)]}, **kw
        )
    # matched by content (another spelling of the file); the list is all the baselines: the entropy-adaptive recipe
    # added beside the presets is compared with them, a baseline only if listed, and no policy under test
    spelled = f"{tmp_path}/./flip.json"  # not the string given in policies
    adaptive = run_benchmark(
        "mnist-proxy", ["none", str(flip)], 2, out, baselines=[str(spelled)], **dict(kw, adaptive_baseline=True)
    )
    assert adaptive["meta"]["baselines"] == [str(flip)] and adaptive["best_baseline"] == str(flip)
    assert "entropy-adaptive" in adaptive["comparisons"] and adaptive["head_to_head"] == []
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"task": "mnist-proxy", "policies": ["none", str(flip)], "seeds": 2, "out": str(out),
                                  "device": "cpu", "data_dir": str(shared_data_dir), "overrides": TINY,
                                  "robustness_samples": 0, "adaptive_baseline": False, "baselines": [str(flip)]}))  # fmt: skip
    assert main(["--config", str(config), "--no-progress"]) == 0
    assert json.loads((out / "results.json").read_text())["best_baseline"] == str(flip)
    assert main(["--config", str(config), "--baselines", "eda", "--no-progress"]) == 2
    assert "not among the policies" in capsys.readouterr().err


def test_policies_that_do_the_same_share_one_run_per_seed(tmp_path, shared_data_dir, monkeypatch):
    """Round 6: six searches' races kept the preset, and the harness trained each of the six identical exports on
    every seed. Files that differ only in provenance (the search that wrote them) are one policy: one run per seed,
    recorded under each name with that file's own provenance; another policy still trains."""
    kw = dict(KW, data_dir=str(shared_data_dir))
    flip = [[("HorizontalFlip", 0.5, 0.0)]]
    files = []
    for i, cost in enumerate((10.0, 20.0, 30.0)):
        files.append(tmp_path / f"search{i}" / "schedule.json")
        SubPolicies(flip).save(files[-1], provenance={"compute_spent": cost, "search_seed": i})
    other = tmp_path / "other" / "policy.json"
    SubPolicies([[("Rotate", 0.5, 0.3)]]).save(other)
    trained = []
    real_run_one = benchmark._run_one
    monkeypatch.setattr(
        benchmark, "_run_one", lambda spec, seed, *a: trained.append(spec.name) or real_run_one(spec, seed, *a)
    )
    out = tmp_path / "bench"
    first = run_benchmark("mnist-proxy", ["none", str(files[0])], 2, out, **kw)
    assert first["counts"] == {"computed": 4, "shared": 0, "cached": 0, "total": 4}
    trained.clear()
    later = run_benchmark("mnist-proxy", ["none", *map(str, files), str(other)], 2, out, **kw)
    assert sorted(trained) == [str(other)] * 2  # the twins of files[0] were read off its runs, not trained
    assert later["counts"] == {"computed": 2, "shared": 4, "cached": 4, "total": 10}
    for seed in (0, 1):
        runs = {r["policy"]: r for r in later["runs"] if r["seed"] == seed}
        accs = {runs[str(f)]["test_accuracy"] for f in files}
        assert len(accs) == 1
    twin = json.loads(next((out / "runs").glob("search2-schedule-*-seed1.json")).read_text())
    assert twin["provenance"]["search_seed"] == 2 and twin["search_cost"] == 30.0 and twin["source"] == str(files[2])
    assert twin["same_run_as"].startswith("search0-schedule-")
    assert later["summary"][str(files[1])]["search_cost"]["mean"] == 20.0
    again = run_benchmark("mnist-proxy", ["none", *map(str, files), str(other)], 2, out, **kw)
    assert again["counts"]["computed"] == 0
    # a file of a preset trains; the preset by name takes its runs, with the preset's definition (checked on reload)
    from policy_search.benchmark.harness import preset_definition
    from policy_search.policy import load_policy

    load_policy("flip-crop").save(tmp_path / "mine" / "policy.json", provenance={"search_seed": 9})
    trained.clear()
    mixed = run_benchmark("mnist-proxy", [str(tmp_path / "mine"), "flip-crop"], 1, out, **kw)
    assert trained == [str(tmp_path / "mine")] and mixed["counts"]["shared"] == 1
    preset_run = json.loads((out / "runs" / "flip-crop-seed0.json").read_text())
    assert preset_run["definition"] == preset_definition(load_policy("flip-crop")) and preset_run["source"] == "preset"
    assert run_benchmark("mnist-proxy", ["flip-crop"], 1, out, **kw)["counts"]["cached"] == 1
