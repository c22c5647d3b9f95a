"""Race the most promising policies of finished searches on shared fresh child seeds (validation only).

    python -m policy_search.search race --task imdb-small --searches runs/a runs/b --out runs/race

A search that spends one child run per candidate ranks candidates by single noisy runs: on ``imdb-small`` two
runs of the same policy differ by ±1.5 points, more than the effects searched for, so the schedules distilled
from such searches (elite modes, a fitted critic) fell back to no augmentation. The race spends a second, small
budget where that noise decides: it pools the episodes of one or more finished ``train_agent`` searches (one
decision per child run) by the policy each episode applied, shortlists the ``candidates`` policies with the best
shrunken mean validation accuracy (a policy tried once is pulled toward the mean of all runs), and runs
successive halving (Jamieson & Talwalkar 2016) with common random numbers: each round, every surviving candidate
and the reference (no augmentation) train from scratch on the same fresh child seeds; candidates are ranked by
their mean paired gain over the reference on every seed they ran, and the better half goes on. The winner (the
highest mean, or with ``pick="lcb"`` the highest lower bound of the gain's 95% CI) is exported as
``schedule.json`` (the file format of every policy) if its mean gain over no augmentation is positive, else no
augmentation is; the test split is never loaded.

Written here rather than with Optuna's successive-halving pruner: that stops one trial early on its learning
curve, where this repeats finished candidates over seeds and compares them paired with the reference, the
comparison whose noise a single run cannot average out.

Outputs in ``out``: ``race.csv`` (round, candidate, child seed, validation accuracy, the reference's, the gain),
``race.json`` (shortlist with the searches' evidence, each candidate's gain mean ± 95% CI, the winner, compute),
``race.png``, ``candidates/*.json`` (each candidate as a policy file), ``schedule.json``, ``config.json`` and
``command.txt``.

With ``--reference POLICY`` an incumbent takes no augmentation's place: every candidate is paired with it on each
seed and must beat it on average (or with confidence: ``export``) to be exported, else the reference is (issue 31, round 6: on ``mnist-small`` a
too-strong RandAugment beat the online preset on two seeds where both were unlucky and lost to it by 1.25 points
over 142 test seeds; a challenger to a strong incumbent needs seeds more than rivals). Every child run is
cached in ``evals/`` and never recomputed, so an interrupted race resumes by running it again.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from policy_search.outputs import atomic_write_text, write_json

__all__ = ["RaceConfig", "pool_episodes", "shortlist", "run_race", "main"]


@dataclass
class RaceConfig:
    """One race; ``searches`` (finished train_agent folders) or ``policies`` must be given."""

    task: str = "mnist-small"
    """Task preset of every child run; the searches must have run on it."""
    searches: tuple[str, ...] = ()
    """Finished ``train_agent`` output folders (config.json + episodes.csv; one decision per child run)."""
    policies: tuple[str, ...] = ()
    """Policy files or preset names raced as well (e.g. schedules distilled by other searches)."""
    reference: str | None = None
    """The policy every candidate is paired with on each seed (a file or preset name) in place of no augmentation,
    and exported when no candidate beats it on average (or with confidence: --export): an incumbent a search's pick must beat (e.g. online-augnet).
    Default: no augmentation."""
    candidates: int = 4
    """Policies shortlisted from the searches (the highest shrunken mean validation accuracy)."""
    ablate: int = 0
    """Candidate slots given to ablations of the leader (the first shortlisted policy, or the first of --policies
    without searches): the leader with one part left out (a flip, a crop, RandAugment), the part whose absence the
    searches tried least first (``policy_search.benchmark.ablation``). They take the last slots: of the
    ``candidates`` shortlisted with searches, else of --policies (the leader keeps its slot; slots no ablation
    fills stay with the policies)."""
    ablate_ops: bool = False
    """With --ablate: the ops a RandAugment or TextRandAugment of the leader draws from are parts too (the leader
    without each of them), in place of the whole member."""
    rounds: tuple[int, ...] = (2, 2, 3)
    """Fresh child seeds per round; after every round but the last, the better half of the candidates goes on."""
    first_seed: int = 3000
    """Child seed of the race's first run (rounds use consecutive seeds; keep them apart from test seeds)."""
    skip_inert: bool = True
    """Leave out of the shortlist, beside no augmentation, policies that apply nothing in effect (TextRandAugment
    at magnitude bin 0, where every text op's rate is 0, or with no ops). Races run before this option existed
    shortlisted them; ``--no-skip-inert`` reproduces those (search5-imdb-small)."""
    prior_runs: float = 1.0
    """Shrinkage of the shortlist: a policy's search mean counts as if this many runs at the mean of all runs
    were added to its own."""
    out: str = "runs/race"
    """Output folder (created; rerunning continues from the cached runs)."""
    epochs: float | None = None
    """Override the preset's epochs (tests use a tiny budget)."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Preset field overrides of every child run (``--set lr_schedule=cosine``, repeatable), e.g. a design check of
    a variant of the task on validation only."""
    data_dir: str | None = None
    """Dataset root (default $POLICY_SEARCH_DATA_DIR)."""
    dataset: str | None = None
    """Run the task's recipe on your own data: a folder (Hub layout or imagefolder) or a Hub id; validation is 10%
    of its training split (as ``child`` and ``train_agent --dataset``)."""
    device: str = "auto"
    """Device of every child run: auto, cpu or cuda."""
    description: str = ""
    """One line for race.json."""
    progress_bar: bool = True
    """Show a progress bar over the race's child runs."""
    pick: str = "mean"
    """How the winner is chosen among the last round's candidates: ``mean`` (the highest mean paired gain) or
    ``lcb`` (the highest lower bound of its 95% confidence interval: a steady gain over a larger, riskier one).
    Halving always ranks by the mean; the runs do not depend on it."""
    export: str = "mean"
    """When the winner replaces the reference in the exported schedule: ``mean`` (its mean paired gain is above 0)
    or ``confident`` (the lower bound of its gain's 95% CI is above 0: a challenger to a strong incumbent must win
    on every seed's evidence, not on one seed where the incumbent was unlucky; experiments/round7-incumbent-mnist-
    small; the winner is then the finalist with the highest bound, as with --pick lcb). The runs do not depend on
    it."""
    ray: str | None = None
    """Train each round's child runs as tasks on a Ray cluster (auto, an address, or local); default: --workers."""
    workers: int = 1
    """Processes that train each round's child runs side by side (each with cores / workers torch threads, or
    $POLICY_SEARCH_THREADS); results are the same as with one."""

    @property
    def slots(self) -> int:
        """Candidates the race holds: the shortlist's with searches, else the listed policies'."""
        return self.candidates if self.searches else len(self.policies)

    def validate(self) -> None:
        from policy_search.child.tasks import get_preset

        get_preset(self.task, **self.child_overrides())  # an unknown field or bad value: one line naming them
        from policy_search.child.data import check_dataset

        check_dataset(self.dataset, self.data_dir)
        if not self.searches and not self.policies:
            raise ValueError("nothing to race: give --searches (train_agent folders) and/or --policies")
        if len(set(self.policies)) != len(self.policies) or len(set(self.searches)) != len(self.searches):
            raise ValueError("--policies and --searches must not repeat an entry (a repeat would be raced twice)")
        if self.reference is not None:
            check_reference(self.reference, self.policies)
        if not 0 <= self.first_seed < 2**62:
            raise ValueError(f"--first-seed must be from 0 to 2**62, got {self.first_seed}")
        if not self.rounds or min(self.rounds) < 1:
            raise ValueError(f"--rounds must be one or more positive seed counts, got {list(self.rounds)}")
        if self.candidates < 1 and not self.policies:
            raise ValueError(f"--candidates must be >= 1, got {self.candidates}")
        slots = self.slots
        if self.ablate and not 0 <= self.ablate < slots:
            raise ValueError(
                f"--ablate must be from 0 to {slots - 1}: it takes slots of the {slots} candidates "
                f"({'--candidates' if self.searches else 'the --policies'}) and the leader keeps one; got {self.ablate}"
            )
        if not (math.isfinite(self.prior_runs) and self.prior_runs >= 0):
            raise ValueError(f"--prior-runs must be a finite number >= 0, got {self.prior_runs}")
        if self.epochs is not None and not (math.isfinite(self.epochs) and self.epochs > 0):
            raise ValueError(f"--epochs must be a positive number (omit it for the preset's), got {self.epochs}")
        if self.workers < 1:
            raise ValueError(f"--workers must be at least 1, got {self.workers}")
        if self.export not in RACE_EXPORTS:
            raise ValueError(f"--export must be {' or '.join(RACE_EXPORTS)}, got {self.export!r}")
        if self.pick not in ("mean", "lcb"):
            raise ValueError(f"--pick must be mean or lcb, got {self.pick!r}")
        if self.pick == "lcb" and self.rounds[-1] < 2:
            raise ValueError("--pick lcb needs a last round of at least 2 seeds (a confidence bound needs two)")
        if self.export == "confident" and self.rounds[-1] < 2:
            raise ValueError("--export confident needs a last round of at least 2 seeds (a confidence bound needs two)")

    def child_overrides(self) -> dict[str, Any]:
        """Preset overrides of every child run: ``overrides``, and ``dataset``'s."""
        from policy_search.child.tasks import run_overrides

        return run_overrides(self.overrides, self.dataset)


def _canonical(policy) -> str:
    return json.dumps(policy.to_dict(), sort_keys=True)


def _is_identity(policy, inert: bool = False) -> bool:
    """No augmentation: an empty Sequence (or Schedule of them); with ``inert``, also policies that apply nothing in
    effect (TextRandAugment with no ops or at magnitude bin 0: every text op's rate is ``MAX_RATE * 0``)."""
    from policy_search.policy.kinds import Schedule, Sequence
    from policy_search.policy.text import TextRandAugment

    if isinstance(policy, Schedule | Sequence):
        return all(_is_identity(p, inert) for p in policy.policies)
    return inert and isinstance(policy, TextRandAugment) and (policy.num_ops == 0 or policy.magnitude == 0)


RACE_EXPORTS = ("mean", "confident")  # RaceConfig.export
MIN_RACE_RUNS = 6  # two candidates and no augmentation on two seeds


def default_rescore(runs: int) -> int:
    """Child runs a search of ``runs`` keeps, by default, for its rescore race (issue 31: selection that noise
    cannot fool, inside every search): a third of the budget and at least MIN_RACE_RUNS, from 12 runs up (16 -> 6,
    48 -> 16); 0 below, where a race would leave the search too few runs. This is the race against no augmentation; a
    search with an incumbent (train_agent's default) keeps default_anchored_rescore's 9."""
    return max(MIN_RACE_RUNS, runs // 3) if runs >= 12 else 0


ANCHORED_RESCORE = 9  # issue 31 round 6: the leader and the incumbent on 4 seeds each, a learner's extra cost inside


def default_anchored_rescore(runs: int) -> int:
    """--rescore's default for a search whose race has an incumbent (--race-reference): round 6's race, the leader
    and the reference on 4 shared seeds each (9 runs: a reference that learns inside the run costs about 1.2
    equivalents a run, 8.7 in all), at most what leaves 4 runs to search (3 seeds each from 12 runs); 0 below 12."""
    if runs < 12:
        return 0
    return min(ANCHORED_RESCORE, 2 * ((runs - 4 - 1) // 2) + 1)


def recorded_config(folder: str | os.PathLike[str]) -> dict | None:
    """The ``config.json`` a search recorded in ``folder``, or None where there is none or it is not a JSON object."""
    try:
        stored = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) else None


def recorded_rescore(folder: str | os.PathLike[str], resume: bool, rescore: int | None) -> int | None:
    """The --rescore a resumed search keeps when none is given: the one its ``config.json`` recorded (0 for a
    search recorded before the race became the default), so that a resume never changes the budget split. None
    (resolve the default) for a new search, a given value, or a folder with no readable config."""
    if not resume or rescore is not None:
        return rescore
    stored = recorded_config(folder)
    if stored is None:
        return None
    value = stored.get("rescore", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_race_ablate(ablate: int, rescore: int | None, reference: str | None = None) -> None:
    """A one-line ``ValueError`` unless ``--race-ablate`` leaves the leader its slot in the race ``--rescore`` plans
    (``rescore_plan``: with a ``reference`` every candidate has one, and check_race_reference checks the seeds)."""
    if isinstance(ablate, bool) or not isinstance(ablate, int) or ablate < 0:
        raise ValueError(f"--race-ablate must be a whole number >= 0, got {ablate!r}")
    if ablate and not rescore:
        raise ValueError("--race-ablate needs a rescore race: give --rescore (6 or more child runs) or drop it")
    slots = rescore_plan(rescore or 0, reference, 0, ablate)[0]
    if ablate and ablate >= slots:
        raise ValueError(
            f"--race-ablate {ablate} leaves the leader no slot in the race of --rescore {rescore} "
            f"({slots} candidates): lower it or raise --rescore"
        )


def race_name(policy: str) -> str:
    """The name a listed policy races (and caches its runs) under: a file's stem, or the preset's name."""
    return Path(policy).stem if Path(policy).is_file() else policy


def check_race_policies(
    policies: tuple[str, ...], ablate: int, rescore: int | None, reference: str | None = None
) -> None:
    """A one-line ``ValueError`` unless ``--race-policies`` (policies raced beside a search's shortlist, each in one
    of the race's candidate slots) load and leave the search's own leader a slot in the race ``--rescore`` plans
    (``rescore_plan``; with a ``reference`` always)."""
    if not policies:
        return
    if not rescore:
        raise ValueError("--race-policies races them in the rescore race: give --rescore (6 or more child runs)")
    slots = rescore_plan(rescore, reference, len(policies), ablate)[0]
    if len(policies) + ablate >= slots:
        raise ValueError(
            f"--race-policies ({len(policies)}) and --race-ablate ({ablate}) leave the search's leader no slot in the "
            f"race of --rescore {rescore} ({slots} candidates): race fewer policies or raise --rescore"
        )
    names = [race_name(p) for p in policies]  # each entry's runs are cached under this name
    clash = sorted({n for n in names if names.count(n) > 1 or _reserved(n)})
    if clash:
        raise ValueError(
            f"--race-policies: {clash} would share cached race runs (two files of one name, no augmentation's, or a "
            "name the race gives its own candidates); rename or copy the files to distinct names"
        )
    from policy_search.policy import load_policy

    for p in policies:
        load_policy(p)  # a missing file or bad preset name: its one-line error before any run


def _reserved(name: str) -> bool:
    """Whether a listed policy's or the reference's cache name is one the race gives its own runs (no augmentation's,
    its candidates', its ablations')."""
    return name == "none" or re.fullmatch(r"c\d+|trial\d+|ablate-.*", name) is not None


def check_rescore_race(
    policies: tuple[str, ...], ablate: int, rescore: int | None, reference: str | None, export: str = "mean"
) -> None:
    """The checks of a search's rescore race options (``train_agent``, ``search`` and ``search compare`` alike):
    --race-ablate, --race-policies, --race-reference and --race-export, each a one-line ``ValueError``."""
    if export not in RACE_EXPORTS:
        raise ValueError(f"--race-export must be {' or '.join(RACE_EXPORTS)}, got {export!r}")
    if export != "mean" and not rescore:
        raise ValueError(f"--race-export {export} says when the rescore race's winner is exported: give --rescore")
    check_race_ablate(ablate, rescore, reference)
    check_race_policies(policies, ablate, rescore, reference)
    check_race_reference(reference, policies, ablate, rescore)


def reference_name(reference: str | None) -> str:
    """The name the race's reference runs (and caches its runs) under: ``none`` for no augmentation."""
    return "none" if reference is None else race_name(reference)


def check_reference(reference: str, policies: tuple[str, ...] = ()) -> None:
    """A one-line ``ValueError`` unless ``reference`` (a race's incumbent) loads, is not raced as a candidate too and
    caches its runs under a name of its own."""
    name = race_name(reference)
    if reference in policies or name in {race_name(p) for p in policies}:
        raise ValueError(f"the race reference {reference!r} is also a raced policy; list it in one place")
    if _reserved(name):
        raise ValueError(
            f"race reference {reference!r}: leave it out for no augmentation, or rename a file called like a "
            "race candidate (c0, trial3, ablate-...)"
        )
    from policy_search.policy import load_policy
    from policy_search.policy.base import Policy

    if not isinstance(load_policy(reference), Policy):  # a missing file or bad name: its own one-line error
        raise ValueError(
            f"race reference {reference!r} is not an augmentation policy (a batch transform such as synthetic data "
            "cannot be exported as a schedule); give a policy file or preset"
        )


def race_plan(runs: int, anchored: int = 0) -> tuple[int, tuple[int, ...]]:
    """(candidates, seeds per round) of a race that spends at most ``runs`` child runs, the reference's runs
    included: three candidates when they fit two rounds, else two; two seeds in the first round, the rest in the
    second (the better half and the reference). ``anchored`` (a reference policy in no augmentation's place: the
    number of candidates, the search's leader, listed policies and ablations): one round, every candidate and the
    reference on each of ``runs // (anchored + 1)`` seeds, since a challenger to an incumbent needs seeds more
    than rivals. Runs are counted as one child run each: a reference that learns inside the run (online-augnet,
    about 1.2 equivalents) spends more, which race.json's ``race_equivalents`` counts (``--rescore 9``: 8 runs,
    about 8.8 equivalents)."""
    if anchored:
        return anchored, (runs // (anchored + 1),)
    for candidates in (3, 2):
        first = (candidates + 1) * 2
        second = (runs - first) // ((candidates + 1) // 2 + 1)
        if second >= 2:
            return candidates, (2, second)
    return 2, (max(2, runs // 3),)


def rescore_plan(rescore: int, reference: str | None, listed: int = 0, ablate: int = 0) -> tuple[int, tuple[int, ...]]:
    """race_plan of a search's rescore race (``train_agent`` and ``search --rescore``): with a ``reference`` the
    search's leader, the ``listed`` --race-policies and the ``ablate`` ablations race it on shared seeds in one
    round; without, successive halving against no augmentation."""
    return race_plan(rescore, 1 + listed + ablate if reference else 0)


def check_race_reference(reference: str | None, policies: tuple[str, ...], ablate: int, rescore: int | None) -> None:
    """A one-line ``ValueError`` unless ``--race-reference`` loads, is raced in a rescore race and leaves that race at
    least two seeds for its candidates."""
    if reference is None:
        return
    if not rescore:
        raise ValueError("--race-reference is the rescore race's incumbent: give --rescore (6 or more child runs)")
    check_reference(reference, policies)
    candidates, (seeds,) = rescore_plan(rescore, reference, len(policies), ablate)
    if seeds < 2:
        raise ValueError(
            f"--rescore {rescore} gives the race's {candidates} candidates and its reference fewer than 2 seeds each "
            f"(a paired comparison needs two): raise --rescore to {2 * (candidates + 1)} or race fewer policies"
        )


def val_accuracy(
    task: str,
    policy: str | None,
    seed: int,
    cache: Path,
    *,
    data_dir: str | None = None,
    epochs: float | None = None,
    overrides: dict[str, Any] | None = None,
    device: str = "auto",
    progress_bar: bool = False,
) -> float:
    """Validation score (accuracy; entity F1 for a tagger) of a ``task`` child trained from scratch with ``policy``
    (a file or preset name, or None for no augmentation), the test split locked; cached in ``cache`` (a JSON file)
    and read from there after.
    ``overrides``: preset fields (``--set``); ``epochs`` wins over an ``epochs`` among them. ``progress_bar``: the
    run's own bar of batches."""
    if cache.exists():
        return float(json.loads(cache.read_text())["val_accuracy"])
    from policy_search.child.run import run_child
    from policy_search.policy import load_policy

    run, metrics = run_child(
        task,
        seed=seed,
        device=device,
        data_dir=data_dir,
        policy=load_policy(policy) if policy else None,
        test=False,
        progress_bar=progress_bar,
        **{**(overrides or {}), **({"epochs": epochs} if epochs else {})},
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    score = float(metrics["val"][run.preset.metric])
    equivalents = float(metrics["child_run_equivalents"])
    tmp.write_text(
        json.dumps({"policy": policy, "seed": seed, "val_accuracy": score, "child_run_equivalents": equivalents})
    )
    tmp.replace(cache)
    return score


def run_equivalents(cache: Path) -> float:
    """The child-run equivalents a cached race run spent (1 where the cache does not say: cached before this was
    recorded, or scored without one)."""
    if not cache.is_file():
        return 1.0
    return float(json.loads(cache.read_text()).get("child_run_equivalents", 1.0))


def searched_equivalents(folders: tuple[str, ...] | list[str]) -> float:
    """The child-run equivalents the searches in ``folders`` spent: each one's episodes (diverged ones too), or more
    where its frozen controller's provenance says its runs cost more (online learners' validation passes). What a
    standalone race adds its own runs to; counting only the pooled episodes would count a learner's run as one."""
    total = 0.0
    for folder in map(Path, folders):
        log, runs = folder / "episodes.csv", 0  # (absent where a caller pooled the episodes itself: 0 here)
        if log.is_file():
            with log.open(newline="") as f:
                runs = sum(1 for _ in csv.DictReader(f))
        controller = folder / "policy.json"
        spent = json.loads(controller.read_text()).get("provenance", {}) if controller.is_file() else {}
        total += max(float(runs), float(spent.get("child_run_equivalents") or 0.0))
    return round(total, 3)


def ci95(values: list[float]) -> float:
    """Half-width of the t-based 95% confidence interval of the mean of ``values`` (nan for fewer than two)."""
    from scipy import stats

    if len(values) < 2:
        return math.nan
    return float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values)))


def _same_data(dataset: str | None) -> str | None:
    """A ``--dataset`` as compared between a search and a race: a folder by its resolved path, a Hub id as given."""
    if dataset is None:
        return None
    path = Path(dataset).expanduser()
    return str(path.resolve()) if path.exists() else str(dataset)


def pool_episodes(
    task: str, folders: tuple[str, ...] | list[str], dataset: str | None = None, child: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The searches' episodes grouped by the policy they applied: ``[{"policy", "key", "accuracies", "searches"}]``
    with validation accuracies in percent (diverged episodes left out). ``child``: the race's preset fields of every
    child run (``run_overrides`` of its --set, --dataset and --epochs); a search whose children ran with others is
    named in a note on stderr: its accuracies are of another child (None: not checked)."""
    from policy_search.child.tasks import get_preset
    from policy_search.policy.action_space import ActionSpec

    groups: dict[str, dict[str, Any]] = {}
    notes = []
    for folder in map(Path, folders):
        config, log = folder / "config.json", folder / "episodes.csv"
        if not config.is_file() or not log.is_file():
            raise FileNotFoundError(f"{folder} is not a train_agent output folder (config.json and episodes.csv)")
        fields = _read_search_config(config)  # train_agent's config.json (every TrainConfig field)
        notes.append(_check_search(folder, fields, task, dataset, child))
        try:  # the action as the search narrowed it (its episodes.csv holds choices of the narrowed heads)
            preset = get_preset(task)
            spec = ActionSpec.of_run(fields, preset.modality, preset.tagging)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{config}: its action (ops, max_ops, magnitude_range) cannot be rebuilt: {exc}") from None
        with log.open(newline="") as f:
            rows = list(csv.DictReader(f))
        if rows and not rows[0].get("actions"):
            raise ValueError(
                f"{log} has no actions column (an older train_agent wrote it); rerun the search with --resume "
                "--episodes at its count to rewrite the log from the checkpoint"
            )
        for line, row in enumerate(rows, start=2):
            try:
                acc = float(row["final_val_acc"]) if row["final_val_acc"] not in ("", None) else math.nan
                if row.get("diverged") or not math.isfinite(acc):
                    continue
                policy = spec.to_policy(_first_action(row["actions"]))
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                why = f"no {exc.args[0]!r} column" if isinstance(exc, KeyError) else str(exc)
                raise ValueError(
                    f"{log}, line {line}: not an episode train_agent wrote ({why}); restore the file from the search "
                    f"or drop {folder} from --searches"
                ) from None
            key = _canonical(policy)
            group = groups.setdefault(key, {"policy": policy, "key": key, "accuracies": [], "searches": set()})
            group["accuracies"].append(100.0 * acc)
            group["searches"].add(str(folder))
    for note in filter(None, notes):  # once every search read: an error above stays the one line printed
        print(note, file=sys.stderr)
    return list(groups.values())


def _check_search(
    folder: Path, fields: dict[str, Any], task: str, dataset: str | None, child: dict[str, Any] | None
) -> str | None:
    """A one-line ``ValueError`` where a search's child runs are not the race's (task, data) or it made more than one
    decision per child run; a note (returned) where its preset fields (--set, --epochs) differ from the race's."""
    from policy_search.child.tasks import run_overrides

    searched, searched_data = fields.get("task"), fields.get("dataset")
    if searched != task:
        raise ValueError(f"{folder} searched task {searched!r}, not {task!r}; race on its task or drop it")
    if _same_data(searched_data) != _same_data(dataset):
        raise ValueError(
            f"{folder} searched dataset {searched_data or 'of the preset'!r}, not {dataset or 'of the preset'!r}; "
            "race with its --dataset or drop it"
        )
    steps, population = fields.get("steps_per_episode", 1), fields.get("population", 0)
    if steps != 1 or population:
        raise ValueError(
            f"{folder}: the race pools one decision per child run; it has steps_per_episode "
            f"{steps} and population {population}"
        )
    if child is None:
        return None
    ran = run_overrides(dict(fields.get("overrides") or {}), searched_data, fields.get("epochs"))
    if ran == child:
        return None
    return (  # legitimate (search on a cheap proxy, race at full length) but never silent
        f"note: {folder} ran its children with preset fields {ran or '(the preset)'}, the race runs "
        f"{child or '(the preset)'}: the search's accuracies only shortlist; the race's own runs rank"
    )


def _read_search_config(path: Path) -> dict[str, Any]:
    """A search folder's config.json as a dict, or a one-line ``ValueError`` naming the file."""
    from policy_search.outputs import read_json_object

    return read_json_object(path, "train_agent's config.json", "restore it or drop its folder from --searches")


def _first_action(text: Any) -> np.ndarray:
    """The first decision of an episode's ``actions`` cell (a JSON list of per-step action lists)."""
    actions = json.loads(text)
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], list) or not actions[0]:
        raise ValueError(f"actions {str(text)[:40]!r} is not a list of one or more action lists")
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in actions[0]):
        raise ValueError(f"actions {str(text)[:40]!r} holds something other than whole numbers")
    return np.asarray(actions[0])


def shortlist(
    groups: list[dict[str, Any]], k: int, prior_runs: float = 1.0, skip_inert: bool = True
) -> list[dict[str, Any]]:
    """The ``k`` non-identity policies (``skip_inert``: nor any that applies nothing in effect) with the highest
    shrunken mean accuracy: (sum + prior_runs * grand mean) / (runs + prior_runs), the grand mean over every pooled
    run (no augmentation included)."""
    every = [a for g in groups for a in g["accuracies"]]
    if not every:
        return []
    grand = float(np.mean(every))
    for g in groups:
        n = len(g["accuracies"])
        g["search_mean"] = float(np.mean(g["accuracies"]))
        g["shrunk_mean"] = (sum(g["accuracies"]) + prior_runs * grand) / (n + prior_runs)
    ranked = sorted((g for g in groups if not _is_identity(g["policy"], skip_inert)), key=lambda g: -g["shrunk_mean"])
    return ranked[:k]


def _plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["candidates"]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(rows) + 2), 3.6))
    x = np.arange(len(rows))
    y = [r["gain_mean"] for r in rows]
    # Every run's paired gain as a dot; the 95% CI only where 3+ seeds make it informative (with 2 seeds the t
    # quantile is 12.7 and the bar would flatten the plot).
    err = [r["gain_ci95"] if r["seeds"] >= 3 and math.isfinite(r["gain_ci95"]) else 0 for r in rows]
    colors = ["tab:green" if r["name"] == summary["winner"] else "tab:blue" for r in rows]
    ax.bar(x, y, yerr=err, capsize=3, color=colors, alpha=0.7)
    for xi, r in zip(x, rows):
        gains = r.get("gains", [])
        ax.plot(np.full(len(gains), xi), gains, "k.", ms=4)
        ax.annotate(
            f"{r['seeds']} seeds", (xi, 0), textcoords="offset points", xytext=(0, -12), ha="center", fontsize=7
        )
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, [r["name"] for r in rows], fontsize=7, rotation=20, ha="right")
    ax.set_ylabel(f"val accuracy vs {summary.get('reference', 'none')} (points)")
    ax.set_title(
        f"race on {summary['task']}: paired gains per seed (dots), mean and 95% CI for 3+ seeds (winner green)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# Fields that decide which policies the cached runs in ``evals/`` (keyed by candidate index and seed) belong to.
_CACHE_FIELDS = (
    "task", "searches", "policies", "candidates", "skip_inert", "prior_runs", "epochs", "overrides", "data_dir",
    "dataset", "ablate", "ablate_ops", "reference",
)  # fmt: skip
_LEGACY: dict[str, Any] = {
    "skip_inert": False,
    "overrides": {},
    "dataset": None,
    "ablate": 0,
    "ablate_ops": False,
    "reference": None,
}  # what a race's config.json written before the field existed ran with


def _evaluate(job: tuple[str, str | None, int, str, str | None, float | None, dict[str, Any], str]) -> str:
    task, policy, seed, cache, data_dir, epochs, overrides, device = job
    val_accuracy(task, policy, seed, Path(cache), data_dir=data_dir, epochs=epochs, overrides=overrides, device=device)
    return cache


def _run_in_workers(jobs: list[tuple], workers: int, bar, ray: str | None = None) -> None:
    """Train one round's child runs in ``workers`` spawned processes; each writes its own cache file, which the race
    then reads as if it had run the child itself. The bar counts every job: cached ones at once, the rest as they
    finish."""
    from policy_search.dispatch import run_jobs

    todo = [job for job in jobs if not Path(job[3]).exists()]
    bar.update(len(jobs) - len(todo))
    for _ in run_jobs(_evaluate, [(job,) for job in todo], workers=workers, ray=ray):
        bar.update(1)


def check_out(cfg: RaceConfig) -> None:
    """Refuse an output folder that holds a race whose cached runs would be read for other candidates."""
    path = Path(cfg.out) / "config.json"
    if not path.is_file():
        return
    old, new = json.loads(path.read_text()), json.loads(json.dumps(dataclasses.asdict(cfg)))
    for key in _CACHE_FIELDS:
        if key == "skip_inert" and not cfg.searches:
            continue  # without searches there is no shortlist for it to change
        held = old.get(key, _LEGACY.get(key))
        if held != new[key]:
            raise ValueError(
                f"{cfg.out} holds a race with {key} = {held!r}, not {new[key]!r}, and its cached runs would be read "
                f"for other candidates; give a fresh --out (only --rounds and --first-seed may change)"
                + (" or --no-skip-inert to rerun it as it ran" if key == "skip_inert" else "")
            )


def run_race(cfg: RaceConfig, command: list[str] | None = None, evidence: list | None = None) -> dict[str, Any]:
    """Shortlist, race, export; returns the summary written to race.json. ``command`` (the CLI's argv) is
    recorded in ``command.txt`` once the output folder is accepted. ``evidence``: ``(policy, runs)`` pairs that
    order the leader's ablations (--ablate) where the race pools no searches (an Optuna study's trials). Plan (the
    entries), run (the rounds, cached per run), aggregate (gains, the winner), write."""
    cfg.validate()
    check_out(cfg)
    out = Path(cfg.out)
    from policy_search.outputs import require_writable

    require_writable(out)  # before any work: a file or read-only folder is one line, not a traceback
    (out / "candidates").mkdir(parents=True, exist_ok=True)
    if command is not None:
        atomic_write_text(out / "command.txt", " ".join(shlex.quote(a) for a in command) + "\n")
    atomic_write_text(out / "config.json", json.dumps(dataclasses.asdict(cfg), indent=1) + "\n")
    groups, entries, image_spec = _plan_entries(cfg, out, evidence)
    seeds_by_round, start = [], cfg.first_seed
    for n in cfg.rounds:
        seeds_by_round.append(list(range(start, start + n)))
        start += n
    reference, acc, rows, alive = _run_rounds(cfg, out, entries, seeds_by_round)
    summary, schedule = _aggregate(cfg, groups, entries, image_spec, seeds_by_round, reference, acc, rows, alive)
    _write_race(cfg, out, summary, schedule, rows)
    return summary


def _plan_entries(cfg: RaceConfig, out: Path, evidence: list | None = None) -> tuple[list[dict], list[dict], Any]:
    """The searches' pooled episodes, the shortlisted candidates (saved as files) and the policies raced beside
    them; the image spec the searches ran with."""
    from policy_search.child.tasks import run_overrides
    from policy_search.policy import load_policy

    child = run_overrides(cfg.overrides, cfg.dataset, cfg.epochs)  # what the searches' children must have run with
    groups = pool_episodes(cfg.task, cfg.searches, cfg.dataset, child) if cfg.searches else []
    listed = {p: load_policy(p) for p in cfg.policies}
    anchor = load_policy(cfg.reference) if cfg.reference else None
    known = {**listed, **({cfg.reference: anchor} if cfg.reference else {})}
    picked = _beside_listed(cfg, known, shortlist(groups, cfg.candidates + len(known), cfg.prior_runs, cfg.skip_inert))
    image_spec = None
    for folder in cfg.searches:
        if (Path(folder) / "schedule.json").is_file():
            image_spec = load_policy(str(Path(folder) / "schedule.json")).image_spec
            break
    # the ablations take the last slots: of the shortlist with searches, else of --policies
    cut: list[dict] = []
    if cfg.ablate:  # the listed policies are loaded here only when an ablation needs their leader
        pool = [g["policy"] for g in picked] if cfg.searches else [load_policy(p) for p in cfg.policies]
        evidence = [(g["policy"], len(g["accuracies"])) for g in groups] if groups else evidence
        cut = _ablated(cfg, pool, evidence or [], out, image_spec, anchor)
    kept = min(len(picked) if cfg.searches else len(cfg.policies), max(1, cfg.slots - len(cut)))
    picked, policies = (picked[:kept], cfg.policies) if cfg.searches else (picked, cfg.policies[:kept])
    entries: list[dict[str, Any]] = []
    for i, g in enumerate(picked):
        path = out / "candidates" / f"c{i}.json"
        g["policy"].image_spec = image_spec
        g["policy"].save(path, provenance={"task": cfg.task, "agent": "race candidate"})
        entries.append(
            {
                "name": f"c{i}",
                "file": str(path),
                "repr": repr(g["policy"]),
                "search_runs": len(g["accuracies"]),
                "search_mean": g["search_mean"],
                "shrunk_mean": g["shrunk_mean"],
            }
        )
    for p in policies:
        entries.append({"name": race_name(p), "file": p, "repr": repr(listed[p])})
    entries += cut
    if not entries:
        raise ValueError("the searches hold no augmenting policy to race (every run applied no augmentation)")
    return groups, entries, image_spec


def _beside_listed(cfg: RaceConfig, listed: dict[str, Any], picked: list[dict]) -> list[dict]:
    """The shortlist without policies that ``--policies`` or ``--reference`` (``listed``: file -> policy) name already
    (a search over the online action can rebuild the preset it races beside), cut to ``cfg.candidates``."""
    if not (cfg.searches and listed):
        return picked[: cfg.candidates]
    from policy_search.benchmark.ablation import key

    keys = {key(p) for p in listed.values()}
    return [g for g in picked if key(g["policy"]) not in keys][: cfg.candidates]


def _ablated(
    cfg: RaceConfig, pool: list, evidence: list, out: Path, image_spec: Any, reference: Any = None
) -> list[dict]:
    """Race entries for up to ``cfg.ablate`` ablations of the leader ``pool[0]`` (saved as
    ``candidates/ablate-<part>.json``), none equal to a policy of ``pool`` that keeps its slot or to the
    ``reference`` (the race's incumbent policy, if any)."""
    from policy_search.benchmark.ablation import ablations, key

    if not cfg.ablate or not pool:
        return []
    taken = {key(p) for p in pool[: max(1, cfg.slots - cfg.ablate)]}
    if reference is not None:  # an ablation equal to the incumbent would race it against itself
        taken.add(key(reference))
    entries = []
    for label, policy in ablations(pool[0], evidence, cfg.ablate_ops):
        if key(policy) in taken or len(entries) == cfg.ablate:
            continue
        name = f"ablate-{label}"
        path = out / "candidates" / f"{name}.json"
        policy.image_spec = image_spec or pool[0].image_spec
        policy.save(path, provenance={"task": cfg.task, "agent": "race ablation", "ablated": label})
        entries.append({"name": name, "file": str(path), "repr": repr(policy), "ablated": label})
    return entries


def _gain(acc: dict[tuple[str, int], float], reference: dict[int, float], name: str) -> list[float]:
    """A candidate's paired gains over the reference (no augmentation by default), in points, on the seeds it ran."""
    return [100 * (acc[(name, s)] - reference[s]) for s in reference if (name, s) in acc]


def _run_rounds(cfg: RaceConfig, out: Path, entries: list[dict[str, Any]], seeds_by_round: list[list[int]]):
    """Successive halving on shared seeds: every surviving candidate and the reference train on each round's
    seeds (through the workers or Ray when asked; every run cached in ``evals/``); the better half goes on."""
    from tqdm.auto import tqdm

    child = cfg.child_overrides()  # every child run's preset overrides (--set and --dataset)
    evals, ref = out / "evals", reference_name(cfg.reference)
    reference: dict[int, float] = {}
    acc: dict[tuple[str, int], float] = {}
    alive = [e["name"] for e in entries]
    by_name = {e["name"]: e for e in entries}
    rows: list[dict[str, Any]] = []
    total, field = 0, len(alive)  # planned runs if each round halves the field (the reference runs on every seed)
    for r, seeds in enumerate(seeds_by_round):
        total += (field + 1) * len(seeds)
        field = field if r == len(seeds_by_round) - 1 else max(1, math.ceil(field / 2))

    solo = cfg.progress_bar and cfg.workers == 1 and cfg.ray is None  # one run at a time: its own bar shows

    def score(name: str, file: str | None, seed: int) -> float:
        return val_accuracy(
            cfg.task, file, seed, evals / f"{name}-seed{seed}.json", data_dir=cfg.data_dir, epochs=cfg.epochs,
            overrides=child, device=cfg.device, progress_bar=solo,
        )  # fmt: skip

    with tqdm(total=total, desc=f"race on {cfg.task}", unit="run", disable=not cfg.progress_bar) as bar:
        for r, seeds in enumerate(seeds_by_round):
            step = 1  # the bar's step per run read below; the workers have counted them already
            if cfg.workers > 1 or cfg.ray is not None:
                named = [(ref, cfg.reference)] + [(n, by_name[n]["file"]) for n in alive]
                jobs = [
                    (
                        cfg.task,
                        file,
                        s,
                        str(evals / f"{name}-seed{s}.json"),
                        cfg.data_dir,
                        cfg.epochs,
                        child,
                        cfg.device,
                    )
                    for s in seeds
                    for name, file in named
                ]
                _run_in_workers(jobs, cfg.workers, bar, cfg.ray)
                step = 0
            for s in seeds:
                reference[s] = score(ref, cfg.reference, s)
                bar.update(step)
                for name in alive:
                    acc[(name, s)] = score(name, by_name[name]["file"], s)
                    bar.update(step)
                    gain = 100 * (acc[(name, s)] - reference[s])
                    rows.append(
                        {"round": r, "candidate": name, "seed": s, "val_accuracy": acc[(name, s)],
                         "reference_accuracy": reference[s], "gain_points": gain}
                    )  # fmt: skip
            alive.sort(key=lambda n: -float(np.mean(_gain(acc, reference, n))))
            if r < len(seeds_by_round) - 1:
                alive = alive[: max(1, math.ceil(len(alive) / 2))]
            bar.set_postfix_str(f"leader {alive[0]} {float(np.mean(_gain(acc, reference, alive[0]))):+.2f} pts")
    return reference, acc, rows, alive


def _aggregate(cfg, groups, entries, image_spec, seeds_by_round, reference, acc, rows, alive):
    """Each candidate's gains, the winner (by mean, or by the lower bound with --pick lcb or --export confident) and
    the schedule exported: the winner if it beats the reference (``_beats``: on average, or with confidence), else
    the reference (no augmentation by default)."""
    from policy_search.policy import load_policy
    from policy_search.policy.base import Policy
    from policy_search.policy.kinds import Schedule, Sequence

    if cfg.pick == "lcb" or cfg.export == "confident":  # the finalist most likely to clear the bound
        alive.sort(key=lambda n: -(float(np.mean(_gain(acc, reference, n))) - ci95(_gain(acc, reference, n))))
    winner = alive[0]
    by_name = {e["name"]: e for e in entries}
    for e in entries:
        gains = _gain(acc, reference, e["name"])
        e.update(gain_mean=float(np.mean(gains)), gain_ci95=ci95(gains), seeds=len(gains), gains=gains)
    won = _beats(by_name[winner], cfg.export)
    if won:
        chosen = load_policy(by_name[winner]["file"])
    else:  # the reference: the incumbent, or no augmentation
        chosen = load_policy(cfg.reference) if cfg.reference else Sequence([])
    if not isinstance(chosen, Policy):
        raise ValueError(f"the winner {by_name[winner]['file']} is not a policy that a schedule can hold")
    schedule = chosen if isinstance(chosen, Schedule) else Schedule([(1.0, chosen)])
    if image_spec is not None or chosen.image_spec is not None:
        schedule.image_spec = image_spec or chosen.image_spec
    search_runs = sum(len(g["accuracies"]) for g in groups)
    searched = max(float(search_runs), searched_equivalents(cfg.searches))  # never fewer than the pooled episodes
    race_runs = len(rows) + len(reference)
    evals = Path(cfg.out) / "evals"  # what the race's runs cost, learners' validation passes included
    ref = reference_name(cfg.reference)
    spent = [run_equivalents(evals / f"{ref}-seed{s}.json") for s in reference]
    raced = round(sum(spent + [run_equivalents(evals / f"{name}-seed{s}.json") for name, s in acc]), 3)
    summary: dict[str, Any] = {
        "task": cfg.task,
        "description": cfg.description,
        "searches": list(cfg.searches),
        "search_runs": search_runs,
        "race_runs": race_runs,
        "race_equivalents": raced,
        "search_equivalents": searched,
        "child_run_equivalents": round(searched + raced, 3),
        "rounds": seeds_by_round,
        "reference": ref,
        "reference_val_accuracy": {str(s): a for s, a in reference.items()},
        "candidates": entries,
        "winner": winner,
        "kept": winner if won else ref,
        "pick": cfg.pick,
        "export": cfg.export,
        "exported": by_name[winner]["repr"]
        if won
        else f"{'no augmentation' if cfg.reference is None else 'the reference ' + ref} (no candidate beat it "
        + ("on average)" if cfg.export == "mean" else "with confidence)"),
    }
    return summary, schedule


def _beats(entry: dict[str, Any], rule: str) -> bool:
    """Whether a candidate's paired gains over the reference earn it the export under ``rule`` (RaceConfig.export).
    A confidence bound over one seed does not exist: ``confident`` then keeps the reference."""
    if rule == "mean":
        return entry["gain_mean"] > 0
    bound = entry["gain_mean"] - entry["gain_ci95"]
    return entry["seeds"] >= 2 and math.isfinite(bound) and bound > 0


def _write_race(cfg: RaceConfig, out: Path, summary: dict[str, Any], schedule: Any, rows: list[dict]) -> None:
    """schedule.json (with its provenance), race.csv, race.json and race.png."""
    # the file holds the winner, or the reference (no augmentation by default; gain 0): "kept" says which
    winner = summary.get("kept", summary["winner"])
    gain = next((e["gain_mean"] for e in summary["candidates"] if e["name"] == winner), 0.0)
    schedule.save(
        out / "schedule.json",
        provenance={
            "task": cfg.task,
            "agent": "race",
            "seed": cfg.first_seed,
            "search_budget": {"searches": list(cfg.searches), "race_rounds": summary["rounds"]},
            "child_run_equivalents": summary["child_run_equivalents"],
            "race_winner": winner,
            "race_gain_points": gain,
        },
    )
    with (out / "race.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_json(out / "race.json", summary)  # strict JSON: a CI over one seed (nan) is written as null
    _plot(summary, out / "race.png")


def adopt_winner(
    out: Path, race: dict[str, Any], pick: str, kept: str, searched: float, provenance: dict[str, Any]
) -> Any:
    """After a search's rescore race (``out/race``): the search's own pick ``out/<pick>.json`` (and its plot) is
    kept as ``<kept>.*``, and the race's winner (or its reference: no augmentation by default) takes its place with provenance: the
    ``provenance`` given, ``selection: race``, the runs of the race and ``child_run_equivalents`` = ``searched``
    (the search's child-run equivalents) + the race's. Returns the winner. Shared by ``train_agent --rescore`` and ``search --rescore``."""
    from policy_search.policy import load_policy

    for ext in ("json", "png"):
        src, dst = out / f"{pick}.{ext}", out / f"{kept}.{ext}"
        if src.exists() and not dst.exists():
            src.replace(dst)
    winner = load_policy(str(out / "race" / "schedule.json"))
    winner.save(
        out / f"{pick}.json",
        provenance={
            **(winner.provenance or {}),
            **provenance,
            "selection": "race",
            "race_runs": race["race_runs"],
            "child_run_equivalents": round(searched + race["race_equivalents"], 3),
        },
    )
    return winner


def build_parser():
    from policy_search.config import add_set_option, dataclass_parser

    parser = dataclass_parser(
        RaceConfig,
        prog="python -m policy_search.search race",
        description=__doc__.split("\n\n")[0],
        skip=["overrides"],
        choices={"device": ("auto", "cpu", "cuda"), "pick": ("mean", "lcb"), "export": RACE_EXPORTS},
    )
    add_set_option(parser, "preset field override of every child run, e.g. --set lr_schedule=cosine (repeatable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from policy_search.child.data import DatasetError
    from policy_search.config import overrides_to_dict, parse_config
    from policy_search.threads import use_all_cores_unless_configured

    argv = list(sys.argv[1:] if argv is None else argv)
    cfg = parse_config(RaceConfig, build_parser(), argv, convert=overrides_to_dict)
    use_all_cores_unless_configured()
    try:
        summary = run_race(cfg, ["python", "-m", "policy_search.search", "race", *argv])
    except (ValueError, TypeError, FileNotFoundError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for e in summary["candidates"]:
        print(
            f"{e['name']:>6} {' '.join(e['repr'].split())[:70]:<70} {e['gain_mean']:+.2f} ± {e['gain_ci95']:.2f} points vs {summary['reference']} "
            f"({e['seeds']} seeds)"
        )
    print(f"exported {summary['exported']} -> {Path(cfg.out) / 'schedule.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
