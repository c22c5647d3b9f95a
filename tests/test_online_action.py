"""The online action (issue 31, round 3): a search chooses the settings of a controller that learns inside each run."""

import json

import numpy as np
import optuna
import pytest
import torch

from policy_search import load_policy
from policy_search.benchmark.race import run_equivalents, searched_equivalents
from policy_search.policy.action_space import ONLINE_CAPS, ONLINE_TARGETS, ActionSpec
from policy_search.policy.controller import Controller
from policy_search.policy.online import OnlineAugNet
from policy_search.search.space import SPACES, build_policy
from policy_search.train_agent import TrainConfig, main


def test_image_heads_become_the_controllers_settings():
    spec = ActionSpec.for_search("online", "image")
    assert spec.nvec.tolist() == [2, 2, 3, len(ONLINE_CAPS), len(ONLINE_TARGETS)]
    assert spec.ordinal.tolist() == [False, False, True, True, True]
    assert len(spec.legend()) == len(spec.nvec) and spec.head_names()[:2] == ["flip", "crop"]
    policy = spec.to_policy(np.array([0, 1, 2, 4, 3]))
    assert isinstance(policy, OnlineAugNet) and policy.observes_batches
    assert policy.bases == ("PadCrop",) and policy.ops_per_sample == 3
    assert policy.magnitude_max == ONLINE_CAPS[4] and policy.magnitude_target == ONLINE_TARGETS[3]
    none = spec.to_policy(np.array([0, 0, 0, 0, 0]))
    assert none.bases == () and none.ops_per_sample == 1 and none.magnitude_max == ONLINE_CAPS[0]
    assert spec.slots_of(np.array([1, 0, 1, 1, 0])) == [
        ("HorizontalFlip", 0.5, 0.0),
        ("PadCrop", 0.0, 1.0),
        ("OnlineAugNet", 2.0, ONLINE_CAPS[1]),
    ]
    assert {"HorizontalFlip", "PadCrop"} <= set(spec.display_ops)
    assert ActionSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.to_dict()["online_caps"] == list(ONLINE_CAPS)  # the heads' choices travel with the file
    assert "online_caps" not in ActionSpec.compact().to_dict()  # other kinds' files read as before
    with pytest.raises(ValueError, match="online_caps"):
        ActionSpec.from_dict({**spec.to_dict(), "online_caps": [2.0]})


def test_text_heads_set_the_text_fields():
    spec = ActionSpec.for_search("online", "text")
    assert spec.nvec.tolist() == [3, len(ONLINE_CAPS), len(ONLINE_TARGETS)]
    policy = spec.to_policy(np.array([0, 5, 0]))
    assert policy.text_ops_per_sample == 1 and policy.text_magnitude_max == ONLINE_CAPS[5]
    assert policy.magnitude_target == ONLINE_TARGETS[0]
    assert policy.ops_per_sample == OnlineAugNet().ops_per_sample  # the image fields keep the preset's


def test_narrowing_the_online_action():
    assert ActionSpec.for_search("online", "image", max_ops=2).nvec[2] == 2
    narrowed = ActionSpec.for_search("online", "image", ops=("Identity", "Rotate"))
    assert narrowed.to_policy(np.array([1, 0, 0, 0, 0])).ops == ("Rotate",)
    assert narrowed.display_ops == ("HorizontalFlip", "PadCrop", "Rotate")
    assert ActionSpec.from_dict(json.loads(json.dumps(narrowed.to_dict()))) == narrowed
    assert ActionSpec.for_search("online", "image").to_policy(np.array([1, 0, 0, 0, 0])).ops is None  # the preset's
    with pytest.raises(ValueError, match="chooses its controller's magnitude cap itself"):
        ActionSpec.for_search("online", "image", magnitude_range=(0.0, 0.5))
    with pytest.raises(ValueError, match="not online"):
        ActionSpec.for_search("online", "image", synthetic=True)


def test_the_online_action_on_a_tagger_draws_the_tagging_ops_it_is_given(tmp_path):
    """issue 35: on a tagging task ``--ops`` may name Dai & Adel's ops, which the controller's text default (EDA's
    four) leaves out; the policy a choice becomes draws from them only, and other tasks cannot name them."""
    tagging = ("LabelwiseTokenReplacement", "MentionReplacement")
    spec = ActionSpec.for_search("online", "text", tagging=True, ops=tagging)
    policy = spec.to_policy(np.array([1, 2, 0]))
    assert set(policy.ops) == set(tagging) and policy.text_ops_per_sample == 2
    assert policy.text_magnitude_max == ONLINE_CAPS[2] and policy.tag_affinity == "entities"
    assert set(spec.display_ops) == set(tagging)
    reordered = ActionSpec.for_search("online", "text", tagging=True, ops=tagging[::-1])
    assert reordered.to_policy(np.array([1, 2, 0])).body() == policy.body()  # the order named changes nothing
    policy.save(tmp_path / "p.json")
    assert load_policy(str(tmp_path / "p.json")).ops == policy.ops  # the exported file keeps them
    eda = ActionSpec.for_search(
        "online", "text", ops=("RandomDeletion", "RandomSwap", "RandomInsertion", "SynonymReplacement")
    )
    assert eda.to_policy(np.array([0, 0, 0])).ops is None  # the controller's own four, however named: the preset's
    widened = ActionSpec.for_search("online", "text", ops=("TokenMask", "RandomSwap")).to_policy(np.array([0, 0, 0]))
    assert set(widened.ops) == {"TokenMask", "RandomSwap"} and widened.tag_affinity == "tokens"
    with pytest.raises(ValueError, match="not ops of the text online action"):
        ActionSpec.for_search("online", "text", ops=tagging)  # a classification task has no tags to read
    with pytest.raises(ValueError, match="unknown text op"):
        ActionSpec.for_search("online", "text", tagging=True, ops=("Rotate",))


@pytest.mark.parametrize(
    "extra", [["--steps-per-episode", "3"], ["--population", "2"], ["--synthetic", "vae"]], ids=lambda e: e[0]
)
def test_train_agent_refuses_online_with_several_decisions(extra):
    fields = {"--steps-per-episode": {"steps_per_episode": 3}, "--population": {"population": 2, "episodes": 4}}
    bad = fields.get(extra[0], {"synthetic": "vae"})
    with pytest.raises(ValueError, match="once per run"):
        TrainConfig(task="mnist-episode", action_kind="online", **bad).validate()


def test_the_optuna_space_samples_the_same_settings():
    params = {"flip": 1, "crop": 0, "ops_per_sample": 1, "magnitude_cap": 2, "affinity_target": 2}
    policy = build_policy("online", params, None)
    assert isinstance(policy, OnlineAugNet)
    assert policy.bases == ("HorizontalFlip",) and policy.ops_per_sample == 2
    assert policy.magnitude_max == ONLINE_CAPS[2] and policy.magnitude_target == ONLINE_TARGETS[2]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    text = SPACES["text-online"](trial, None)
    assert isinstance(text, OnlineAugNet)
    assert set(trial.params) == {"ops_per_sample", "magnitude_cap", "affinity_target"}


def _controller(spec: ActionSpec) -> Controller:
    layers = [torch.nn.Linear(3, int(spec.nvec.sum()))]
    torch.nn.init.zeros_(layers[0].weight)
    torch.nn.init.zeros_(layers[0].bias)
    return Controller(spec, torch.nn.Sequential(*layers), ["a", "b", "c"])


def test_a_controller_keeps_its_learner_while_the_choice_stands():
    spec = ActionSpec.for_search("online", "image")
    controller = _controller(spec)
    assert controller.observes_batches and controller.validation_size == controller.current.validation_size
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    controller.attach(model)
    learner = controller.current
    controller.observe({"a": 0.0, "b": 0.0, "c": 0.0})  # the same (all-zero) action: the learner stays
    assert controller.current is learner
    controller.set_action(np.array([1, 1, 2, 1, 2]))  # another choice: a new learner, hooked to the same model
    assert controller.current is not learner and controller.current.ops_per_sample == 3
    assert not any(m is model for m in controller.modules())  # the child model is not the controller's submodule
    again = controller.current
    controller.reset(5)  # a new run starts a fresh learner even for the same action
    controller.set_action(np.array([1, 1, 2, 1, 2]))
    assert controller.current is not again


def test_an_online_search_counts_its_validation_passes(tmp_path):
    out = tmp_path / "run"
    argv = ["--task", "mnist-episode", "--epochs", "0.5", "--episodes", "2", "--action-kind", "online"]
    assert main([*argv, "--seed", "3", "--out", str(out), "--no-progress-bar"]) == 0
    schedule = json.loads((out / "schedule.json").read_text())["provenance"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 2 and summary["child_run_equivalents"] > 2.0  # a learner's validation passes
    assert schedule["child_run_equivalents"] == summary["child_run_equivalents"]
    replayed = load_policy(str(out / "schedule.json"))
    assert replayed.observes_batches  # the exported schedule holds the learner: a training loop hooks it
    controller = load_policy(str(out / "policy.json"))
    assert isinstance(controller, Controller) and controller.spec.kind == "online"


def test_race_runs_record_what_they_spent(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"policy": None, "seed": 1, "val_accuracy": 0.5}))
    assert run_equivalents(old) == 1.0  # cached before equivalents were recorded: one run
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"policy": "x", "seed": 1, "val_accuracy": 0.5, "child_run_equivalents": 1.23}))
    assert run_equivalents(new) == 1.23
    static = tmp_path / "static"  # a search without a controller file: its episodes, diverged ones included
    static.mkdir()
    (static / "episodes.csv").write_text("episode,final_val_acc,diverged\n0,0.5,\n1,,True\n2,0.6,\n")
    assert searched_equivalents([static]) == 3.0
    learner = tmp_path / "learner"  # one whose controller says its runs cost more: that, not its episode count
    learner.mkdir()
    (learner / "episodes.csv").write_text((static / "episodes.csv").read_text())
    (learner / "policy.json").write_text(json.dumps({"provenance": {"child_run_equivalents": 3.61}}))
    assert searched_equivalents([static, learner]) == pytest.approx(6.61)


def test_the_race_after_an_online_search_counts_its_learners(tmp_path):
    out = tmp_path / "raced"
    argv = ["--task", "mnist-episode", "--epochs", "0.5", "--episodes", "10", "--rescore", "6"]
    argv += ["--action-kind", "online"]
    assert main([*argv, "--seed", "4", "--out", str(out), "--no-progress-bar"]) == 0
    race = json.loads((out / "race" / "race.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert race["race_equivalents"] > race["race_runs"]  # its online candidates' validation passes
    provenance = json.loads((out / "schedule.json").read_text())["provenance"]
    assert provenance["selection"] == "race"
    assert provenance["child_run_equivalents"] == pytest.approx(summary["child_run_equivalents"], abs=1e-3)
    assert summary["child_run_equivalents"] > summary["episodes"]
    # the race counts the searched learners as the search did, not one per pooled episode
    assert race["search_equivalents"] > race["search_runs"] == summary["episodes"]
    assert race["child_run_equivalents"] == pytest.approx(summary["child_run_equivalents"], abs=1e-3)
    # a learner decides its ops as it trains: the export calls it no augmentation only where the race chose none
    assert summary["no_augmentation"] == race["exported"].startswith("no augmentation")
    if not summary["no_augmentation"]:
        assert "learns inside the run" in (out / "schedule.md").read_text()


def test_compare_refuses_online_spaces_it_cannot_budget_fairly():
    from policy_search.search.compare import CompareConfig

    with pytest.raises(ValueError, match="costs more than one"):
        CompareConfig(task="mnist-episode", space="online", methods=["tpe", "augnet"]).validate()


def test_a_controllers_learner_starts_from_the_runs_seed():
    controller = _controller(ActionSpec.for_search("online", "image"))
    controller.reset(11)
    controller.set_action(np.array([1, 0, 1, 1, 1]))  # a new choice mid-run: built from the run's seed
    assert controller.current._seed_value == 11
    controller.attach(torch.nn.Linear(2, 2))
    controller.reset(12)
    assert controller._attached == () and controller.current._seed_value == 12


def test_race_policies_take_slots_in_the_rescore_race(tmp_path):
    out = tmp_path / "anchored"
    argv = ["--task", "mnist-episode", "--epochs", "0.5", "--episodes", "10", "--rescore", "6"]
    argv += ["--action-kind", "online", "--race-policies", "online-augnet"]
    assert main([*argv, "--seed", "5", "--out", str(out), "--no-progress-bar"]) == 0
    race = json.loads((out / "race" / "race.json").read_text())
    names = [c["name"] for c in race["candidates"]]
    assert "online-augnet" in names and len(names) == 2  # one slot for the search's leader, one for the preset
    assert race["race_runs"] <= 6


def test_race_policies_are_checked_before_any_run():
    from policy_search.search.study import SearchConfig

    base = {"task": "mnist-episode", "episodes": 16}
    with pytest.raises(ValueError, match="no slot"):
        TrainConfig(**base, race_policies=("online-augnet", "flip-crop")).validate()
    with pytest.raises(ValueError, match="give --rescore"):
        TrainConfig(**base, rescore=0, race_policies=("online-augnet",)).validate()
    with pytest.raises(ValueError, match="no-such"):
        TrainConfig(**base, race_policies=("no-such-policy",)).validate()
    TrainConfig(**base, race_policies=("online-augnet",)).validate()
    with pytest.raises(ValueError, match="not both"):
        SearchConfig(task="mnist-episode", trials=48, race_ablate=1, race_policies=("flip-crop",)).validate()


def test_listed_race_policies_may_not_share_cached_runs(tmp_path):
    from policy_search.benchmark.race import check_race_policies

    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        load_policy("flip-crop").save(folder / "schedule.json")
    with pytest.raises(ValueError, match="share cached race runs"):
        check_race_policies((str(a / "schedule.json"), str(b / "schedule.json")), 0, 16)
    with pytest.raises(ValueError, match="share cached race runs"):
        check_race_policies(("none",), 0, 16)
    check_race_policies((str(a / "schedule.json"), "flip-crop"), 0, 16)


def test_the_repr_names_what_differs_from_the_preset(tmp_path):
    assert repr(OnlineAugNet()) == "OnlineAugNet(the preset; warm_start=False)"
    OnlineAugNet().save(tmp_path / "p.json")
    assert "the preset" in repr(load_policy(str(tmp_path / "p.json")))
    assert repr(OnlineAugNet(magnitude_max=0.6)).startswith("OnlineAugNet(magnitude_max=0.6;")


def test_a_shortlisted_policy_equal_to_a_listed_one_gives_up_its_slot():
    from policy_search.benchmark.race import RaceConfig, _beside_listed

    cfg = RaceConfig(task="mnist-episode", searches=("s",), policies=("online-augnet",), candidates=1)
    picked = [{"policy": OnlineAugNet()}, {"policy": OnlineAugNet(magnitude_max=0.6)}]  # the preset, rebuilt
    kept = _beside_listed(cfg, {"online-augnet": load_policy("online-augnet")}, picked)
    assert len(kept) == 1 and kept[0]["policy"].magnitude_max == 0.6
