"""Optuna search over augmentation policies: the non-RL baseline the RL agents are compared against.

    python -m policy_search.search --task mnist-episode --sampler tpe --pruner median --trials 30 \
        --space randaugment --out runs/search-tpe
    python -m policy_search.search compare --task mnist-episode --budget-samples 100000 --seeds 3 --out DIR

Each trial samples a policy from a search space (``policy_search.search.space``), trains one child on the task
preset with it and scores it by validation accuracy (never test; ``policy_search.search.objective``). The study
lives in a storage (``policy_search.search.storage``): by default the journal file ``OUT/study.log``; several
workers, on one machine (journal) or many (PostgreSQL), share one study and together run exactly ``--trials``
trials (docs/SEARCH.md). Outputs in ``--out``: ``best_policy.json`` (a policy file for ``load_policy`` and the
benchmark), ``trials.csv``, ``config.json`` and ``command.txt``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import shlex
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from policy_search.outputs import atomic_write_text, remove_stale_temps
from policy_search.policy.action_space import DEFAULT_RATIOS, parse_synthetic
from policy_search.search import storage as st
from policy_search.search.space import SPACES, action_space_spec, build_policy, check_space_modality, narrowed_space
from policy_search.threads import configure_threads

__all__ = ["SearchConfig", "main", "run_search", "trials_table", "write_outputs"]


@dataclass
class SearchConfig:
    """One search (or one worker of a shared search). Every field has a default that runs."""

    task: str = "mnist-episode"
    """Task preset (``policy_search.child.tasks.PRESETS``) every trial trains on."""
    sampler: str = "tpe"
    """``tpe`` or ``random``."""
    pruner: str = "none"
    """``none``, ``median`` or ``hyperband``."""
    trials: int = 20
    """Total trials of the study, across all workers (finished plus running)."""
    out: str = "runs/search"
    """Output directory (created)."""
    storage: str | None = None
    """Journal file path ending in ``.log`` or a database URL; default ``OUT/study.log``."""
    resume: bool = False
    """Continue (or join) an existing study; without it a study that already has trials is an error."""
    space: str = "randaugment"
    """Search space: ``subpolicies``, ``randaugment``, ``schedule`` or ``compact`` (flip, crop, RandAugment N and M)."""
    synthetic: str | None = None
    """``vae`` or ``dcgan`` (optionally ``:size``): also search the synthetic-data ratio r (0, 0.1, 0.2, 0.3, 0.5),
    applied through the cached generator; the best r is exported as ``best_synthetic.json``."""
    seed: int = 0
    """Sampler seed (reseeded per trial number) and the child seed of every trial."""
    study_name: str | None = None
    """Default ``TASK-SPACE-SAMPLER-PRUNER-sSEED``."""
    epochs: float | None = None
    """Override the preset's child epochs."""
    data_dir: str | None = None
    """Dataset root; default ``$POLICY_SEARCH_DATA_DIR``."""
    device: str = "auto"
    """``auto``, ``cpu`` or ``cuda``."""
    evals_per_epoch: int = 1
    """Validation reports per child epoch (the pruners' resolution)."""
    n_startup_trials: int = 10
    """TPE: random trials before the model is used."""
    budget_samples: int | None = None
    """Optional compute cap: stop before a trial that could push the study's child-training samples past it."""
    heartbeat_s: float = 10.0
    """Seconds between a running trial's heartbeats."""
    grace_s: float = 60.0
    """A running trial silent this long belongs to a killed worker and is marked FAIL."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Preset field overrides (``--set train_size=512``), e.g. a tiny task for tests."""
    dataset: str | None = None
    """Run the task's recipe on this dataset (folder or Hub id; validation is 10% of its training split)."""
    quiet: bool = False
    """No per-trial progress lines."""
    ops: tuple[str, ...] = field(default=(), metadata={"nargs": "+"})
    """Narrow an action space (compact, families, rates, text-*) to these ops, as ``train_agent --ops`` does."""
    max_ops: int | None = None
    """Action spaces: the most ops per sample (RandAugment's N), as ``train_agent --max-ops``."""
    magnitude_range: tuple[float, ...] = field(default=(), metadata={"nargs": "+"})
    """Action spaces: LOW HIGH fractions of the magnitude space's maximum, as ``train_agent --magnitude-range``."""
    rescore: int | None = None
    """Trials of the --trials budget kept for selection that noise cannot fool: the study runs --trials minus this
    many, then its best distinct policies race on shared validation child seeds against no augmentation (``search
    race``); the winner becomes best_policy.json (the study's own best stays as study_best_policy.json). Default: a
    third of --trials from 12 up (16 -> 6, 48 -> 16) when neither --synthetic nor --budget-samples is set, else 0;
    0: the study's best trial, scored on one child seed, is exported."""
    race_ablate: int = 0
    """With --rescore: race slots given to ablations of the race's leader (``search race --ablate``), ordered by the
    study's trials."""
    race_policies: tuple[str, ...] = field(default=(), metadata={"nargs": "+"})
    """With --rescore: policies (files or preset names) raced beside the study's best, each in one of the race's
    candidate slots (``train_agent --race-policies``)."""
    race_reference: str | None = None
    """With --rescore: an incumbent (a file or preset name) in no augmentation's place in the race, exported unless
    the study's best (or a --race-policies entry) beats it on average (--race-export) over shared seeds in one round
    (``train_agent --race-reference``)."""
    race_export: str = "mean"
    """With --rescore: when the race's winner replaces its reference (no augmentation, or --race-reference) in
    schedule.json: mean (its mean paired gain is above 0) or confident (the lower bound of the gain's 95% CI is
    above 0, so one seed where the incumbent was unlucky does not decide; ``search race --export``)."""

    def validate(self) -> None:
        from policy_search.child.tasks import get_preset
        from policy_search.search.objective import PRUNERS, SAMPLERS

        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise ValueError(f"unknown pruner {self.pruner!r}; choose one of {', '.join(PRUNERS)}")
        if self.synthetic is not None:
            parse_synthetic(self.synthetic)  # raises with the valid choices
        if self.space not in SPACES:
            raise ValueError(f"unknown search space {self.space!r}; choose one of {', '.join(SPACES)}")
        if isinstance(self.seed, bool) or not 0 <= self.seed < 2**62:
            raise ValueError(f"--seed must be from 0 to 2**62 - 1, got {self.seed}")
        if self.trials <= 0 or self.trials > 10_000_000:
            raise ValueError(f"--trials must be a number of trials from 1 to 10,000,000, got {self.trials}")
        from policy_search.benchmark.race import MIN_RACE_RUNS, default_rescore

        if self.rescore is None:  # the race does not know the synthetic ratio or a sample cap
            self.rescore = default_rescore(self.trials) if self.synthetic is None and self.budget_samples is None else 0
        if self.rescore and 3000 + 100 * self.seed >= 2**62:  # the race's seeds (see _rescore) must fit too
            raise ValueError(f"--seed with --rescore must be below {(2**62 - 3000) // 100}, got {self.seed}")
        if self.rescore and (self.rescore < MIN_RACE_RUNS or self.trials - self.rescore < 4):
            raise ValueError(
                f"--rescore must be 0 or at least 6 child runs and leave at least 4 trials; got --rescore "
                f"{self.rescore} of --trials {self.trials}"
            )
        from policy_search.benchmark.race import check_rescore_race

        check_rescore_race(
            tuple(self.race_policies), self.race_ablate, self.rescore, self.race_reference, self.race_export
        )
        if self.race_policies and self.race_ablate:  # the study's race lists its trials as policies: an ablation
            raise ValueError(  # would take the last listed slot, which is a --race-policies one
                "search takes --race-policies or --race-ablate, not both (train_agent takes both); drop one"
            )
        if self.epochs is not None and self.epochs <= 0:
            raise ValueError(f"--epochs must be positive, got {self.epochs}")
        if self.evals_per_epoch <= 0:
            raise ValueError(f"--evals-per-epoch must be positive, got {self.evals_per_epoch}")
        if self.budget_samples is not None and self.budget_samples <= 0:
            raise ValueError(f"--budget-samples must be positive, got {self.budget_samples}")
        if self.n_startup_trials < 0:
            raise ValueError(
                f"--n-startup-trials must be >= 0 (random trials before TPE's model is used), got {self.n_startup_trials}"
            )
        if not 0 < self.heartbeat_s < self.grace_s:
            raise ValueError(f"need 0 < --heartbeat ({self.heartbeat_s}) < --grace ({self.grace_s})")
        preset = get_preset(self.task, **self.preset_overrides())  # unknown task or field -> a ValueError
        check_space_modality(self.space, self.task, preset.modality)  # an image action on a text task, or back
        if self.narrowing():
            action_space_spec(self.space, **self.space_args())  # unknown ops, bad ranges, a space that has no action
        st.describe_storage(self.storage_spec())

    def narrowing(self) -> dict[str, Any]:
        """--ops / --max-ops / --magnitude-range as ``narrowed_space`` takes them (empty: the space as it is)."""
        values = {"ops": tuple(self.ops), "max_ops": self.max_ops, "magnitude_range": tuple(self.magnitude_range)}
        return {k: v for k, v in values.items() if v not in ((), None)}

    def space_args(self) -> dict[str, Any]:
        """``narrowing()``, and ``tagging`` when --space is an action space and the task tags tokens (its action
        draws the tagging ops too, as ``train_agent``'s does): what ``narrowed_space`` and ``build_policy`` take."""
        from policy_search.child.tasks import get_preset
        from policy_search.search.space import ACTION_SPACES

        tagging = self.space in ACTION_SPACES and get_preset(self.task, **self.preset_overrides()).tagging
        return {**self.narrowing(), **({"tagging": True} if tagging else {})}

    def space_fn(self) -> Any:
        """The sampler of --space, narrowed when asked (and widened to the tagging ops on a tagging task)."""
        args = self.space_args()
        return narrowed_space(self.space, **args) if args else SPACES[self.space]

    def preset_overrides(self) -> dict[str, Any]:
        from policy_search.child.tasks import dataset_overrides

        return {
            **self.overrides,
            **dataset_overrides(self.dataset),
            **({"epochs": self.epochs} if self.epochs is not None else {}),
        }

    def storage_spec(self) -> str:
        return self.storage or str(Path(self.out) / "study.log")

    def name(self) -> str:
        return self.study_name or f"{self.task}-{self.space}-{self.sampler}-{self.pruner}-s{self.seed}"


# What must agree between workers (and between a run and its --resume) for their trials to mean the same thing.
_STUDY_KEYS = (
    "task", "space", "synthetic", "epochs", "overrides", "evals_per_epoch", "data_dir", "dataset", "ops", "max_ops",
    "magnitude_range",
)  # fmt: skip
_NARROWING = ("ops", "max_ops", "magnitude_range")


def _open_study(config: SearchConfig, storage: optuna.storages.BaseStorage, n_reports: int) -> optuna.Study:
    from policy_search.search.objective import make_pruner, make_sampler

    study = optuna.create_study(
        storage=storage,
        study_name=config.name(),
        direction="maximize",
        sampler=make_sampler(config.sampler, config.seed, config.n_startup_trials),
        pruner=make_pruner(config.pruner, n_reports),
        load_if_exists=True,
    )
    # (the narrowing keys only when set: studies created before they existed compare equal without them)
    mine = {k: getattr(config, k) for k in _STUDY_KEYS if k not in _NARROWING or k in config.narrowing()}
    stored = study.user_attrs.get("search")
    existing = study.get_trials(deepcopy=False)
    if existing and not config.resume:
        raise RuntimeError(
            f"study {config.name()!r} in {config.storage_spec()!r} already has {len(existing)} "
            "trial(s); pass --resume to continue it (or to join it as another worker), or choose "
            "another --study-name / --out"
        )
    if stored is None:
        study.set_user_attr("search", mine)
    elif json.loads(json.dumps({**dict.fromkeys(mine), **stored})) != json.loads(json.dumps(mine)):
        # (a key added after the study was created reads as None: its default)
        raise RuntimeError(
            f"study {config.name()!r} was created with {stored}, this run has {mine}; "
            "use the same settings to resume or join it, or another --study-name"
        )
    return study


# What Optuna raises replaying a journal file whose lines are not its log entries (not JSON, a list, an op code
# it does not know): caught only around opening a journal storage and its study.
_JOURNAL_ERRORS = (
    json.JSONDecodeError,
    UnicodeDecodeError,
    TypeError,
    KeyError,
    AttributeError,
    IndexError,
    AssertionError,
)


@contextlib.contextmanager
def _reading_journal(spec: str) -> Iterator[None]:
    """A journal file that Optuna cannot replay becomes one line naming it and saying what to do."""
    if st.describe_storage(spec) != "journal":
        yield
        return
    try:
        yield
    except _JOURNAL_ERRORS as exc:
        raise ValueError(
            f"storage {spec!r} is not an Optuna journal this search can read ({exc.__class__.__name__}: {exc}); "
            "it is damaged or not a study.log: move it aside and rerun (without --resume a new study starts), or "
            "give another --out / --storage"
        ) from None


def _nothing_to_export(study: optuna.Study, config: SearchConfig) -> str:
    """Why a finished search has no policy to export (no trial completed without diverging), and what to do."""
    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("over_cap")]
    diverged = sum(1 for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get("diverged"))
    counts = {
        "diverged": diverged,
        "pruned": sum(1 for t in trials if t.state == TrialState.PRUNED),
        "failed": sum(1 for t in trials if t.state == TrialState.FAIL),
    }
    detail = ", ".join(f"{n} {what}" for what, n in counts.items() if n) or "none ran"
    advice = (
        "training diverged (loss nan/inf): lower the learning rate (--set lr=...) or use a milder --space"
        if diverged
        else "raise --trials or --budget-samples"
    )
    return (
        f"no trial of the search completed without diverging ({len(trials)} trial(s): {detail}), so there is no "
        f"best_policy.json to export; {advice}; the trials are in {Path(config.out) / 'trials.csv'}"
    )


def _largest(trials: list[optuna.trial.FrozenTrial], trial_samples: int) -> int:
    """What the next trial may cost: one run, or the most a trial has cost (a learner's validation passes)."""
    return max([trial_samples, *(int(t.user_attrs.get("samples", 0)) for t in trials)])


def _samples(trials: list[optuna.trial.FrozenTrial]) -> int:
    return sum(int(t.user_attrs.get("samples", 0)) for t in trials)


def _log(config: SearchConfig, message: str) -> None:
    if not config.quiet:
        print(message, flush=True)


def run_search(config: SearchConfig, argv: list[str] | None = None) -> dict[str, Any]:
    """Run this worker's share of the study until it holds ``config.trials`` finished trials (or the sample
    budget is spent), then write the outputs. ``argv`` is recorded in command.txt. Returns a summary dict."""
    from policy_search.benchmark.race import recorded_rescore

    config.rescore = recorded_rescore(config.out, config.resume, config.rescore)  # a resume keeps its split
    config.validate()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    study, storage, image, trial_samples = _open(config, argv)
    remove_stale_temps(out, older_than_s=config.grace_s)  # left by a worker killed mid-write (workers share OUT)
    worker, start = st.worker_name(), time.perf_counter()
    ran = _work(config, study, storage, image, trial_samples, worker)
    summary = write_outputs(study, config, image, trial_samples)
    if summary["best_trial"] is None:
        raise RuntimeError(_nothing_to_export(study, config))
    if config.rescore:
        summary.update(rescore=_rescore(study, config, image, trial_samples))
    summary.update(worker=worker, trials_run_by_this_worker=ran, worker_wall_s=time.perf_counter() - start)
    _log(
        config,
        f"[search] done: {summary['finished']} finished trial(s), best val acc "
        f"{summary['best_value']} (trial {summary['best_trial']}), outputs in {out}",
    )
    return summary


def _open(config: SearchConfig, argv: list[str] | None) -> tuple[optuna.Study, Any, Any, int]:
    """The study (created or joined) and its storage, the task's image spec and the samples one unpruned trial
    trains on; records config.json and command.txt. A sample budget under one trial is refused first."""
    from policy_search.child.run import ChildRun
    from policy_search.search.objective import planned_reports

    out = Path(config.out)
    with _reading_journal(config.storage_spec()):
        storage = st.make_storage(config.storage_spec())
    probe = ChildRun(
        config.task,
        seed=config.seed,
        device=config.device,
        data_dir=config.data_dir,
        allow_test=False,
        **config.preset_overrides(),
    )
    image, n_reports = probe.image_spec, planned_reports(probe, config.evals_per_epoch)
    trial_samples = probe.total_batches * probe.preset.batch_size  # what one unpruned trial costs
    if config.budget_samples is not None and config.budget_samples < trial_samples:
        raise ValueError(
            f"--budget-samples {config.budget_samples} is less than one trial: a trial of {config.task!r} trains on "
            f"{trial_samples} samples; give at least {trial_samples} (or drop --budget-samples)"
        )
    with _reading_journal(config.storage_spec()):
        study = _open_study(config, storage, n_reports)
    _write_json(
        out / "config.json",
        {
            **asdict(config),
            "storage": config.storage_spec(),
            "study_name": config.name(),
            "preset": probe.preset.to_dict(),
            "samples_per_trial": trial_samples,
            "optuna_version": optuna.__version__,
        },
    )
    command = ["python", "-m", "policy_search.search", *(argv if argv is not None else _argv_of(config))]
    atomic_write_text(out / "command.txt", " ".join(shlex.quote(a) for a in command) + "\n")
    return study, storage, image, trial_samples


def _work(config: SearchConfig, study: optuna.Study, storage: Any, image: Any, trial_samples: int, worker: str) -> int:
    """Ask, run and tell trials until the study holds the search's share of --trials finished ones (workers on
    other machines count) or the sample budget is spent; returns how many this worker ran."""
    from policy_search.search.objective import run_trial

    ran = 0
    while True:
        stale = st.fail_stale_trials(study, storage, config.grace_s)
        if stale:
            _log(
                config, f"[search] marked trial(s) {stale} FAIL: no heartbeat for {config.grace_s:g} s (killed worker)"
            )
        finished = study.get_trials(deepcopy=False, states=st.FINISHED)
        alive = study.get_trials(deepcopy=False, states=st.ALIVE)
        searched = config.trials - config.rescore  # the rest of the budget is the race's
        if len(finished) >= searched:
            return ran
        if (
            config.budget_samples is not None
            and _samples(finished) + (len(alive) + 1) * _largest(finished, trial_samples) > config.budget_samples
        ):
            if not alive:
                _log(config, f"[search] sample budget {config.budget_samples} reached")
                return ran
        elif len(finished) + len(alive) < searched:
            trial = study.ask()
            if st.trials_ahead(study, trial.number) >= searched:
                # Another worker claimed the last slot between our check and ask(): give this one back.
                trial.set_user_attr("over_cap", True)
                study.tell(trial, state=TrialState.FAIL)
                continue
            _run_one(config, study, storage, trial, image, worker, run_trial)
            ran += 1
            write_outputs(study, config, image, trial_samples)
            continue
        # Every remaining slot is held by a running trial: wait until those finish or go stale.
        time.sleep(min(config.heartbeat_s, 5.0))


def _rescore(study: optuna.Study, config: SearchConfig, image: Any, trial_samples: int) -> dict[str, Any]:
    """Race the study's best distinct policies on shared validation seeds within ``config.rescore`` child runs;
    the winner (or the race's reference: no augmentation by default) becomes best_policy.json, the study's best is kept as study_best_policy.json."""
    from policy_search.outputs import waiting_lock

    out = Path(config.out)

    with waiting_lock(out / "race.lock"):  # several workers of one study: the second reads the first's race runs
        return _race_shortlist(study, config, image, trial_samples)


def _shortlist_trials(config: SearchConfig, built: list[tuple[Any, Any]], slots: int) -> list[str]:
    """The best distinct trials' policies (``built``: (trial, policy), best first), saved as
    ``rescore/trial<N>.json``, up to ``slots`` of them (the listed policies take the others); a trial equal to a
    --race-policies entry or the --race-reference is left out (the race holds that policy already: raced twice, it
    would learn nothing), unless every trial is one: then the best."""
    from policy_search.benchmark.ablation import key as policy_key
    from policy_search.policy import load_policy

    held = {policy_key(load_policy(p)) for p in (*config.race_policies, *filter(None, [config.race_reference]))}
    distinct, seen = [], set()
    for t, policy in built:
        key = json.dumps(policy.to_dict()["body"], sort_keys=True)
        if key not in seen:
            seen.add(key)
            distinct.append((t, policy))
    fresh = [(t, p) for t, p in distinct if policy_key(p) not in held] or distinct[:1]
    files = []
    for t, policy in fresh[:slots]:
        path = Path(config.out) / "rescore" / f"trial{t.number}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        policy.save(path, provenance={"task": config.task, "trial": t.number, "val_accuracy": t.value})
        files.append(str(path))
    return files


def _race_shortlist(study: optuna.Study, config: SearchConfig, image: Any, trial_samples: int) -> dict[str, Any]:
    from policy_search.benchmark.race import RaceConfig, adopt_winner, rescore_plan, run_race

    out = Path(config.out)
    listed, ablate = len(config.race_policies), config.race_ablate
    candidates, rounds = rescore_plan(config.rescore, config.race_reference, listed, ablate)
    complete = sorted(
        (
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if not t.user_attrs.get("diverged")  # scored at chance, but no policy to race
        ),
        key=lambda t: (-t.value, t.number),
    )
    built = [(t, build_policy(config.space, t.params, image, config.space_args())) for t in complete]
    files = _shortlist_trials(config, built, candidates - len(config.race_policies))
    evidence = [(policy, 1) for _, policy in built]
    race = run_race(
        RaceConfig(
            task=config.task,
            policies=(*files, *config.race_policies),
            candidates=len(files) + len(config.race_policies),
            reference=config.race_reference,
            export=config.race_export,
            ablate=min(config.race_ablate, len(files) - 1),  # the leader keeps its slot among few distinct trials
            rounds=rounds,
            first_seed=3000 + 100 * config.seed,
            out=str(out / "race"),
            epochs=config.epochs,
            overrides=dict(config.overrides),
            data_dir=config.data_dir,
            dataset=config.dataset,
            device=config.device,
            progress_bar=not config.quiet,
            description=f"--rescore {config.rescore} of the search in {out}",
        ),
        evidence=evidence,
    )
    finished = study.get_trials(deepcopy=False, states=st.FINISHED)
    searched = len(finished)
    # a learner's validation passes make a trial more than one run; a pruned trial still counts as one
    spent = max(searched, _samples(finished) / trial_samples)
    provenance = {
        "task": config.task,
        "agent": f"optuna-{config.sampler}",
        "seed": config.seed,
        "search_seed": config.seed,  # the names the replicated finals read
        "search_trials": searched,
    }
    adopt_winner(out, race, "best_policy", "study_best_policy", spent, provenance)
    return {"race": str(out / "race" / "race.json"), "winner": race["exported"], "runs": race["race_runs"]}


def _run_one(
    config: SearchConfig,
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    trial: optuna.Trial,
    image: Any,
    worker: str,
    run_trial: Any,
) -> None:
    trial.set_user_attr("worker", worker)
    try:
        with st.heartbeat(storage, study, trial.number, config.heartbeat_s):
            policy = config.space_fn()(trial, image)
            extra = {}
            if config.synthetic:
                extra["synthetic"] = (
                    config.synthetic,
                    trial.suggest_categorical("synthetic_ratio", list(DEFAULT_RATIOS)),
                )
            result = run_trial(
                trial,
                policy,
                task=config.task,
                seed=config.seed,
                device=config.device,
                data_dir=config.data_dir,
                evals_per_epoch=config.evals_per_epoch,
                overrides=config.preset_overrides(),
                **extra,
            )
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)  # Ctrl-C or a bug: free the slot now rather than after grace_s
        raise
    for key in ("samples", "wall_s", "reports", "diverged"):
        trial.set_user_attr(key, getattr(result, key))
    if result.pruned:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, result.value)
    try:
        best = f"best {study.best_value:.4f} (#{study.best_trial.number})"
    except ValueError:
        best = "no completed trial yet"
    state = f"pruned after {result.reports} report(s)" if result.pruned else "complete"
    _log(
        config,
        f"[trial {trial.number}] {state}: val_acc {result.value:.4f} | {best} | samples {result.samples} | "
        f"{result.wall_s:.1f} s | {json.dumps(trial.params, sort_keys=True)}",
    )


def trials_table(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per finished or failed trial, in completion order, with cumulative samples and best-so-far."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished() and not t.user_attrs.get("over_cap")]
    trials.sort(key=lambda t: (t.datetime_complete, t.number))
    rows, cumulative, best = [], 0, None
    for t in trials:
        cumulative += int(t.user_attrs.get("samples", 0))
        diverged = t.user_attrs.get("diverged") or ""  # scored at chance for the sampler; never the best
        if t.state == TrialState.COMPLETE and not diverged and (best is None or t.value > best):
            best = t.value
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "diverged": diverged,
                "samples": t.user_attrs.get("samples", 0),
                "cumulative_samples": cumulative,
                "best_so_far": best,
                "wall_s": round(float(t.user_attrs.get("wall_s", 0.0)), 3),
                "worker": t.user_attrs.get("worker", ""),
                "datetime_start": t.datetime_start.isoformat() if t.datetime_start else "",
                "datetime_complete": t.datetime_complete.isoformat() if t.datetime_complete else "",
                **{f"param_{k}": v for k, v in sorted(t.params.items())},
                **{
                    f"real_{k}": v
                    for k, v in sorted(t.user_attrs.items())
                    if k not in ("samples", "wall_s", "worker", "reports", "diverged", "stale")
                },
            }
        )
    return rows


def write_outputs(
    study: optuna.Study, config: SearchConfig, image: Any, trial_samples: int | None = None
) -> dict[str, Any]:
    """trials.csv and best_policy.json (atomically, so concurrent workers never leave a torn file).
    ``trial_samples``: the samples of one child run, the unit of best_policy.json's child-run equivalents."""
    out = Path(config.out)
    rows = trials_table(study)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns or ["number"])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "trials.csv", buffer.getvalue())
    # A diverged trial is scored at chance for the sampler, but it is no policy to export.
    complete = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if not t.user_attrs.get("diverged")
    ]
    summary: dict[str, Any] = {
        "finished": sum(r["state"] in ("COMPLETE", "PRUNED") for r in rows),
        "best_value": None,
        "best_trial": None,
        "samples": rows[-1]["cumulative_samples"] if rows else 0,
    }
    if complete:
        best = max(complete, key=lambda t: (t.value, -t.number))
        # one child run's samples (``trial_samples``; without it, the largest complete trial's)
        per_run = trial_samples or max(int(t.user_attrs.get("samples", 0)) for t in complete) or 1
        _export_best(config, image, best, summary["samples"], per_run, len(rows))
        summary.update(best_value=best.value, best_trial=best.number)
    return summary


def _export_best(
    config: SearchConfig, image: Any, best: optuna.trial.FrozenTrial, samples: int, per_run: int, n_trials: int
) -> None:
    """best_policy.json (and best_synthetic.json when the best trial adds synthetic data), with provenance."""
    out = Path(config.out)
    policy = build_policy(config.space, best.params, image, config.space_args())
    tmp_policy = out / f".best_policy.{os.getpid()}.json"
    policy.save(
        tmp_policy,
        provenance={
            "task": config.task,
            "agent": f"optuna-{config.sampler}",
            "seed": config.seed,
            "search_seed": config.seed,  # the names the replicated finals read
            # Numbers, not objects: the benchmark harness reads compute_spent as one number (child samples).
            "search_budget": config.budget_samples if config.budget_samples is not None else config.trials,
            "compute_spent": samples,
            "compute_unit": "child-training samples",
            "child_run_equivalents": round(samples / per_run, 3),
            "compute_detail": {
                "child_samples": samples,
                "trials": n_trials,
                "budget_trials": config.trials,
                "budget_samples": config.budget_samples,
            },
            "search": {
                "space": config.space,
                "pruner": config.pruner,
                "study": config.name(),
                "best_trial": best.number,
                "val_accuracy": best.value,
                "params": best.params,
                # with a narrowed space, params are choices of the narrowed heads: build_policy needs this too
                **({"narrowing": config.space_args()} if config.space_args() else {}),
            },
        },
    )
    os.replace(tmp_policy, out / "best_policy.json")
    ratio = best.params.get("synthetic_ratio", 0.0)
    if config.synthetic and ratio > 0:
        # The synthetic kind cannot nest inside Sequence/Schedule, so the best ratio is a policy file of its own.
        from policy_search.generative.synthetic import Synthetic

        model, size = parse_synthetic(config.synthetic)
        Synthetic(model, ratio, size=size, image_spec=image).save(
            out / "best_synthetic.json",
            provenance={
                "task": config.task,
                "agent": f"optuna-{config.sampler}",
                "seed": config.seed,
                "search_seed": config.seed,  # the names the replicated finals read
                "compute_spent": samples,
            },
        )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def _argv_of(config: SearchConfig) -> list[str]:
    """The CLI arguments equivalent to ``config`` (for command.txt when called from Python)."""
    argv = [
        "--task",
        config.task,
        "--sampler",
        config.sampler,
        "--pruner",
        config.pruner,
        "--trials",
        str(config.trials),
        "--out",
        config.out,
        "--storage",
        config.storage_spec(),
        "--space",
        config.space,
        "--seed",
        str(config.seed),
        "--study-name",
        config.name(),
        "--device",
        config.device,
        "--evals-per-epoch",
        str(config.evals_per_epoch),
        "--n-startup-trials",
        str(config.n_startup_trials),
    ]
    for flag, value in (
        ("--epochs", config.epochs),
        ("--data-dir", config.data_dir),
        ("--budget-samples", config.budget_samples),
        ("--rescore", config.rescore),  # resolved by validate: the race the study ran, rerun as it was
        ("--race-ablate", config.race_ablate or None),
    ):
        if value is not None:
            argv += [flag, str(value)]
    if config.race_policies:
        argv += ["--race-policies", *config.race_policies]
    if config.race_reference:
        argv += ["--race-reference", config.race_reference]
    if config.race_export != "mean":
        argv += ["--race-export", config.race_export]
    argv += [a for k, v in config.overrides.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    for key, value in config.narrowing().items():  # --ops A B, --max-ops N, --magnitude-range LOW HIGH
        argv += ["--" + key.replace("_", "-"), *([str(v) for v in value] if isinstance(value, tuple) else [str(value)])]
    return argv + (["--resume"] if config.resume else [])


def build_parser() -> argparse.ArgumentParser:
    from policy_search.config import add_set_option, dataclass_parser
    from policy_search.search.objective import PRUNERS, SAMPLERS

    parser = dataclass_parser(
        SearchConfig,
        prog="python -m policy_search.search",
        description=__doc__.split("\n\n")[0],
        epilog=(
            "Subcommands: `compare ...` (methods at equal compute), `curve ...` (validation learning curves of RL "
            "designs), `race ...` (successive halving of finished searches' best policies on shared child seeds); "
            "each has its own --help (python -m policy_search.search race --help)."
        ),
        flags={"heartbeat_s": ["--heartbeat"], "grace_s": ["--grace"]},
        skip=["overrides"],
        shown={"sampler": SAMPLERS, "pruner": PRUNERS, "space": sorted(SPACES), "device": ("auto", "cpu", "cuda")},
    )
    add_set_option(parser, "preset field override, e.g. --set train_size=512 (repeatable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    configure_threads("one")  # search workers scale across processes: one thread each (POLICY_SEARCH_THREADS)
    from policy_search.config import overrides_to_dict, parse_config

    config = parse_config(SearchConfig, build_parser(), argv, convert=overrides_to_dict)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our per-trial line replaces Optuna's
    try:
        run_search(config, argv)
    except (ValueError, RuntimeError, st.StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk: finished trials are in the journal (a torn last line is repaired)
        print(
            f"error: cannot write the search's outputs ({exc.filename or ''}): {exc.strerror or exc}; finished "
            "trials are kept in the study: free space and rerun with --resume",
            file=sys.stderr,
        )
        return 2
    return 0
