"""Issue 31, round 2: the race's ablation slots (the leader with one part left out, raced on the same seeds)."""

import json

import pytest

from policy_search.benchmark import race
from policy_search.benchmark.ablation import ablations, part_labels
from policy_search.policy import RandAugment, Schedule, Sequence, SubPolicies, load_policy
from policy_search.policy.text import TextRandAugment


def _flip_crop_ra(flip: bool = True, crop: bool = True, n: int = 1) -> Sequence:
    entries = [("HorizontalFlip", 0.5, 0.0)] * flip + [("PadCrop", 1.0, 1.0)] * crop
    parts = ([SubPolicies([entries])] if entries else []) + ([RandAugment(num_ops=n, magnitude=2)] if n else [])
    return Sequence(parts)


def test_ablations_leave_out_one_part_each_least_explored_absence_first():
    leader = Schedule([(1.0, _flip_crop_ra())])  # a single-phase schedule (what a race exports) is unwrapped
    assert part_labels(leader) == {"HorizontalFlip", "PadCrop", "randaugment"}
    plain = ablations(leader)  # no evidence: in the order the parts appear
    assert [label for label, _ in plain] == ["HorizontalFlip", "PadCrop", "randaugment"]
    assert repr(plain[1][1]) == repr(_flip_crop_ra(crop=False))
    assert repr(plain[2][1]) == repr(Sequence([SubPolicies([[("HorizontalFlip", 0.5, 0.0), ("PadCrop", 1.0, 1.0)]])]))
    # an op that does nothing is no part; two parts alike get names of their own
    slots = SubPolicies([[("Rotate", 0.5, 0.3), ("Identity", 1.0, 0.0), ("Rotate", 0.5, 0.6)]])
    assert [name for name, _ in ablations(slots)] == ["Rotate", "Rotate-0.2"]
    # AugNet's cifar10-small search 1: crop absent from 1 run, flip from 3, RandAugment from 3 -> crop first
    evidence = [(_flip_crop_ra(), 5), (_flip_crop_ra(n=0), 3), (_flip_crop_ra(flip=False), 2)]
    evidence.append((_flip_crop_ra(flip=False, crop=False, n=3), 1))
    assert [label for label, _ in ablations(leader, evidence)] == ["PadCrop", "HorizontalFlip", "randaugment"]
    with_none = ablations(leader, [(Sequence([]), 9)] + evidence)  # no augmentation is the reference: no say
    assert [label for label, _ in with_none] == ["PadCrop", "HorizontalFlip", "randaugment"]
    # nothing to ablate where leaving a part out leaves no augmentation (raced anyway as the reference)
    assert ablations(Sequence([SubPolicies([[("PadCrop", 1.0, 1.0)]])])) == []
    assert ablations(TextRandAugment(num_ops=2, magnitude=3)) == []
    only_crop = ablations(_flip_crop_ra(flip=False))
    assert [label for label, _ in only_crop] == ["PadCrop", "randaugment"]


def _search_groups():
    return [
        {"policy": Sequence([]), "accuracies": [50.0, 51.0]},
        {"policy": _flip_crop_ra(), "accuracies": [56.0, 55.0, 57.0]},
        {"policy": _flip_crop_ra(n=2), "accuracies": [55.5]},
        {"policy": _flip_crop_ra(n=0), "accuracies": [53.0, 52.5]},
        {"policy": _flip_crop_ra(flip=False), "accuracies": [54.0, 53.5]},
        {"policy": _flip_crop_ra(flip=False, crop=False, n=3), "accuracies": [52.0]},
    ]


def test_a_race_with_an_ablation_slot_drops_the_part_that_costs(tmp_path, monkeypatch):
    """The search settled on flip + crop + RandAugment; crop costs on the race's seeds. With --ablate 1 the last
    candidate slot goes to the leader without crop (the part whose absence the search tried least), which wins."""
    quality = {"c0": 0.02, "c1": 0.019, "ablate-PadCrop": 0.035}
    calls = []

    def val_accuracy(task, policy, seed, cache, **kw):
        name = "none" if policy is None else policy.rsplit("/", 1)[-1].removesuffix(".json")
        calls.append(name)
        return 0.5 + quality[name] + 0.01 * (seed % 5) if name != "none" else 0.5 + 0.01 * (seed % 5)

    monkeypatch.setattr(race, "val_accuracy", val_accuracy)
    monkeypatch.setattr(race, "pool_episodes", lambda *a, **k: _search_groups())
    _flip_crop_ra().save(tmp_path / "search" / "schedule.json")  # the image spec the search's children had
    common = {"task": "cifar10-episode", "searches": (str(tmp_path / "search"),), "candidates": 2, "rounds": (2,)}
    plain = race.run_race(race.RaceConfig(**common, out=str(tmp_path / "plain")))
    assert [c["name"] for c in plain["candidates"]] == ["c0", "c1"] and plain["winner"] == "c0"
    summary = race.run_race(race.RaceConfig(**common, ablate=1, out=str(tmp_path / "ablate")))
    assert [c["name"] for c in summary["candidates"]] == ["c0", "ablate-PadCrop"]  # the budget is the same
    assert summary["race_runs"] == plain["race_runs"] == 6
    assert summary["winner"] == "ablate-PadCrop"
    exported = load_policy(str(tmp_path / "ablate" / "schedule.json"))
    assert part_labels(exported) == {"HorizontalFlip", "randaugment"}
    saved = json.loads((tmp_path / "ablate" / "candidates" / "ablate-PadCrop.json").read_text())
    assert saved["provenance"]["ablated"] == "PadCrop"
    # a race of listed policies: the ablation takes the last one's slot, which stays where the leader has none
    files = [str(tmp_path / f"{n}.json") for n in ("lead", "other", "single")]
    _flip_crop_ra().save(files[0])
    _flip_crop_ra(flip=False, crop=False, n=2).save(files[1])
    _flip_crop_ra(flip=False, crop=False, n=3).save(files[2])
    quality.update(lead=0.02, other=0.01, single=0.0, **{"ablate-HorizontalFlip": 0.0})
    listed = race.run_race(race.RaceConfig(task="cifar10-episode", policies=tuple(files[:2]), ablate=1, rounds=(1,),
                                           out=str(tmp_path / "listed")))  # fmt: skip
    assert [c["name"] for c in listed["candidates"]] == ["lead", "ablate-HorizontalFlip"]  # parts in order
    kept = race.run_race(race.RaceConfig(task="cifar10-episode", policies=tuple(files[2:0:-1]), ablate=1, rounds=(1,),
                                         out=str(tmp_path / "kept")))  # fmt: skip
    assert [c["name"] for c in kept["candidates"]] == ["single", "other"]  # one part: nothing to leave out
    with pytest.raises(ValueError, match="--ablate must be from 0 to 1"):
        race.RaceConfig(**common, ablate=2).validate()  # the leader keeps its slot: the budget holds
    with pytest.raises(ValueError, match="--ablate must be from 0 to 0"):
        race.RaceConfig(task="cifar10-episode", policies=(files[0],), ablate=1).validate()
    with pytest.raises(ValueError, match="holds a race with ablate = 1, not 0"):  # its cached runs are of others
        race.run_race(race.RaceConfig(**common, out=str(tmp_path / "ablate")))


def test_race_ablate_must_leave_the_leader_its_slot_in_the_rescore_race():
    from policy_search.search.study import SearchConfig
    from policy_search.train_agent import TrainConfig

    race.check_race_ablate(1, 6)  # 16 runs: two candidates, one for the leader and one ablation
    race.check_race_ablate(2, 16)  # 48 runs: three candidates
    with pytest.raises(ValueError, match="leaves the leader no slot"):
        race.check_race_ablate(2, 6)
    with pytest.raises(ValueError, match="needs a rescore race"):
        TrainConfig(task="mnist-episode", episodes=16, rescore=0, race_ablate=1).validate()
    with pytest.raises(ValueError, match="leaves the leader no slot"):
        SearchConfig(task="mnist-episode", trials=16, race_ablate=2).validate()
    TrainConfig(task="mnist-episode", episodes=16, race_ablate=1).validate()


def test_train_agent_and_search_hand_race_ablate_to_their_rescore_race(tmp_path, monkeypatch):
    from policy_search.search.study import SearchConfig, run_search
    from policy_search.train_agent import TrainConfig, train

    monkeypatch.setattr(race, "val_accuracy", lambda task, policy, seed, cache, **kw: 0.5 + 0.01 * (seed % 3))
    common = {"task": "mnist-episode", "epochs": 0.25, "rescore": 6, "race_ablate": 1}
    train(TrainConfig(**common, episodes=10, out=str(tmp_path / "rl"), progress_bar=False))
    run_search(SearchConfig(**common, trials=10, space="compact", out=str(tmp_path / "tpe"), quiet=True))
    for folder in ("rl", "tpe"):
        raced = json.loads((tmp_path / folder / "race" / "race.json").read_text())
        assert json.loads((tmp_path / folder / "race" / "config.json").read_text())["ablate"] == 1
        names = [c["name"] for c in raced["candidates"]]
        assert len(names) <= 2 and raced["race_runs"] <= 6  # the ablation takes a slot; the budget holds
        leader = load_policy(raced["candidates"][0]["file"])
        if ablations(leader):  # the leader has two parts or more: the second slot is one of its ablations
            assert names[1] in {f"ablate-{label}" for label, _ in ablations(leader)}
        else:
            assert not any(n.startswith("ablate-") for n in names)


def test_an_ablation_equal_to_a_kept_candidate_does_not_take_a_second_slot(tmp_path, monkeypatch):
    """At 48 runs (three candidates, one ablation slot) the leader without RandAugment can be the second
    shortlisted policy itself (flip + crop): it is not raced twice, the next ablation takes the slot."""
    monkeypatch.setattr(race, "val_accuracy", lambda task, policy, seed, cache, **kw: 0.5 + 0.01 * (seed % 3))
    groups = [
        {"policy": _flip_crop_ra(), "accuracies": [56.0, 57.0]},
        {"policy": _flip_crop_ra(n=0), "accuracies": [56.5]},  # = the leader without RandAugment: tried least
        {"policy": _flip_crop_ra(flip=False, crop=False, n=2), "accuracies": [54.0]},
        {"policy": _flip_crop_ra(crop=False), "accuracies": [53.0]},
        {"policy": _flip_crop_ra(flip=False), "accuracies": [52.0]},
    ]
    monkeypatch.setattr(race, "pool_episodes", lambda *a, **k: groups)
    _flip_crop_ra().save(tmp_path / "search" / "schedule.json")
    summary = race.run_race(
        race.RaceConfig(task="cifar10-episode", searches=(str(tmp_path / "search"),), candidates=3, ablate=1,
                        rounds=(1,), out=str(tmp_path / "r"))
    )  # fmt: skip
    names = [c["name"] for c in summary["candidates"]]
    assert names == ["c0", "c1", "ablate-HorizontalFlip"]  # without RandAugment first, but that one is c1
    assert [label for label, _ in ablations(_flip_crop_ra(), [(g["policy"], len(g["accuracies"])) for g in groups])][
        0
    ] == "randaugment"


def test_with_ablate_ops_a_text_leader_is_raced_without_each_of_its_ops():
    """experiments/final-conll2003-small: the searched TextRandAugment over four ops tied one of them alone; with
    --ablate-ops the ops it draws from are parts, the one whose absence the search tried least first."""
    four = ("RandomDeletion", "SynonymReplacement", "MentionReplacement", "LabelwiseTokenReplacement")
    leader = Sequence([TextRandAugment(num_ops=2, magnitude=4, ops=four)])
    assert ablations(leader) == []  # one part without --ablate-ops: nothing to leave out
    assert part_labels(leader, ops=True) == set(four)
    evidence = [
        (Sequence([TextRandAugment(num_ops=1, magnitude=3, ops=four[1:])]), 3),  # deletion absent 3 times
        (Sequence([TextRandAugment(num_ops=1, magnitude=3, ops=four[:2] + four[3:])]), 1),  # mention absent once
        (Sequence([TextRandAugment(num_ops=1, magnitude=3, ops=four[:3])]), 2),  # label-wise absent twice
    ]
    names = [name for name, _ in ablations(leader, evidence, ops=True)]
    assert names == ["SynonymReplacement", "MentionReplacement", "LabelwiseTokenReplacement", "RandomDeletion"]
    without = dict(ablations(leader, evidence, ops=True))["SynonymReplacement"]
    assert tuple(without.policies[0].ops) == ("RandomDeletion", "MentionReplacement", "LabelwiseTokenReplacement")
    assert without.policies[0].num_ops == 2 and without.policies[0].magnitude == 4
    assert ablations(Sequence([TextRandAugment(num_ops=1, magnitude=3, ops=four[:1])]), ops=True) == []
    image = Sequence([SubPolicies([[("HorizontalFlip", 0.5, 0.0)]]), RandAugment(num_ops=1, magnitude=2)])
    assert "randaugment" in part_labels(image) and "Rotate" in part_labels(image, ops=True)
    assert race.RaceConfig(ablate_ops=True).ablate_ops and "ablate_ops" in race._CACHE_FIELDS


def test_a_compare_rerun_with_another_race_ablate_does_not_reuse_the_finished_searches(tmp_path, monkeypatch, capsys):
    from policy_search.search.compare import CompareConfig, run_compare

    monkeypatch.setattr(race, "val_accuracy", lambda task, policy, seed, cache, **kw: 0.5 + 0.01 * (seed % 3))
    common = {"task": "mnist-episode", "budget_runs": 10, "rescore": 6, "seeds": 1, "methods": ("augnet",)}
    common.update(out=str(tmp_path / "cmp"), test_seeds=0, device="cpu", overrides={"epochs": 0.25})
    run_compare(CompareConfig(**common))
    with pytest.raises(ValueError, match="--race-ablate 0 -> 1"):  # said in one line before any method runs
        run_compare(CompareConfig(**common, race_ablate=1))
    assert "skipping augnet" not in capsys.readouterr().err
    with pytest.raises(ValueError, match="--max-ops None -> 2"):  # any flag a resume may not change
        run_compare(CompareConfig(**common, max_ops=2))
    with pytest.raises(ValueError, match="--race-reference None -> flip-crop"):
        run_compare(CompareConfig(**common, race_reference="flip-crop"))


def test_a_race_run_one_at_a_time_shows_each_runs_own_progress(tmp_path, monkeypatch):
    """A race of 20-minute children showed nothing between its ticks: one run at a time, each child's own bar of
    batches shows (not from worker processes, whose bars would interleave)."""
    asked = []

    def val_accuracy(task, policy, seed, cache, **kw):
        asked.append(kw["progress_bar"])
        return 0.5 + 0.01 * (policy is not None)

    monkeypatch.setattr(race, "val_accuracy", val_accuracy)
    _flip_crop_ra().save(tmp_path / "lead.json")
    common = {"task": "cifar10-episode", "policies": (str(tmp_path / "lead.json"),), "rounds": (2,)}
    race.run_race(race.RaceConfig(**common, out=str(tmp_path / "shown")))
    assert asked == [True] * 4  # the reference and the candidate on 2 seeds
    asked.clear()
    race.run_race(race.RaceConfig(**common, progress_bar=False, out=str(tmp_path / "quiet")))
    assert asked == [False] * 4
