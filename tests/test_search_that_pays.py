"""Issue 11: small tasks, the compact action space, end-of-run credit and the population of children."""

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from policy_search.child.tasks import get_preset
from policy_search.envs.augment_env import AugmentEnv
from policy_search.envs.population import Population
from policy_search.policy import RandAugment, Sequence, SubPolicies, load_policy
from policy_search.policy.action_space import ActionSpec

TINY = {"train_size": 256, "epochs": 1, "eval_samples": 128, "batch_size": 32}


def test_small_presets_are_data_limited_and_trained_to_convergence():
    for name, images in (("mnist-small", 500), ("cifar10-small", 1000)):
        p = get_preset(name)
        assert p.train_size == images and p.epochs == 30 and p.lr_schedule == "cosine"


def test_compact_spec_decodes_flip_crop_and_randaugment():
    spec = ActionSpec.compact()
    assert spec.nvec.tolist() == [2, 2, 4, 10] and spec.display_ops[:2] == ("HorizontalFlip", "PadCrop")
    none = spec.to_policy(np.array([0, 0, 0, 7]))
    assert isinstance(none, Sequence) and none.op_distribution() == {}
    full = spec.to_policy(np.array([1, 1, 2, 3]))
    kinds = [type(p) for p in full.policies]
    assert kinds == [SubPolicies, RandAugment]
    ra = full.policies[1]
    assert ra.num_ops == 2 and ra.magnitude == 3 and "HorizontalFlip" not in ra.ops
    dist = full.op_distribution()
    assert dist["HorizontalFlip"] == pytest.approx(0.5) and dist["PadCrop"] == pytest.approx(1.0)
    assert ActionSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert (
        ActionSpec.from_dict({k: v for k, v in ActionSpec().to_dict().items() if k not in ("kind", "max_ops")}).kind
        == "slots"
    )  # files from before issue 11
    with pytest.raises(ValueError, match="action kind"):
        ActionSpec(kind="huge")


def test_modal_action_takes_the_most_frequent_entry_per_head():
    spec = ActionSpec.compact()
    actions = [np.array([1, 0, 2, 5]), np.array([0, 0, 2, 5]), np.array([0, 1, 3, 5])]
    assert spec.modal_action(actions).tolist() == [0, 0, 2, 5]


def test_end_credit_pays_only_the_final_validation_accuracy_less_cost():
    env = AugmentEnv(
        "mnist-episode", steps_per_episode=3, task_overrides=TINY, credit="end", action_spec=ActionSpec.compact()
    )
    env.reset(seed=0)
    rewards, infos = [], []
    done = False
    while not done:
        _, reward, done, _, info = env.step(np.array([0, 1, 1, 4]))
        rewards.append(reward)
        infos.append(info)
    assert all(r == pytest.approx(-env.cost_weight * i["cost"]) for r, i in zip(rewards[:-1], infos[:-1]))
    full = env.run.evaluate("val", max_samples=len(env.run.split("val")))["accuracy"]
    assert rewards[-1] == pytest.approx(100 * full - env.cost_weight * infos[-1]["cost"], abs=1e-6)
    with pytest.raises(ValueError, match="credit"):
        AugmentEnv("mnist-episode", credit="later", task_overrides=TINY)


def test_population_rewards_are_relative_and_members_continue_from_the_best(tmp_path):
    preset = get_preset("mnist-episode", **TINY)
    pop = Population(preset, size=3, segments=2, action_spec=ActionSpec.compact(), base_seed=1)
    seen = []

    def act(obs):
        assert obs.shape == (3, 9) and np.allclose(obs, obs[0])  # one shared state after each exploit
        return [np.array([0, 0, 0, 0]), np.array([0, 1, 1, 3]), np.array([1, 1, 3, 9])]

    def learn(obs, actions, rewards):
        seen.append(np.asarray(rewards))

    episodes = pop.play(act, learn)
    assert len(episodes) == 3 and len(seen) == 2
    for s, rewards in enumerate(seen):  # centred on the population mean before the cost term
        costs = np.asarray([e["steps"][s]["cost"] for e in episodes])
        assert (rewards + pop.cost_weight * costs).sum() == pytest.approx(0.0, abs=1e-6)
        assert rewards.tolist() == [e["steps"][s]["reward"] for e in episodes]
    assert episodes[0]["cost"] == 0.0 and episodes[2]["cost"] > episodes[1]["cost"] > 0
    assert [e["episode"] for e in episodes] == [0, 1, 2] and pop.state()["population_index"] == 1
    # a second run starts from a fresh child (another seed) and continues the episode numbering
    assert [e["episode"] for e in pop.play(act)] == [3, 4, 5]


def test_population_in_worker_processes_matches_in_process():
    preset = get_preset("mnist-episode", **TINY)
    actions = [np.array([0, 1, 1, 3]), np.array([1, 1, 2, 6])]
    results = []
    for workers in (1, 2):
        pop = Population(preset, size=2, segments=2, action_spec=ActionSpec.compact(), workers=workers)
        try:
            results.append([e["final_val_acc"] for e in pop.play(lambda obs: actions)])
        finally:
            pop.close()
    assert results[0] == results[1]


def test_train_agent_population_exports_loadable_files(tmp_path):
    from policy_search.train_agent import TrainConfig, train

    out = tmp_path / "pop"
    summary = train(
        TrainConfig(
            task="mnist-episode",
            agent="augnet",
            population=2,
            episodes=4,
            steps_per_episode=2,
            epochs=0.5,
            out=str(out),
            progress_bar=False,
        )
    )
    assert summary["episodes"] == 4
    controller, schedule = load_policy(str(out / "policy.json")), load_policy(str(out / "schedule.json"))
    images = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8)
    controller.observe({n: 0.1 for n in controller.feature_names})
    for policy in (controller, schedule):
        assert policy(images, generator=torch.Generator().manual_seed(0), progress=0.6).shape == images.shape
    provenance = json.loads((out / "policy.json").read_text())["provenance"]
    assert provenance["agent"] == "augnet" and provenance["compute_spent"] > 0
    with pytest.raises(ValueError, match="population"):
        train(TrainConfig(agent="ppo", population=2, out=str(tmp_path / "x"), progress_bar=False))


def test_elite_distillation_keeps_the_highest_returns_in_run_order():
    from policy_search.policy.export import select_episodes

    episodes = [{"return": r, "diverged": d} for r, d in [(5, ""), (9, ""), (1, ""), (99, "nan loss"), (7, "")]]
    assert [e["return"] for e in select_episodes(episodes, 2, "last")] == [99, 7]
    assert [e["return"] for e in select_episodes(episodes, 2, "elite")] == [9, 7]
    assert [e["return"] for e in select_episodes(episodes, 3, "elite")] == [5, 9, 7]
    with pytest.raises(ValueError, match="elite"):
        select_episodes(episodes, 2, "best")


def test_train_agent_elite_schedule_and_sampling_controller(tmp_path):
    from policy_search.train_agent import TrainConfig, train

    out = tmp_path / "elite"
    train(
        TrainConfig(
            task="mnist-episode",
            agent="augnet",
            episodes=3,
            steps_per_episode=2,
            epochs=0.5,
            distill="elite",
            distill_fraction=0.34,
            controller_decision="sample",
            out=str(out),
            progress_bar=False,
        )
    )
    body = json.loads((out / "policy.json").read_text())
    assert body["body"]["decision"] == "sample"
    schedule = json.loads((out / "schedule.json").read_text())["provenance"]
    assert schedule["distill"] == "elite" and schedule["distilled_from_episodes"] == 1
    assert len(load_policy(str(out / "schedule.json")).policies) == 2
    with pytest.raises(ValueError, match="--distill"):
        TrainConfig(distill="best").validate()


def test_ordinal_heads_share_evidence_along_the_order_and_export_as_a_plain_mlp():
    from policy_search.agents.augnet import AugNetAgent, AugNetConfig
    from policy_search.agents.base import ExportSpec

    spec = ActionSpec.compact()
    assert spec.ordinal.tolist() == [False, False, True, True]
    assert ActionSpec(slots=2).ordinal.tolist() == [False, True, True] * 2
    obs = np.zeros(8, dtype=np.float32)
    bad = np.array([1, 0, 2, 7])

    def magnitude_probs(heads: str) -> tuple[np.ndarray, np.ndarray]:
        agent = AugNetAgent(8, spec.nvec, AugNetConfig(heads=heads, entropy_coef=0.0), seed=0, ordinal=spec.ordinal)
        before = agent._dists(torch.as_tensor(obs))[3].probs.detach().numpy()
        agent.learn([obs], [np.array([1, 0, 2, 2])], [10.0])  # sets the baseline
        for _ in range(5):
            agent.learn([obs], [bad], [0.0])  # bin 7 scores badly, five times
        return before, agent._dists(torch.as_tensor(obs))[3].probs.detach().numpy()

    before, after = magnitude_probs("ordinal")
    assert after[7] < before[7] and after[8] < before[8] and after[9] < before[9]  # its neighbours lose too
    assert after[0] > before[0]
    before, after = magnitude_probs("categorical")
    assert after[7] < before[7] and after[9] > before[9]  # a logit per bin: the others gain alike

    agent = AugNetAgent(8, spec.nvec, AugNetConfig(heads="ordinal"), seed=1, ordinal=spec.ordinal)
    for r in (3.0, 1.0, 2.0):
        agent.learn([obs], [agent.act(obs)], [r])
    exported = agent.controller(ExportSpec(spec, [f"f{i}" for i in range(8)], observe_every=1))
    x = torch.randn(5, 8)
    assert isinstance(exported.network[-1], torch.nn.Linear)
    assert exported.network[-1].out_features == int(spec.nvec.sum())
    expected = torch.cat([d.logits for d in agent._dists(x)], -1)
    got = torch.cat([torch.log_softmax(p, -1) for p in torch.split(exported.network(x), spec.nvec.tolist(), -1)], -1)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    state = agent.state_dict()
    with pytest.raises(ValueError, match="ordinal heads"):
        AugNetAgent(8, spec.nvec, AugNetConfig(heads="categorical"), ordinal=spec.ordinal).load_state_dict(state)
    from policy_search.train_agent import TrainConfig

    with pytest.raises(ValueError, match="offers --heads categorical"):
        TrainConfig(agent="ppo", heads="ordinal").validate()


def test_critic_distillation_finds_the_best_action_from_all_returns():
    from policy_search.policy.export import action_features, critic_action, critic_schedule

    spec = ActionSpec.compact()
    rng = np.random.default_rng(0)
    actions = [rng.integers(0, spec.nvec) for _ in range(60)]

    def value(a: np.ndarray) -> float:  # best at flip on, crop off, N = 3, M = 2
        n, m = a[2] / 3, a[3] / 9
        return 50 + 2 * a[0] - a[1] + 3 * n - 4 * (m - 2 / 9) ** 2 + 0.1 * n * m

    returns = [value(a) for a in actions]
    assert critic_action(actions, returns, spec, ridge=1e-6).tolist() == [1, 0, 3, 2]
    # the elite's mode would pick whatever the top draws share; the critic uses every return
    assert action_features(np.stack(actions), spec).shape == (60, 1 + 1 + 2 + 2 + 1 + 1)
    episodes = [{"return": r, "steps": [{"action": a.tolist()}]} for a, r in zip(actions, returns, strict=True)]
    episodes.append({"return": 1e9, "diverged": "nan loss", "steps": [{"action": [0, 1, 0, 9]}]})
    schedule = critic_schedule(episodes, spec)
    assert len(schedule.policies) == 1 and "num_ops=3" in repr(schedule.policies[0])

    slots = ActionSpec(slots=2)  # 720^2 actions: coordinate ascent instead of the grid
    acts = [rng.integers(0, slots.nvec) for _ in range(80)]
    rets = [float(a[1]) for a in acts]  # only the first slot's magnitude matters
    best = critic_action(acts, rets, slots)
    assert best.shape == (6,) and best[1] == slots.num_bins - 1


@pytest.fixture(scope="module")
def own_data(tmp_path_factory):
    """A user's dataset: an imagefolder of 3 classes x 40 RGB 28x28 images (the presets' data is 1x28x28 MNIST)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("own") / "shapes"
    rng = np.random.default_rng(0)
    for c, cls in enumerate(("a", "b", "c")):
        (root / cls).mkdir(parents=True)
        for i in range(40):
            pixels = rng.integers(0, 80, (28, 28, 3), dtype=np.uint8) + np.uint8(60 * c)
            Image.fromarray(pixels).save(root / cls / f"{i}.png")
    return root


def test_dataset_flag_runs_a_preset_recipe_on_the_users_data_in_all_four_clis(tmp_path, own_data, monkeypatch, capsys):
    from policy_search import train_agent
    from policy_search.benchmark import harness as benchmark
    from policy_search.child import cli as child_cli
    from policy_search.search import study as search

    monkeypatch.setenv("POLICY_SEARCH_CACHE", str(tmp_path / "cache"))
    common = ["--dataset", str(own_data), "--epochs", "1"]
    assert child_cli.main(["--preset", "mnist-small", *common, "--out", str(tmp_path / "child")]) == 0
    metrics = json.loads((tmp_path / "child" / "metrics.json").read_text())
    assert metrics["preset"]["dataset"] == str(own_data) and metrics["preset"]["val_size"] == 0.1
    assert metrics["val"]["samples"] == 11 and metrics["test"]["samples"] == 12  # 10% of 108; 10% of 120
    out = tmp_path / "agent"
    assert (
        train_agent.main(
            [
                "--task",
                "mnist-small",
                *common,
                "--episodes",
                "1",
                "--steps-per-episode",
                "1",
                "--out",
                str(out),
                "--no-progress-bar",
            ]
        )
        == 0
    )
    assert (out / "policy.json").exists() and (out / "schedule.json").exists()
    assert (
        benchmark.main(
            [
                "--task",
                "mnist-small",
                *common,
                "--policies",
                "none",
                "--seeds",
                "1",
                "--robustness-samples",
                "0",
                "--out",
                str(tmp_path / "bench"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert (
        search.main(
            [
                "--task",
                "mnist-small",
                *common,
                "--trials",
                "1",
                "--space",
                "compact",
                "--quiet",
                "--out",
                str(tmp_path / "search"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    for cli, argv in (
        (child_cli.main, ["--preset", "mnist-small", "--out", str(tmp_path / "x")]),
        (train_agent.main, ["--task", "mnist-small", "--out", str(tmp_path / "y"), "--no-progress-bar"]),
        (
            benchmark.main,
            ["--task", "mnist-small", "--policies", "none", "--out", str(tmp_path / "z"), "--no-progress"],
        ),
        (search.main, ["--task", "mnist-small", "--out", str(tmp_path / "w")]),
    ):
        assert cli([*argv, "--dataset", str(tmp_path / "missing")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "missing" in err and len(err.splitlines()) == 1, err


def test_search_curve_scores_exports_on_validation_only_and_caches(tmp_path, monkeypatch):
    from policy_search.search.curve import CurveConfig, run_curve

    cfg = CurveConfig(
        task="mnist-episode",
        epochs=0.25,
        checkpoints=(2, 4),
        seeds=(0,),
        eval_seeds=(1000,),
        designs={
            "end": {"agent": "augnet", "credit": "end", "steps_per_episode": 2},
            "pop": {"agent": "augnet", "population": 2, "steps_per_episode": 2},
        },
        out=str(tmp_path / "ab"),
    )

    def no_test(self, split):  # the curve must never read the test split
        assert split != "test", "search_curve touched the test split"
        return original(self, split)

    from policy_search.child.run import ChildRun

    original = ChildRun._split
    monkeypatch.setattr(ChildRun, "_split", no_test)
    summary = run_curve(cfg)
    assert len(summary["points"]) == 2 * 2 * 2
    assert all(p["searches"] == 1 and math.isfinite(p["gain_mean"]) for p in summary["points"])
    assert (tmp_path / "ab" / "curve.png").exists() and (tmp_path / "ab" / "exports").is_dir()
    evals = sorted((tmp_path / "ab" / "evals").iterdir())
    stamps = [p.stat().st_mtime_ns for p in evals]
    run_curve(cfg)  # everything cached: nothing retrained or re-evaluated
    assert [p.stat().st_mtime_ns for p in sorted((tmp_path / "ab" / "evals").iterdir())] == stamps


def test_a_sampling_controller_draws_afresh_per_run_and_replays_a_run():
    from policy_search.policy.controller import Controller, build_mlp

    spec = ActionSpec.compact()
    net = build_mlp([3, int(spec.nvec.sum())])
    torch.nn.init.zeros_(net[0].weight)
    torch.nn.init.zeros_(net[0].bias)  # uniform over every head
    controller = Controller(spec, net, ["a", "b", "c"], decision="sample")

    def first_draws(seed: int) -> list[list[int]]:
        controller.reset(seed)
        return [controller.act(np.zeros(3)).tolist() for _ in range(3)]

    draws = {seed: first_draws(seed) for seed in range(100, 110)}
    assert draws[100] == first_draws(100)  # a run replays
    assert len({str(d) for d in draws.values()}) > 1  # but each run draws its own (it drew one stream for all)


def _fake_accuracy(quality: dict[str, float]):
    """A stand-in for training: validation accuracy = 0.6 + the candidate's quality + a per-seed shift shared by
    every policy on that seed (the common random numbers the race pairs on)."""
    calls = []

    def val_accuracy(
        task, policy, seed, cache, *, data_dir=None, epochs=None, overrides=None, device="auto", progress_bar=False
    ):
        calls.append((policy, seed))
        name = "none" if policy is None else policy.rsplit("/", 1)[-1].removesuffix(".json")
        return 0.6 + quality.get(name, 0.0) + 0.01 * (seed % 7)

    return val_accuracy, calls


def test_race_halves_the_field_on_shared_seeds_and_exports_the_paired_winner(tmp_path, monkeypatch):
    from policy_search.benchmark import race

    files = {}
    for name, n in (("a", 1), ("b", 2), ("c", 3), ("d", 1)):
        files[name] = str(tmp_path / f"{name}.json")
        RandAugment(num_ops=n, magnitude=5).save(files[name])
    fake, calls = _fake_accuracy({"a": 0.004, "b": 0.012, "c": -0.02, "d": 0.008})
    monkeypatch.setattr(race, "val_accuracy", fake)
    cfg = race.RaceConfig(
        task="mnist-episode", policies=tuple(files.values()), rounds=(1, 2, 2), out=str(tmp_path / "r")
    )
    summary = race.run_race(cfg)
    by_name = {c["name"]: c for c in summary["candidates"]}
    assert summary["rounds"] == [[3000], [3001, 3002], [3003, 3004]]
    assert {n: by_name[n]["seeds"] for n in "abcd"} == {"a": 1, "b": 5, "c": 1, "d": 3}  # 4 -> 2 -> 1 alive
    assert summary["winner"] == "b" and by_name["b"]["gain_mean"] == pytest.approx(1.2)  # per-seed shift cancels
    assert {s for p, s in calls if p is None} == set(range(3000, 3005))  # the reference runs on every seed
    assert summary["race_runs"] == 5 + 4 + 2 * 2 + 1 * 2
    exported = load_policy(str(tmp_path / "r" / "schedule.json"))
    assert repr(exported.policies[0]) == repr(load_policy(files["b"]))
    assert (tmp_path / "r" / "race.png").stat().st_size > 0

    worse, _ = _fake_accuracy({"a": -0.01, "b": -0.002})  # nothing beats no augmentation: export none
    monkeypatch.setattr(race, "val_accuracy", worse)
    cfg = race.RaceConfig(task="mnist-episode", policies=(files["a"], files["b"]), rounds=(2,), out=str(tmp_path / "n"))
    summary = race.run_race(cfg)
    assert summary["winner"] == "b" and summary["exported"].startswith("no augmentation")
    assert repr(load_policy(str(tmp_path / "n" / "schedule.json")).policies[0]) == repr(Sequence([]))

    # a rerun with more rounds reuses the folder; other candidates in it are refused before anything is written
    race.run_race(dataclasses.replace(cfg, rounds=(2, 1)))
    before = (tmp_path / "n" / "config.json").read_text()
    with pytest.raises(ValueError, match="policies = .* give a fresh --out"):
        race.run_race(dataclasses.replace(cfg, policies=(files["c"], files["b"])))
    assert (tmp_path / "n" / "config.json").read_text() == before


def test_race_picks_the_steady_winner_by_its_lower_confidence_bound(tmp_path, monkeypatch):
    from policy_search.benchmark import race

    files = {}
    for name, n in (("steady", 1), ("risky", 2)):
        files[name] = str(tmp_path / f"{name}.json")
        RandAugment(num_ops=n, magnitude=5).save(files[name])
    swing = {"steady": [0.010, 0.012, 0.010, 0.012], "risky": [0.05, -0.02, 0.05, -0.02]}  # means 1.1 vs 1.5 points

    def val_accuracy(
        task, policy, seed, cache, *, data_dir=None, epochs=None, overrides=None, device="auto", progress_bar=False
    ):
        name = "none" if policy is None else policy.rsplit("/", 1)[-1].removesuffix(".json")
        return 0.6 + (0.0 if policy is None else swing[name][seed - 3000])

    monkeypatch.setattr(race, "val_accuracy", val_accuracy)
    cfg = race.RaceConfig(task="mnist-episode", policies=tuple(files.values()), rounds=(4,), out=str(tmp_path / "r"))
    assert race.run_race(cfg)["winner"] == "risky"  # the higher mean
    summary = race.run_race(dataclasses.replace(cfg, pick="lcb"))  # same folder: the runs do not depend on it
    assert summary["winner"] == "steady" and summary["pick"] == "lcb"
    assert repr(load_policy(str(tmp_path / "r" / "schedule.json")).policies[0]) == repr(load_policy(files["steady"]))
    with pytest.raises(ValueError, match="--pick lcb needs a last round of at least 2 seeds"):
        dataclasses.replace(cfg, pick="lcb", rounds=(2, 1)).validate()


def test_race_passes_preset_overrides_to_every_run_and_keys_its_cache_on_them(tmp_path, monkeypatch, capsys):
    from policy_search.benchmark import race

    policy = str(tmp_path / "ra.json")
    RandAugment(num_ops=1, magnitude=5).save(policy)
    seen = []

    def val_accuracy(
        task, policy, seed, cache, *, data_dir=None, epochs=None, overrides=None, device="auto", progress_bar=False
    ):
        seen.append(overrides)
        return 0.6 + 0.01 * (policy is not None)

    monkeypatch.setattr(race, "val_accuracy", val_accuracy)
    out = str(tmp_path / "r")
    args = ["--task", "mnist-episode", "--policies", policy, "--rounds", "2", "--out", out, "--no-progress-bar"]
    assert race.main([*args, "--set", "lr_schedule=constant", "--set", "train_size=512"]) == 0
    assert seen == [{"lr_schedule": "constant", "train_size": 512}] * 4  # none and the candidate, on 2 seeds
    assert json.loads((tmp_path / "r" / "config.json").read_text())["overrides"]["train_size"] == 512
    capsys.readouterr()
    assert race.main([*args, "--set", "lr_schedule=cosine"]) == 2  # its cached runs are of the other variant
    fresh = [*args[:-3], "--out", str(tmp_path / "x"), "--no-progress-bar"]
    assert race.main([*fresh, "--set", "lr_shedule=cosine"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "overrides" in err[0] and "give a fresh --out" in err[0] and "lr_shedule" in err[1]


def test_race_in_worker_processes_matches_the_race_in_process(tmp_path):
    from policy_search.benchmark import race

    files = []
    for n in (1, 2):
        files.append(str(tmp_path / f"ra{n}.json"))
        RandAugment(num_ops=n, magnitude=5).save(files[-1])
    runs = {}
    for workers in (2, 1):
        cfg = race.RaceConfig(
            task="mnist-episode", policies=tuple(files), rounds=(1, 1), epochs=0.02, workers=workers,
            out=str(tmp_path / f"w{workers}"), progress_bar=False,
        )  # fmt: skip
        summary = race.run_race(cfg)
        runs[workers] = {
            p.name: json.loads(p.read_text())["val_accuracy"] for p in (tmp_path / f"w{workers}" / "evals").iterdir()
        }
        assert summary["race_runs"] == 3 + 2
    assert len(runs[2]) == 5 and runs[2] == runs[1]  # same cached runs, same accuracies, whichever process ran them
    with pytest.raises(ValueError, match="--workers"):
        race.RaceConfig(task="mnist-episode", policies=tuple(files), workers=0).validate()


def test_race_shortlists_a_search_by_shrunken_means_without_no_augmentation(tmp_path, capsys):
    from policy_search.search.race import RaceConfig, pool_episodes, run_race, shortlist
    from policy_search.train_agent import TrainConfig, train

    groups = [
        {"policy": Sequence([]), "accuracies": [70.0, 70.0, 70.0, 70.0]},
        {"policy": RandAugment(num_ops=1), "accuracies": [74.0]},
        {"policy": RandAugment(num_ops=2), "accuracies": [73.0, 73.0, 73.0]},
    ]
    grand = (280 + 74 + 219) / 8  # every pooled run, no augmentation included
    picked = shortlist(groups, 3, prior_runs=1.0)
    assert [g["policy"].num_ops for g in picked] == [1, 2]  # no augmentation is the reference, never a candidate
    assert [g["shrunk_mean"] for g in picked] == pytest.approx([(74 + grand) / 2, (219 + grand) / 4])
    assert shortlist(groups, 1, prior_runs=9.0)[0]["policy"].num_ops == 2  # more shrinkage favours more runs
    from policy_search.policy.text import TextRandAugment

    inert = {"policy": Sequence([TextRandAugment(num_ops=2, magnitude=0)]), "accuracies": [80.0, 80.0]}
    texts = [inert, {"policy": TextRandAugment(num_ops=1, magnitude=3), "accuracies": [75.0]}]
    assert [g["policy"] for g in shortlist(texts, 2)] == [texts[1]["policy"]]  # applies nothing: not a candidate
    assert len(shortlist(texts, 2, skip_inert=False)) == 2  # as races before the option shortlisted

    out = tmp_path / "search"
    train(TrainConfig(task="mnist-episode", episodes=3, epochs=0.5, out=str(out), progress_bar=False))
    pooled = pool_episodes("mnist-episode", [str(out)])  # from episodes.csv, whose actions column says what ran
    log = (out / "episodes.csv").read_text().splitlines()
    assert log[0].endswith(",actions") and all(len(json.loads(row.split(",", 9)[9].strip('"'))) == 1 for row in log[1:])
    assert sum(len(g["accuracies"]) for g in pooled) == 3
    assert all(0 <= a <= 100 for g in pooled for a in g["accuracies"])
    with pytest.raises(ValueError, match="searched task 'mnist-episode'"):
        pool_episodes("cifar10-episode", [str(out)])
    with pytest.raises(FileNotFoundError, match="not a train_agent output folder"):
        pool_episodes("mnist-episode", [str(tmp_path)])
    capsys.readouterr()
    again = pool_episodes("mnist-episode", [str(out)], child={"epochs": 0.5})  # as the search ran: no note
    assert [(g["key"], g["accuracies"]) for g in again] == [(g["key"], g["accuracies"]) for g in pooled]
    assert capsys.readouterr().err == ""
    pool_episodes("mnist-episode", [str(out)], child={"epochs": 0.5, "lr_schedule": "constant"})
    note = capsys.readouterr().err.strip().splitlines()  # another child: said, not silent (and not refused)
    assert len(note) == 1 and "{'epochs': 0.5}" in note[0] and "lr_schedule" in note[0]
    race_out = tmp_path / "race"
    cfg = RaceConfig(
        task="mnist-episode", searches=(str(out),), candidates=2, rounds=(1,), epochs=0.25, out=str(race_out)
    )
    summary = run_race(cfg)
    assert summary["search_runs"] == 3 and load_policy(str(race_out / "schedule.json")).image_spec is not None
    cached = sorted(p.name for p in (race_out / "evals").iterdir())
    assert "none-seed3000.json" in cached and len(cached) == 1 + len(summary["candidates"])
    assert run_race(cfg)["candidates"] == summary["candidates"]  # rerun: read from the cache, nothing retrained
    saved = json.loads((race_out / "config.json").read_text())
    del saved["skip_inert"]  # a race from before the option: it shortlisted inert policies
    (race_out / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="skip_inert = False, not True"):
        run_race(cfg)
    assert run_race(dataclasses.replace(cfg, skip_inert=False))["candidates"] == summary["candidates"]


def test_dataset_flag_in_compare_curve_and_race(tmp_path, own_data, monkeypatch, capsys):
    """search compare / curve / race take --dataset like the other commands: every child run trains on the user's
    data (its 3 classes, 10% of its training split as validation), and a missing folder is one line."""
    from policy_search.search import compare, curve, race

    monkeypatch.setenv("POLICY_SEARCH_CACHE", str(tmp_path / "cache"))
    seen: list[tuple[str | None, int]] = []
    from policy_search.child import run as child_run

    original = child_run.ChildRun.__init__

    def spy(self, task, *args, **kwargs):
        original(self, task, *args, **kwargs)
        seen.append((self.preset.dataset, self.num_classes))

    monkeypatch.setattr(child_run.ChildRun, "__init__", spy)
    common = ["--task", "mnist-small", "--dataset", str(own_data), "--epochs", "1", "--device", "cpu"]
    assert race.main([*common, "--policies", "randaugment", "--rounds", "1", "--out", str(tmp_path / "race")]) == 0
    assert json.loads((tmp_path / "race" / "config.json").read_text())["dataset"] == str(own_data)
    designs = tmp_path / "designs.json"
    designs.write_text(json.dumps({"designs": {"a": {"agent": "augnet", "steps_per_episode": 1}}}))
    argv = [*common, "--config", str(designs), "--checkpoints", "1", "--seeds", "0", "--eval-seeds", "1000"]
    assert curve.main([*argv, "--out", str(tmp_path / "curve")]) == 0
    argv = ["--task", "mnist-small", "--dataset", str(own_data), "--device", "cpu", "--set", "epochs=1"]
    argv += ["--methods", "random", "--seeds", "1", "--test-seeds", "0", "--baselines", "none"]
    assert compare.main([*argv, "--budget-samples", "200", "--out", str(tmp_path / "compare")]) == 0
    assert seen and all(d == str(own_data) and c == 3 for d, c in seen), seen  # never the preset's MNIST
    capsys.readouterr()
    for main, extra in (
        (race.main, ["--policies", "randaugment"]),
        (curve.main, ["--config", str(designs)]),
        (compare.main, ["--methods", "random"]),
    ):
        code = main(
            ["--task", "mnist-small", "--dataset", str(tmp_path / "missing"), *extra, "--out", str(tmp_path / "m")]
        )
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith("error:") and "missing" in err and len(err.splitlines()) == 1, err


def test_train_agent_families_action_exports_a_controller_that_replays_it(tmp_path):
    """--action-kind families: the agent learns on/off heads per op family; the exported controller and schedule
    carry the families and restrict RandAugment to the families on."""
    from policy_search.policy.action_space import ActionSpec
    from policy_search.train_agent import TrainConfig, train

    out = tmp_path / "families"
    summary = train(
        TrainConfig(
            task="mnist-episode", action_kind="families", episodes=2, epochs=0.25, out=str(out), progress_bar=False
        )
    )
    body = json.loads((out / "policy.json").read_text())["body"]
    spec = ActionSpec.from_dict(body["action_spec"])
    assert spec == ActionSpec.families_spec() and len(spec.nvec) == 7
    assert any("family affine" in head for head in summary["actions_legend"])
    assert load_policy(str(out / "policy.json")) is not None and load_policy(str(out / "schedule.json")) is not None


def test_rescore_races_the_shortlist_within_the_budget(tmp_path):
    """--rescore: the search runs --episodes minus the race's runs, then races its shortlist on shared validation
    seeds against no augmentation; the winner is schedule.json, the distilled schedule distilled.json, and every
    run is counted."""
    from policy_search.search.race import race_plan
    from policy_search.train_agent import TrainConfig, train

    assert race_plan(12) == (2, (2, 3)) and race_plan(16) == (3, (2, 2)) and race_plan(6) == (2, (2,))
    for runs in range(6, 40):
        c, rounds = race_plan(runs)
        spent = (c + 1) * rounds[0] + sum(((c + 1) // 2 + 1) * s for s in rounds[1:])
        assert spent <= runs, (runs, c, rounds)
    out = tmp_path / "rescored"
    summary = train(
        TrainConfig(
            task="mnist-episode",
            episodes=10,
            rescore=6,
            race_reference=None,  # no augmentation's race (the default's incumbent: tests/test_race_reference.py)
            epochs=0.25,
            out=str(out),
            progress_bar=False,
        )
    )
    assert summary["episodes"] == 4 and summary["rescore"]["runs"] <= 6
    race = json.loads((out / "race" / "race.json").read_text())
    assert race["search_runs"] == 4 and (out / "distilled.json").is_file() and (out / "schedule.png").is_file()
    schedule = json.loads((out / "schedule.json").read_text())
    assert schedule["provenance"]["selection"] == "race"
    table = (out / "schedule.md").read_text()  # the winner's op use per phase (or the words for none), as unraced
    assert ("No augmentation in any phase" in table) == summary["no_augmentation"] != ("| phase end |" in table)
    assert schedule["provenance"]["child_run_equivalents"] == 4 + race["race_runs"] <= 10
    load_policy(str(out / "schedule.json"))
    with pytest.raises(ValueError, match="--rescore"):
        TrainConfig(episodes=8, rescore=6).validate()
    with pytest.raises(ValueError, match="--steps-per-episode 1"):
        TrainConfig(episodes=20, rescore=6, steps_per_episode=2).validate()


def test_every_search_races_its_shortlist_by_default():
    """issue 31: train_agent, search and search compare keep a third of a budget of 12 runs or more for the race
    by default; 0 where a race would not fit, where a run makes several decisions or searches nothing, and where
    Optuna's race could not see the searched synthetic ratio or sample cap. The random agent races too."""
    from policy_search.benchmark.race import default_rescore
    from policy_search.search.compare import CompareConfig
    from policy_search.search.study import SearchConfig
    from policy_search.train_agent import TrainConfig

    assert [default_rescore(n) for n in (4, 11, 12, 16, 24, 48)] == [0, 0, 6, 6, 8, 16]

    def rescore(**fields) -> int:
        cfg = TrainConfig(**fields)
        cfg.validate()
        return cfg.rescore

    assert rescore(episodes=16, race_reference=None) == 6 and rescore(episodes=48, race_reference=None) == 16
    assert rescore() == 9 and rescore(episodes=48) == 9 and rescore(episodes=8) == 0  # with the default's incumbent
    assert rescore(episodes=16, agent="random") == 9 and rescore(episodes=16, agent="ppo") == 9
    assert rescore(episodes=16, steps_per_episode=2) == rescore(episodes=16, population=2) == 0
    assert rescore(episodes=16, budget_seconds=60.0) == 0  # a race after the time cap would overrun it
    assert rescore(episodes=16, agent="fixed", fixed_policy="flip-crop") == 0 and rescore(episodes=16, rescore=0) == 0
    with pytest.raises(ValueError, match="does not search"):
        TrainConfig(episodes=16, agent="fixed", fixed_policy="flip-crop", rescore=6).validate()

    def study(**fields) -> int:
        cfg = SearchConfig(task="mnist-small", out="x", **fields)
        cfg.validate()
        return cfg.rescore

    assert study(trials=48) == 16 and study(trials=8) == 0 and study(trials=48, rescore=0) == 0
    assert study(trials=48, synthetic="vae") == 0 and study(trials=48, budget_samples=10**6) == 0
    assert CompareConfig().rescore is None  # resolved from the budget's runs by run_compare (default_rescore)


def test_a_resume_keeps_the_race_its_run_recorded(tmp_path):
    """A resumed train_agent run, Optuna study or compare folder keeps the --rescore its config.json recorded
    (0 for one recorded before the race became the default), whatever --episodes it resumes with."""
    from policy_search.benchmark.race import recorded_rescore

    assert recorded_rescore(tmp_path, True, None) is None  # no config: the default applies
    (tmp_path / "config.json").write_text(json.dumps({"episodes": 48}))
    assert recorded_rescore(tmp_path, True, None) == 0  # recorded before the default race
    assert recorded_rescore(tmp_path, False, None) is None and recorded_rescore(tmp_path, True, 8) == 8
    (tmp_path / "config.json").write_text(json.dumps({"episodes": 48, "rescore": 16}))
    assert recorded_rescore(tmp_path, True, None) == 16
    (tmp_path / "config.json").write_text("not json")
    assert recorded_rescore(tmp_path, True, None) is None  # the resume check says what is wrong with it


# --- issue 31: an action an expert would write (only these ops, at most N, magnitudes in a range) ----------------
AFFINE = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")


def test_a_narrowed_action_draws_only_its_ops_bins_and_counts():
    spec = ActionSpec.for_search("families", "image", ops=AFFINE, max_ops=2, magnitude_range=(0.2, 0.5))
    assert spec.ops == AFFINE and spec.max_ops == 2 and spec.magnitude_bins == (2, 4)  # 1.8 -> 2, 4.5 -> 4: inside
    assert spec.families == (("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"),)  # colour and tone: gone
    assert spec.nvec.tolist() == [2, 2, 2, 3, 3]  # flip, crop, the one family, N in 0..2, M in bins 2..4
    low, high = spec.to_policy(np.array([0, 0, 1, 2, 0])), spec.to_policy(np.array([0, 0, 1, 2, 2]))
    assert (low.policies[0].magnitude, high.policies[0].magnitude) == (2, 4)
    assert set(high.policies[0].ops) == set(AFFINE)
    assert ActionSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert "magnitude_bins" not in ActionSpec.compact().to_dict()  # files without a range read as before
    slots = ActionSpec.for_search("slots", "image", magnitude_range=(0.5, 1.0))
    assert slots.slots_of(np.array([5, 0, 0, 5, 4, 0]))[0][2] == pytest.approx(5 / 9)  # choice 0 is bin 5
    for kwargs, message in (
        ({"ops": ("Rotate", "Blur")}, "unknown image op"),
        ({"ops": ("Identity",)}, "at least one op besides Identity"),
        ({"magnitude_range": (0.6, 0.2)}, "0 <= LOW <= HIGH <= 1"),
        ({"magnitude_range": (0.5,)}, "LOW HIGH"),
        ({"max_ops": 0}, "from 1 to 8"),
        ({"magnitude_range": (0.12, 0.2)}, "holds no magnitude of the 10-bin grid"),
    ):
        with pytest.raises(ValueError, match=message):
            ActionSpec.for_search("compact", "image", **kwargs)
    with pytest.raises(ValueError, match="compact action's ops per sample"):
        ActionSpec.for_search("slots", "image", max_ops=2)


def test_train_agent_and_search_narrow_the_same_action(tmp_path, shared_data_dir):
    """--ops / --max-ops / --magnitude-range: the agent's exports and Optuna's best policy both stay inside them;
    a typo is one line before any run."""
    from policy_search.search.study import SearchConfig, run_search
    from policy_search.train_agent import TrainConfig, train

    narrowing = {"ops": AFFINE, "max_ops": 1, "magnitude_range": (0.0, 0.3)}
    out = tmp_path / "agent"
    train(TrainConfig(task="mnist-episode", episodes=3, epochs=0.25, out=str(out), progress_bar=False, **narrowing))
    for name in ("policy.json", "schedule.json"):
        policy = load_policy(str(out / name))
        if name == "policy.json":
            spec = policy.spec
            assert spec.ops == AFFINE and spec.max_ops == 1 and spec.magnitude_bins == (0, 2)  # 0.3 * 9 = 2.7
        assert set(policy.op_distribution()) <= {"HorizontalFlip", "PadCrop", *AFFINE}
    config = SearchConfig(
        task="mnist-episode", space="compact", sampler="random", trials=3, epochs=0.25, quiet=True,
        out=str(tmp_path / "search"), **narrowing,
    )  # fmt: skip
    run_search(config)
    best = load_policy(str(tmp_path / "search" / "best_policy.json"))
    randaugment = [p for p in best.policies if isinstance(p, RandAugment)]
    assert all(set(p.ops) == set(AFFINE) and p.magnitude <= 2 and p.num_ops <= 1 for p in randaugment)
    command = (tmp_path / "search" / "command.txt").read_text()
    # from Python the command is rebuilt from the config, narrowing included
    assert "--ops Identity ShearX ShearY TranslateX TranslateY Rotate --max-ops 1 --magnitude-range 0.0 0.3" in command
    with pytest.raises(ValueError, match="narrow the action spaces"):
        SearchConfig(task="mnist-episode", space="randaugment", out=str(tmp_path / "x"), ops=AFFINE).validate()
    with pytest.raises(ValueError, match="unknown image op"):
        TrainConfig(task="mnist-episode", ops=("Rotat",)).validate()


def test_a_race_reads_a_narrowed_search_with_its_narrowed_action(tmp_path):
    """The race pools a search's episodes by the policy they applied: choices of narrowed heads decode as the
    search decoded them (choice k of M is bin low + k; RandAugment over --ops only)."""
    from policy_search.benchmark.race import pool_episodes

    folder = tmp_path / "search"
    folder.mkdir()
    fields = {"task": "mnist-small", "dataset": None, "steps_per_episode": 1, "population": 0}
    fields.update(ops=["Identity", "Rotate"], magnitude_range=[0.5, 1.0])
    (folder / "config.json").write_text(json.dumps(fields))
    (folder / "episodes.csv").write_text(
        "episode,return,final_val_acc,samples,cumulative_samples,wall_s,cost,diverged,child_seed,actions\n"
        '0,11.2,0.1124,128,128,1.17,2.7,,1826701614,"[[1, 1, 2, 4]]"\n'
    )
    [group] = pool_episodes("mnist-small", [str(folder)])
    randaugment = [p for p in group["policy"].policies if isinstance(p, RandAugment)][0]
    assert randaugment.magnitude == 9 and randaugment.num_ops == 2 and list(randaugment.ops) == ["Identity", "Rotate"]


def test_ops_narrow_the_kinds_own_set_and_families_keep_every_op_in_a_family():
    with pytest.raises(ValueError, match=r"not ops of the image compact action"):
        ActionSpec.for_search("compact", "image", ops=("Identity", "Cutout"))
    with pytest.raises(ValueError, match=r"not ops of the text compact action"):
        ActionSpec.for_search("compact", "text", ops=("Identity", "RandomSwap"))
    assert ActionSpec.for_search("slots", "image", ops=("Identity", "Cutout")).ops == ("Identity", "Cutout")


def test_an_empty_shard_beside_shards_with_rows_is_not_an_empty_split(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from policy_search.child.sources import _check_parquet_rows

    data = tmp_path / "data"
    data.mkdir()
    table = pa.table({"text": ["good", "bad"], "label": [1, 0]})
    empty = pa.table({"text": pa.array([], pa.string()), "label": pa.array([], pa.int64())})
    pq.write_table(table, data / "train-00000-of-00002.parquet")
    pq.write_table(empty, data / "train-00001-of-00002.parquet")
    pq.write_table(table, data / "test-00000-of-00001.parquet")
    _check_parquet_rows(tmp_path)  # no error: the train split has rows


def test_a_narrowing_flag_given_without_values_is_refused_not_ignored(capsys):
    from policy_search.train_agent import main

    for flag in ("--ops", "--magnitude-range"):
        with pytest.raises(SystemExit) as exc:
            main(["--task", "mnist-small", flag])
        assert exc.value.code == 2 and "expected at least one argument" in capsys.readouterr().err


def test_critic_update_takes_the_exact_expectation_of_the_critics_features():
    """issue 31: AugNet's mean actor-critic climbs E_pi[critic(action)]; with independent heads that expectation is
    exact, column by column the same features as policy.export.action_features averaged over the whole grid."""
    from types import SimpleNamespace

    from policy_search.agents.augnet import AugNetAgent, AugNetConfig
    from policy_search.policy.export import action_features

    nvec, ordinal = np.array([2, 2, 4, 5]), np.array([False, False, True, True])
    agent = AugNetAgent(3, nvec, AugNetConfig(update="critic", heads="ordinal"), seed=0, ordinal=ordinal)
    rng = np.random.default_rng(0)
    probs = [torch.as_tensor(rng.dirichlet(np.ones(n)), dtype=torch.float32)[None] for n in nvec]
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in nvec], indexing="ij"), -1).reshape(-1, len(nvec))
    weight = np.prod([probs[h][0, grid[:, h]].numpy() for h in range(len(nvec))], axis=0)
    exact = weight @ action_features(grid, SimpleNamespace(nvec=nvec, ordinal=ordinal))
    assert agent._expected_features(probs)[0].numpy() == pytest.approx(exact, abs=1e-5)


def test_critic_update_finds_a_planted_optimum_within_a_dozen_runs():
    """On a bandit with a planted best action and noise (a whole-run search in miniature), the critic update puts
    most of its probability on the best choice of every head after 12 episodes (uniform: 0.34 on average), where
    REINFORCE has barely moved, and one diverged run among them does not stop it (it fits ranks)."""
    from policy_search.agents.augnet import AugNetAgent, AugNetConfig

    nvec, ordinal = np.array([2, 2, 4, 10]), np.array([False, False, True, True])
    best = np.array([1, 0, 2, 3])

    def reward(a: np.ndarray, rng) -> float:
        z = 2 * a[2:] / (nvec[2:] - 1) - 1
        zb = 2 * best[2:] / (nvec[2:] - 1) - 1
        return float((a[0] == best[0]) * 1.0 - (a[1] != best[1]) * 0.5 - ((z - zb) ** 2).sum() + 0.3 * rng.normal())

    found = {}
    for update, diverged in (("critic", None), ("reinforce", None), ("critic", 2)):
        hits = 0
        for seed in range(5):
            rng = np.random.default_rng(seed)
            agent = AugNetAgent(3, nvec, AugNetConfig(update=update, gamma=1.0), seed=seed, ordinal=ordinal)
            obs = np.zeros(3, dtype=np.float32)
            for episode in range(12):
                a = agent.act(obs)
                # returns near 98 (accuracy in points); one child diverging scores the env's -10 penalty
                agent.learn([obs], [a], [-10.0 if episode == diverged else 98 + reward(a, rng)])
            probs = [d.probs.detach().numpy() for d in agent._dists(torch.as_tensor(obs[None]))]
            hits += sum(float(p[0, b]) for p, b in zip(probs, best, strict=True)) / len(best)
        found[update if diverged is None else "critic, one run diverged"] = hits / 5
    assert found["critic"] > 0.55 and found["critic"] > found["reinforce"] + 0.15, found  # 0.71 vs 0.38 here
    assert found["critic, one run diverged"] > 0.55, found  # ranks: one outlier does not squash the rest (0.59)
    assert len(agent.state_dict()["history"]) == 12  # the critic's episodes travel in the checkpoint (plain data)
    with pytest.raises(ValueError, match="learned by critic, not reinforce"):
        AugNetAgent(3, nvec, AugNetConfig(update="reinforce"), ordinal=ordinal).load_state_dict(agent.state_dict())
    with pytest.raises(ValueError, match="non-finite return"):
        agent.learn([obs], [agent.act(obs)], [float("nan")])


def test_train_agent_runs_and_resumes_the_critic_update(tmp_path):
    from policy_search.train_agent import TrainConfig, train

    out = tmp_path / "critic"
    common = dict(task="mnist-episode", update="critic", epochs=0.25, out=str(out), progress_bar=False, rescore=0)
    train(TrainConfig(episodes=5, **common))
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert len(state["agent"]["history"]) == 5 and state["agent"]["update"] == "critic"
    summary = train(TrainConfig(episodes=6, resume=True, **common))
    assert summary["episodes"] == 6
    policy = json.loads((out / "policy.json").read_text())
    assert policy["provenance"]["method"]["update"] == "critic"
    with pytest.raises(ValueError, match="--agent ppo has no --update choice"):
        TrainConfig(agent="ppo", update="critic").validate()
    with pytest.raises(ValueError, match="--update critic learns whole-run policies"):
        TrainConfig(update="critic", steps_per_episode=2).validate()


def test_a_tagging_task_searches_the_tagging_ops_and_a_classification_task_does_not():
    """issue 35: on CoNLL-2003 every search (train_agent's action, the Optuna action spaces, the race's rebuild)
    may choose Dai & Adel's tagging ops, each with its own on/off head; on IMDB they would be no-ops, so it may not."""
    from policy_search.search.space import build_policy
    from policy_search.search.study import SearchConfig
    from policy_search.train_agent import TrainConfig, _action_spec

    tagging = ("MentionReplacement", "LabelwiseTokenReplacement", "SegmentShuffle")
    assert get_preset("conll2003-small").tagging and not get_preset("imdb-small").tagging
    for kind in ("compact", "families"):
        tagger = _action_spec(TrainConfig(task="conll2003-small", action_kind=kind))
        classifier = _action_spec(TrainConfig(task="imdb-small", action_kind=kind))
        assert set(tagging) <= set(tagger.ops) and not set(tagging) & set(classifier.ops)
    families = _action_spec(TrainConfig(task="conll2003-small", action_kind="families")).families
    assert all((op,) in families for op in tagging)
    study = SearchConfig(task="conll2003-small", space="text-families")
    assert study.space_args() == {"tagging": True}
    assert SearchConfig(task="imdb-small", space="text-families").space_args() == {}
    params = {f"family_{op}": int(op == "MentionReplacement") for op in tagging}
    params |= {f"family_{op}": 0 for op in ("RandomDeletion", "RandomSwap", "RandomInsertion")}
    params |= {f"family_{op}": 0 for op in ("SynonymReplacement", "TokenMask", "SpanCutout")}
    params |= {"num_ops": 1, "magnitude": 5}

    def randaugment(policy):
        found = [p for p in policy.policies if isinstance(p, RandAugment)] if isinstance(policy, Sequence) else [policy]
        return [op for p in found for op in p.ops if op != "Identity"]

    assert randaugment(build_policy("text-families", params, None, study.space_args())) == ["MentionReplacement"]
    assert randaugment(build_policy("text-families", params, None, {})) == []  # its six families all off
