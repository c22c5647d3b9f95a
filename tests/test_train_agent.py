import csv
import json

import pytest
import torch

from policy_search import load_policy
from policy_search.policy import Schedule
from policy_search.policy.controller import Controller
from policy_search.train_agent import TrainConfig, main, train

FAST = dict(task="mnist-episode", epochs=0.5, steps_per_episode=3, progress_bar=False)


def rows(out):
    with (out / "episodes.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("agent", ["ppo", "augnet", "random"])
def test_end_to_end_exports_load_and_replay(tmp_path, agent):
    out = tmp_path / agent
    rc = main(
        [
            "--agent",
            agent,
            "--episodes",
            "2",
            "--seed",
            "1",
            "--out",
            str(out),
            "--epochs",
            "0.5",
            "--steps-per-episode",
            "3",
            "--no-progress-bar",
        ]
    )
    assert rc == 0
    for name in ("policy.json", "schedule.json", "schedule.png", "episodes.csv", "config.json", "command.txt"):
        assert (out / name).exists(), name
    assert len(rows(out)) == 2 and any((out / "tb").iterdir())
    controller, schedule = load_policy(str(out / "policy.json")), load_policy(str(out / "schedule.json"))
    assert isinstance(controller, Controller) and isinstance(schedule, Schedule)
    for name in ("policy.json", "schedule.json"):  # the fields the replicated finals read (issue 31)
        provenance = json.loads((out / name).read_text())["provenance"]
        assert provenance["agent"] == agent and provenance["search_seed"] == 1, provenance
        assert provenance["child_run_equivalents"] > 0
    images = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8)
    features = {name: 0.1 for name in controller.feature_names}
    controller.observe(features)
    for policy in (controller, schedule):
        params = policy.sample(images, torch.Generator().manual_seed(0), progress=0.4)
        first = policy.apply(images, params)
        assert torch.equal(first, policy(images, params=params))  # exact replay
        assert first.shape == images.shape and first.dtype == torch.uint8


def test_resume_keeps_finished_episodes(tmp_path):
    out = tmp_path / "run"
    train(TrainConfig(agent="augnet", episodes=2, out=str(out), **FAST))
    before = rows(out)
    with pytest.raises(FileExistsError, match="--resume"):
        train(TrainConfig(agent="augnet", episodes=3, out=str(out), **FAST))
    summary = train(TrainConfig(agent="augnet", episodes=3, out=str(out), resume=True, **FAST))
    after = rows(out)
    assert summary["episodes"] == 3 and [r["episode"] for r in after] == ["0", "1", "2"]
    assert after[:2] == before  # nothing recomputed or lost
    # the resumed episode got the seed it would have had in an uninterrupted run
    straight = tmp_path / "straight"
    train(TrainConfig(agent="augnet", episodes=3, out=str(straight), **FAST))
    assert rows(straight)[2]["child_seed"] == after[2]["child_seed"]


def test_resume_ppo(tmp_path):
    out = tmp_path / "ppo"
    train(TrainConfig(agent="ppo", episodes=1, out=str(out), **FAST))
    summary = train(TrainConfig(agent="ppo", episodes=2, out=str(out), resume=True, **FAST))
    assert summary["episodes"] == 2 and len(rows(out)) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "nope"], "unknown task"),
        (["--agent", "dqn"], "unknown agent"),
        (["--episodes", "0"], "from 1 to"),
        (["--budget-seconds", "-5"], "positive"),
        (["--agent", "fixed"], "--fixed-policy"),
        (["--agent", "augnet", "--action-mode", "box"], "discrete"),
    ],
)
def test_bad_arguments_fail_with_clear_messages(tmp_path, capsys, args, message):
    assert main([*args, "--out", str(tmp_path / "x"), "--no-progress-bar"]) == 2
    assert message in capsys.readouterr().err


def test_fixed_policy_agent_exports_that_policy(tmp_path):
    out = tmp_path / "fixed"
    train(TrainConfig(agent="fixed", fixed_policy="flip-crop", episodes=1, out=str(out), **FAST))
    assert load_policy(str(out / "policy.json")).kind == "subpolicies"


def test_default_output_folder_is_new_for_every_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--agent", "random", "--episodes", "1", "--epochs", "0.3", "--steps-per-episode", "2", "--no-progress-bar"]
    assert main(args) == 0
    import time

    time.sleep(1.1)  # folders are stamped to the second
    assert main(args) == 0  # a second run of the same command does not collide with the first
    assert len(list((tmp_path / "runs").glob("mnist-small-random-seed0-*"))) == 2


def test_run_child_drives_a_controller_at_its_own_cadence(tmp_path):
    from policy_search.child.run import run_child

    out = tmp_path / "c"
    train(TrainConfig(agent="random", episodes=1, out=str(out), **FAST))
    controller = load_policy(str(out / "policy.json"))
    run, _ = run_child("mnist-episode", seed=0, device="cpu", policy=controller, epochs=0.5)
    evaluated_at = [h["batches"] for h in run.history]
    assert evaluated_at[:3] == [0, controller.observe_every, 2 * controller.observe_every]


def test_a_run_started_from_python_records_its_own_command(tmp_path):
    """search compare calls train() from Python: command.txt recorded the caller's argv as train_agent's
    (`python -m policy_search.train_agent compare --config ...`, which no command accepts). It now records the
    options that rebuild the run's config, and they parse back to it."""
    from dataclasses import asdict

    from policy_search.config import argv_of, overrides_to_dict, parse_config
    from policy_search.train_agent import TrainConfig, build_parser

    cfg = TrainConfig(
        task="imdb-small",
        episodes=3,
        seed=7,
        out=str(tmp_path / "run"),
        action_kind="families",
        ops=("RandomSwap", "RandomDeletion"),
        progress_bar=False,
        overrides={"epochs": 2, "embeddings": None},
    )
    argv = argv_of(cfg)
    assert "compare" not in argv and "--no-progress-bar" in argv and argv[argv.index("--ops") + 1] == "RandomSwap"
    again = parse_config(TrainConfig, build_parser(), argv, convert=overrides_to_dict)
    assert asdict(again) == asdict(cfg)
