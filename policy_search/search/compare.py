"""Head-to-head comparison of search methods at equal compute: Optuna (TPE, random) against the RL agents.

    python -m policy_search.search compare --task mnist-episode --budget-samples 60000 --seeds 3 \
        --out experiments/search-comparison-mnist-episode --methods tpe random ppo augnet

Compute is counted in child-training samples (the sum of ``ChildRun.compute_spent`` over every child run a method
starts; wall time is reported beside it): each method gets ``--budget-samples``. One unpruned trial and one RL
episode are both one child run of the task preset, so both get ``budget // samples_per_run`` runs. The curve is
the best validation accuracy found so far against samples spent (``curves.csv``, ``curves.png``); afterwards each
method's exported policy is trained from scratch and scored on the test split by the benchmark harness
(``policy_search.benchmark.harness.run_benchmark`` when installed, otherwise ``run_child`` per seed), ``test.csv``.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import json
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from policy_search.outputs import write_json

__all__ = ["CompareConfig", "main", "methods", "run_compare"]

OPTUNA_METHODS = ("tpe", "random")


def methods() -> tuple[str, ...]:
    """The methods a comparison can run: Optuna's samplers, then every agent that learns (``AGENTS``; an agent
    added there is comparable without touching this module)."""
    from policy_search.agents import AGENTS, agent_class

    return OPTUNA_METHODS + tuple(n for n in AGENTS if n not in OPTUNA_METHODS and agent_class(n).learns)


@dataclass
class CompareConfig:
    """One comparison. Every field has a default that runs (slowly: see the README of the committed one)."""

    task: str = "mnist-episode"
    """Task preset every method's child runs train on."""
    budget_samples: int = 60_000
    """Child-training samples per method and seed."""
    seeds: int = 3
    """Search seeds per method (0..seeds-1)."""
    out: str = "runs/search-comparison"
    """Output folder (summary.json, per-method runs, the test benchmark)."""
    methods: tuple[str, ...] = ("tpe", "random", "ppo", "augnet")
    """Methods compared: tpe, random (Optuna) and ppo, augnet (train_agent)."""
    space: str = "randaugment"
    """Search space of the Optuna methods (``policy_search.search.space``); an action space (compact, families,
    rates and their text- forms) is also the RL methods' action kind, so every method searches the same policies
    (other spaces: the RL methods keep the compact action)."""
    pruner: str = "none"
    """Pruner of the Optuna methods; with one, pruned trials cost less and more trials fit in the budget."""
    n_startup_trials: int = 5
    """TPE random start-up trials."""
    ops: tuple[str, ...] = field(default=(), metadata={"nargs": "+"})
    """Narrow the searched action (Optuna's action spaces and the RL methods' action alike) to these ops, as
    ``train_agent --ops`` does."""
    max_ops: int | None = None
    """The most ops per sample (RandAugment's N), for every method alike."""
    magnitude_range: tuple[float, ...] = field(default=(), metadata={"nargs": "+"})
    """LOW HIGH fractions of the magnitude space's maximum, for every method alike."""
    budget_runs: int = 0
    """Child-run equivalents per search (every child run a search starts, its rescore race's included); when set,
    it replaces --budget-samples (as that many runs' samples)."""
    rescore: int | None = None
    """Child runs of each search's budget kept for a race of its shortlist on shared validation seeds (``search
    --rescore`` / ``train_agent --rescore``); the race's winner is the search's result. Default: a third of each
    search's runs from 12 up (16 -> 6, 48 -> 16), else 0, with or without --race-reference (train_agent's own
    default with its incumbent is 9: give --rescore 9 for that race); 0: the search's own pick."""
    race_ablate: int = 0
    """Race slots of each search given to ablations of its leader (``train_agent --race-ablate``)."""
    race_policies: tuple[str, ...] = field(default=(), metadata={"nargs": "+"})
    """With a rescore race: policies (files or preset names) raced beside each search's leader, each in one of the
    race's candidate slots (``train_agent --race-policies``; not with --race-ablate)."""
    race_reference: str | None = None
    """Default none (train_agent's ``auto`` does not apply here). With a rescore race: an incumbent (a file or
    preset name) in no augmentation's place in every search's race, exported unless that search's leader beats it
    on average (--race-export) (``train_agent --race-reference``). Its race runs count as one child run each, as
    every race run does; an online reference costs a little more (race.json says how much)."""
    race_export: str = "mean"
    """With --rescore: when the race's winner replaces its reference (no augmentation, or --race-reference) in
    schedule.json: mean (its mean paired gain is above 0) or confident (the lower bound of the gain's 95% CI is
    above 0, so one seed where the incumbent was unlucky does not decide; ``search race --export``)."""
    test_seeds: int = 2
    """Child seeds per exported policy in the final test evaluation (0 skips it)."""
    first_test_seed: int = 0
    """The first test seed (test seeds are first_test_seed, first_test_seed + 1, ...): fresh seeds for a
    confirmatory comparison, apart from every seed the searches used."""
    baselines: tuple[str, ...] = ("none", "randaugment")
    """Policy presets benchmarked beside the found policies, as reference points."""
    device: str = "auto"
    """Device of every child run: auto, cpu or cuda."""
    data_dir: str | None = None
    """Dataset root (default $POLICY_SEARCH_DATA_DIR)."""
    dataset: str | None = None
    """Compare on your own data: a folder (Hub layout or imagefolder) or a Hub id, trained with the task's recipe;
    validation is 10% of its training split, and the final evaluation uses its test split."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Preset field overrides for every method (tests use a tiny task)."""

    def validate(self) -> None:
        known = methods()
        unknown = [m for m in self.methods if m not in known]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; choose from {', '.join(known)}")
        if not self.methods:
            raise ValueError(f"--methods needs at least one method; choose from {', '.join(known)}")
        twice = sorted({m for m in self.methods if self.methods.count(m) > 1})
        if twice:
            raise ValueError(f"--methods lists {', '.join(twice)} more than once; give each method once")
        self._validate_space()
        self._validate_the_rest()

    def _validate_space(self) -> None:
        """The Optuna space is known; an action space is of the task's modality; narrowing fits the action."""
        from policy_search.child.tasks import get_preset
        from policy_search.search.space import ACTION_SPACES, SPACES, action_space_spec, check_space_modality

        if any(m in OPTUNA_METHODS for m in self.methods) and self.space not in SPACES:
            raise ValueError(f"unknown search space {self.space!r}; choose one of {', '.join(SPACES)}")
        preset = get_preset(self.task)
        modality, tagging = preset.modality, preset.tagging
        if ACTION_SPACES.get(self.space, ("",))[0] == "online":
            raise ValueError(
                f"--space {self.space}: compare gives every method the same number of child runs, and an online "
                "run costs more than one (its learner's validation passes); run train_agent --action-kind online and "
                "search --space online with budgets in child-run equivalents (experiments/round3-online-search)"
            )
        check_space_modality(self.space, self.task, modality)
        if self.ops or self.max_ops is not None or self.magnitude_range:
            # the RL methods' action: the space's own when it is an action space, else the modality's compact one
            rl_space = next(n for n, (kind, m) in ACTION_SPACES.items() if kind == "compact" and m == modality)
            optuna = any(m in OPTUNA_METHODS for m in self.methods)
            space = self.space if self.space in ACTION_SPACES or optuna else rl_space
            action_space_spec(  # the Optuna space must be an action space; names and ranges checked before any run
                space,
                ops=tuple(self.ops),
                max_ops=self.max_ops,
                magnitude_range=tuple(self.magnitude_range),
                tagging=tagging,
            )

    def _validate_the_rest(self) -> None:
        if self.n_startup_trials < 0:
            raise ValueError(f"--n-startup-trials must be >= 0, got {self.n_startup_trials}")
        from policy_search.policy.presets import PRESETS

        bogus = [b for b in self.baselines if b not in PRESETS]
        if bogus:
            raise ValueError(f"unknown baseline preset(s) {bogus}; choose from {', '.join(PRESETS)}")
        from policy_search.child.data import check_dataset

        check_dataset(self.dataset, self.data_dir)
        for flag, value in (("--budget-runs", self.budget_runs), ("--rescore", self.rescore or 0)):
            if value < 0:
                raise ValueError(f"{flag} must be >= 0 (0: off), got {value}")
        if not 0 <= self.first_test_seed < 2**62:
            raise ValueError(f"--first-test-seed must be from 0 to 2**62 - 1, got {self.first_test_seed}")
        from policy_search.benchmark.race import MIN_RACE_RUNS, RACE_EXPORTS

        if self.race_export not in RACE_EXPORTS:  # the rest of the race's options once the budget is known
            raise ValueError(f"--race-export must be {' or '.join(RACE_EXPORTS)}, got {self.race_export!r}")

        if self.rescore is not None and 0 < self.rescore < MIN_RACE_RUNS:
            raise ValueError(
                f"--rescore must be 0 or at least {MIN_RACE_RUNS} child runs (two candidates and no augmentation on "
                f"two seeds), got {self.rescore}"
            )
        if self.rescore and self.budget_runs and self.budget_runs - self.rescore < 4:
            raise ValueError(
                f"--rescore {self.rescore} of --budget-runs {self.budget_runs} leaves fewer than 4 runs to search; "
                f"give --budget-runs {self.rescore + 4} or more"
            )
        if self.budget_samples <= 0 or self.seeds <= 0 or self.test_seeds < 0:
            raise ValueError("--budget-samples and --seeds must be positive and --test-seeds >= 0")


def _child_overrides(config: CompareConfig) -> dict[str, Any]:
    """Preset overrides of every child run outside the searches: ``dataset``'s, then ``overrides`` (a ``val_size``
    there wins, as in train_agent and the race)."""
    from policy_search.child.tasks import run_overrides

    return run_overrides(config.overrides, config.dataset)


def _samples_per_run(config: CompareConfig) -> int:
    from policy_search.child.run import ChildRun

    run = ChildRun(config.task, device="cpu", data_dir=config.data_dir, allow_test=False, **_child_overrides(config))
    return run.total_batches * run.preset.batch_size


def _run_optuna(config: CompareConfig, method: str, seed: int, out: Path, runs: int) -> tuple[list[dict], Path]:
    from policy_search.search.study import SearchConfig, run_search

    search = SearchConfig(
        task=config.task,
        sampler=method,
        pruner=config.pruner,
        trials=runs if config.pruner == "none" else 10 * runs,
        out=str(out),
        space=config.space,
        seed=seed,
        data_dir=config.data_dir,
        dataset=config.dataset,
        device=config.device,
        n_startup_trials=config.n_startup_trials,
        # the race's runs come out of the budget, as they do for the RL methods (equal compute)
        budget_samples=config.budget_samples - config.rescore * (config.budget_samples // max(runs, 1)),
        overrides=dict(config.overrides),
        rescore=config.rescore,
        race_ablate=config.race_ablate,
        race_policies=tuple(config.race_policies),
        race_reference=config.race_reference,
        race_export=config.race_export,
        resume=True,
        ops=tuple(config.ops),
        max_ops=config.max_ops,
        magnitude_range=tuple(config.magnitude_range),
    )
    run_search(search)
    curve, wall = [], 0.0
    with open(out / "trials.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            wall += float(row["wall_s"] or 0.0)
            curve.append(
                {
                    "samples": int(row["cumulative_samples"]),
                    "wall_s": wall,
                    # a diverged trial is scored at chance for the sampler, but it is no policy
                    "value": float(row["value"]) if row["state"] == "COMPLETE" and not row.get("diverged") else None,
                }
            )
    return curve, out / "best_policy.json"


def _run_rl(config: CompareConfig, method: str, seed: int, out: Path, runs: int) -> tuple[list[dict], Path]:
    """Through the documented API: train(TrainConfig(task, agent, episodes, seed, out)) -> DIR/episodes.csv."""
    train_agent = importlib.import_module("policy_search.train_agent")
    names = {f.name for f in dataclasses.fields(train_agent.TrainConfig)}
    kwargs: dict[str, Any] = {"task": config.task, "agent": method, "episodes": runs, "seed": seed, "out": str(out)}
    kwargs["rescore"] = config.rescore  # 0 too: train_agent's own default would race where Optuna's search does not
    kwargs["race_ablate"] = config.race_ablate
    kwargs["race_policies"] = tuple(config.race_policies)
    kwargs["race_reference"] = config.race_reference
    kwargs["race_export"] = config.race_export
    from policy_search.search.space import ACTION_SPACES

    # an action space: the RL methods search that very action (compact/families); else train_agent's compact action
    # (not --action-kind auto: what a comparison's RL methods search must not depend on train_agent's defaults)
    kwargs["action_kind"] = ACTION_SPACES[config.space][0] if config.space in ACTION_SPACES else "compact"
    if config.ops or config.max_ops is not None or config.magnitude_range:  # the same narrowed action as Optuna's
        kwargs.update(ops=tuple(config.ops), max_ops=config.max_ops, magnitude_range=tuple(config.magnitude_range))
    for key, value in (
        ("overrides", dict(config.overrides)),
        ("data_dir", config.data_dir),
        ("dataset", config.dataset),
        ("device", config.device),
        ("progress_bar", False),
    ):
        if key in names:
            kwargs[key] = value
    recorded = json.loads((out / "config.json").read_text()) if (out / "config.json").is_file() else {}
    finished = (
        not train_agent.resume_conflicts(recorded, train_agent.TrainConfig(**kwargs))  # else its resume says so
        and (out / "summary.json").exists()
        and (out / "episodes.csv").exists()
        and sum(1 for _ in open(out / "episodes.csv", encoding="utf-8")) - 1 >= runs - config.rescore
        and (not config.rescore or (out / "race" / "race.json").exists())
    )
    if not finished:  # like the Optuna methods, a rerun continues an interrupted run and skips a finished one
        kwargs["resume"] = (out / "checkpoint.pt").exists()
        train_agent.train(train_agent.TrainConfig(**kwargs))
    curve, wall = [], 0.0
    with open(out / "episodes.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            wall += float(row["wall_s"])  # per episode in episodes.csv; the curve wants it cumulative
            curve.append(
                {"samples": int(float(row["cumulative_samples"])), "wall_s": wall, "value": float(row["final_val_acc"])}
            )
    # with a rescore race, the search's result is the race's winner (schedule.json), else the learned controller
    return curve, out / ("schedule.json" if config.rescore else "policy.json")


def _best_so_far(curve: list[dict], budget: int) -> list[dict]:
    rows, best = [], None
    for point in curve:
        if point["samples"] > budget:
            break  # a run that ended past the budget is not counted (no method may overspend)
        if point["value"] is not None and (best is None or point["value"] > best):
            best = point["value"]
        rows.append({**point, "best_so_far": best})
    return rows


def _test_accuracy(
    config: CompareConfig, policies: dict[str, str], out: Path
) -> tuple[dict[str, dict[int, float]], str]:
    """Test accuracy per policy and test seed (``{name: {seed: accuracy}}``): the benchmark harness when present."""
    seeds = _test_seed_list(config)
    try:
        benchmark = importlib.import_module("policy_search.benchmark.harness")
    except ModuleNotFoundError:
        benchmark = None
    harness_error = None
    if benchmark is not None and hasattr(benchmark, "run_benchmark"):
        try:
            return _via_harness(
                benchmark, config, policies, seeds, out
            ), "policy_search.benchmark.harness.run_benchmark"
        except Exception as exc:  # the harness is young; report its failure loudly and still score the policies
            harness_error = f"{exc.__class__.__name__}: {exc}"
            print(
                f"[compare] WARNING: benchmark harness failed ({harness_error}); scoring with run_child instead",
                file=sys.stderr,
                flush=True,
            )
    from policy_search.child.run import run_child
    from policy_search.child.tasks import get_preset
    from policy_search.policy import load_policy

    metric = get_preset(config.task, **_child_overrides(config)).metric  # accuracy, or entity F1 for a tagger
    scores: dict[str, dict[int, float]] = {}
    done = _harness_records(out / "benchmark", policies, seeds, metric) if harness_error else {}
    for name, path in policies.items():
        for seed in seeds:
            if (name, seed) in done:  # trained and tested by the harness before its aggregation step failed
                scores.setdefault(name, {})[seed] = done[(name, seed)]
                continue
            _, metrics = run_child(
                config.task,
                seed=seed,
                device=config.device,
                data_dir=config.data_dir,
                policy=load_policy(path),
                **_child_overrides(config),
            )
            scores.setdefault(name, {})[seed] = float(metrics["test"][metric])
    why = f"harness failed: {harness_error}" if harness_error else "benchmark harness not installed"
    return scores, f"policy_search.child.run.run_child ({why})"


def _harness_records(
    folder: Path, policies: dict[str, str], seeds: list[int], metric: str = "accuracy"
) -> dict[tuple[str, int], float]:
    """Test scores (``metric``) from the harness's per-run cache files (``runs/*.json``), keyed by (name, seed)."""
    by_source = {source: name for name, source in policies.items()}
    found = {}
    for path in sorted((folder / "runs").glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            name, seed, acc = by_source.get(record["policy"]), int(record["seed"]), record["test"][metric]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if name is not None and seed in seeds and isinstance(acc, (int, float)):
            found[(name, seed)] = float(acc)
    return found


def _via_harness(
    benchmark: Any, config: CompareConfig, policies: dict[str, str], seeds: list[int], out: Path
) -> dict[str, dict[int, float]]:
    # The harness names each policy by the string it was given (a path or a preset name); its results hold this
    # benchmark's runs only (a cached run of an older export, under another content key, is not among them).
    results = benchmark.run_benchmark(
        config.task,
        list(policies.values()),
        seeds,
        str(out / "benchmark"),
        device=config.device,
        data_dir=config.data_dir,
        overrides=_child_overrides(config),
        robustness_samples=0,
        progress=False,
        adaptive_baseline=False,  # the comparison's own baselines (config.baselines) are the reference points
    )
    from policy_search.benchmark.report import headline_metric

    by_source = {source: name for name, source in policies.items()}
    scores: dict[str, dict[int, float]] = {}
    column = headline_metric(results["summary"])  # test_accuracy, or test_entity_f1 for a tagger
    for row in results["runs"]:
        if row["policy"] in by_source and row.get(column) is not None:
            scores.setdefault(by_source[row["policy"]], {})[int(row["seed"])] = float(row[column])
    return scores


def _plot(curves: dict[str, list[list[dict]]], budget: int, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, per_seed in curves.items():
        for i, rows in enumerate(per_seed):
            points = [(r["samples"], r["best_so_far"]) for r in rows if r["best_so_far"] is not None]
            if points:
                xs, ys = zip(*points)
                ax.step(
                    xs,
                    ys,
                    where="post",
                    alpha=0.8,
                    color=f"C{list(curves).index(method)}",
                    label=method if i == 0 else None,
                )
    ax.set_xlim(0, budget)
    ax.set_xlabel("child-training samples spent")
    ax.set_ylabel("best validation accuracy so far")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_compare(config: CompareConfig, argv: list[str] | None = None) -> dict[str, Any]:
    """Run every method for every seed at the same sample budget, then the test evaluation; returns the summary.
    Plan (the runs the budget buys), run the searches (each resumable in its folder), aggregate, test, write."""
    config.validate()
    out = Path(config.out)
    from policy_search.outputs import require_writable

    require_writable(out)  # before any work: a file or read-only folder is one line, not a traceback
    out.mkdir(parents=True, exist_ok=True)
    per_run = _samples_per_run(config)
    if config.budget_runs:
        config = dataclasses.replace(config, budget_samples=config.budget_runs * per_run)
    runs = config.budget_samples // per_run
    if runs < 1:
        raise ValueError(
            f"--budget-samples {config.budget_samples} is less than one child run of "
            f"{config.task!r} ({per_run} samples)"
        )
    from policy_search.benchmark.race import default_rescore, recorded_rescore

    stored = recorded_rescore(out, (out / "config.json").is_file(), config.rescore)  # a rerun keeps its split
    if stored is None:
        stored = default_rescore(runs)
    config = dataclasses.replace(config, rescore=stored)
    _check_rescore(config, runs, per_run)
    _check_same_searches(config, out)
    (out / "config.json").write_text(
        json.dumps({**asdict(config), "samples_per_run": per_run, "runs": runs}, indent=2) + "\n", encoding="utf-8"
    )
    command = ["python", "-m", "policy_search.search", "compare", *(argv or [])]
    (out / "command.txt").write_text(" ".join(shlex.quote(a) for a in command) + "\n", encoding="utf-8")
    curves, exported, skipped = _run_methods(config, out, runs, per_run)
    if not curves:  # every method was skipped: an empty summary would read as a comparison that ran
        raise RuntimeError(
            "every method was skipped, nothing was compared: " + "; ".join(f"{m}: {why}" for m, why in skipped.items())
        )
    _write_curves(config, out, curves)
    summary = _summarize(config, curves, runs, per_run, skipped)
    if config.test_seeds:
        scores = _test_exports(config, out, curves, exported, summary)
        summary["replicated"] = _replicated(config, scores)
    write_json(out / "summary.json", summary, indent=2)
    return summary


def _check_rescore(config: CompareConfig, runs: int, per_run: int) -> None:
    """A rescore race needs at least MIN_RACE_RUNS child runs and must leave each search 4: said in this command's
    own terms (its budget flag), before any method runs."""
    from policy_search.benchmark.race import MIN_RACE_RUNS

    if config.rescore and (config.rescore < MIN_RACE_RUNS or runs - config.rescore < 4):
        budget = (
            f"--budget-runs {config.budget_runs}"
            if config.budget_runs
            else f"--budget-samples {config.budget_samples} ({runs} child runs of {per_run} samples)"
        )
        raise ValueError(
            f"--rescore must be 0 or at least {MIN_RACE_RUNS} child runs and leave at least 4 runs to search; got "
            f"--rescore {config.rescore} of {budget}: raise the budget to at least {config.rescore + 4} runs or "
            "lower --rescore"
        )
    from policy_search.benchmark.race import check_rescore_race

    if config.race_policies and config.race_ablate:  # search's race lists its trials as policies (study.py)
        raise ValueError("compare takes --race-policies or --race-ablate, not both (search takes one); drop one")
    check_rescore_race(
        tuple(config.race_policies), config.race_ablate, config.rescore, config.race_reference, config.race_export
    )


# What each method's searches ran with: a rerun in the same folder continues them, so these may not change (the
# budget, methods, test seeds and baselines may: more runs, another method, another test)
_SEARCH_FIELDS = (
    "task", "space", "pruner", "n_startup_trials", "ops", "max_ops", "magnitude_range", "rescore", "race_ablate",
    "race_policies", "race_reference", "race_export", "dataset", "overrides",
)  # fmt: skip


def _check_same_searches(config: CompareConfig, out: Path) -> None:
    """A one-line ``ValueError`` before any method runs when ``out`` holds searches run with other search flags:
    the Optuna methods would continue their studies under the new race and the RL methods refuse partway through
    (train_agent's resume), leaving a comparison of two designs."""
    try:
        stored = json.loads((out / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    now = json.loads(json.dumps(asdict(config)))  # tuples as stored: lists
    changed = [f for f in _SEARCH_FIELDS if isinstance(stored, dict) and f in stored and stored[f] != now[f]]
    if changed:
        said = ", ".join(f"--{f.replace('_', '-')} {stored[f]} -> {now[f]}" for f in changed)
        raise ValueError(
            f"{out} holds searches run with other flags ({said}): rerun with the same flags, or give a new --out"
        )


def _test_seed_list(config: CompareConfig) -> list[int]:
    return list(range(config.first_test_seed, config.first_test_seed + config.test_seeds))


def _replicated(config: CompareConfig, by_name: dict[str, dict[int, float]]) -> dict[str, Any]:
    """Each method as the mean of its searches against every baseline tested, and each pair of methods, paired by
    test seed with the spread between searches in the CI, Holm-adjusted within each family
    (``benchmark.stats.method_comparisons``)."""
    from policy_search.benchmark.stats import method_comparisons
    from policy_search.policy.presets import PRESETS

    baselines = [b for b in config.baselines if b in PRESETS]
    methods = {m: [by_name.get(f"{m}-s{s}", {}) for s in range(config.seeds)] for m in config.methods}
    tested = {b: by_name[f"baseline-{b}"] for b in baselines if by_name.get(f"baseline-{b}")}
    effects, pairs = method_comparisons(methods, tested)
    return {
        "unit": "search",
        "test_seeds": _test_seed_list(config),
        "effects": {b: effects.get(b, {}) for b in baselines},
        "pairs": pairs,
    }


def _run_methods(config: CompareConfig, out: Path, runs: int, per_run: int):
    """Every method's searches (one per seed) at ``runs`` child runs; their best-so-far curves and exports. An RL
    method that fails is reported as skipped, not a crash that throws away the other methods' runs."""
    curves: dict[str, list[list[dict]]] = {}
    exported: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for method in config.methods:
        for seed in range(config.seeds):
            run_out = out / "runs" / method / f"seed{seed}"
            print(f"[compare] {method} seed {seed}: {runs} child runs of {per_run} samples", flush=True)
            start = time.perf_counter()
            try:
                if method in OPTUNA_METHODS:
                    curve, policy = _run_optuna(config, method, seed, run_out, runs)
                else:
                    curve, policy = _run_rl(config, method, seed, run_out, runs)
            except ModuleNotFoundError as exc:
                if exc.name != "policy_search.train_agent":
                    raise
                skipped[method] = "policy_search.train_agent is not installed yet"
                print(f"[compare] skipping {method}: {skipped[method]}", flush=True)
                break
            except Exception as exc:
                if method in OPTUNA_METHODS:
                    raise
                skipped[method] = f"train_agent failed: {exc.__class__.__name__}: {exc}"
                print(f"[compare] skipping {method}: {skipped[method]}", file=sys.stderr, flush=True)
                break
            curves.setdefault(method, []).append(_best_so_far(curve, config.budget_samples))
            exported[f"{method}-s{seed}"] = str(policy)
            print(
                f"[compare] {method} seed {seed}: best val acc {curves[method][-1][-1]['best_so_far']} in "
                f"{time.perf_counter() - start:.0f} s",
                flush=True,
            )
    return curves, exported, skipped


def _write_curves(config: CompareConfig, out: Path, curves: dict[str, list[list[dict]]]) -> None:
    """curves.csv (every run of every search, best so far) and curves.png."""
    with open(out / "curves.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "seed", "run", "samples", "wall_s", "val_acc", "best_so_far"])
        for method, per_seed in curves.items():
            for seed, rows in enumerate(per_seed):
                for i, r in enumerate(rows):
                    writer.writerow(
                        [method, seed, i, r["samples"], round(r["wall_s"], 2), r["value"], r["best_so_far"]]
                    )
    _plot(
        curves,
        config.budget_samples,
        out / "curves.png",
        f"{config.task}: best val accuracy vs samples ({config.seeds} seeds)",
    )


def _summarize(config: CompareConfig, curves, runs: int, per_run: int, skipped: dict[str, str]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "task": config.task,
        "budget_samples": config.budget_samples,
        "runs": runs,
        "samples_per_run": per_run,
        "skipped": skipped,
        "methods": {},
    }
    for method, per_seed in curves.items():
        finals = [rows[-1]["best_so_far"] for rows in per_seed if rows]
        summary["methods"][method] = {
            "best_val_mean": statistics.fmean(finals),
            "best_val_std": statistics.pstdev(finals),
            "best_val_per_seed": finals,
            "samples_spent": [rows[-1]["samples"] for rows in per_seed if rows],
            "wall_s_per_seed": [round(rows[-1]["wall_s"], 1) for rows in per_seed if rows],
        }
    return summary


def _test_exports(
    config: CompareConfig, out: Path, curves, exported: dict[str, str], summary: dict
) -> dict[str, dict[int, float]]:
    """Every export and the baselines on the test split (test.csv), into ``summary``; returns the accuracies by
    policy and test seed."""
    from policy_search.policy.presets import PRESETS

    policies = {**exported, **{f"baseline-{b}": b for b in config.baselines if b in PRESETS}}
    scores, harness = _test_accuracy(config, policies, out)
    summary["test_harness"] = harness
    with open(out / "test.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["policy", "test_seed", "test_acc"])
        for name, by_seed in scores.items():
            writer.writerows([name, seed, a] for seed, a in sorted(by_seed.items()))
    lists = {name: [a for _, a in sorted(by_seed.items())] for name, by_seed in scores.items()}
    summary["test"] = {
        name: {"mean": statistics.fmean(a), "std": statistics.pstdev(a), "n": len(a)} for name, a in lists.items() if a
    }
    for method in curves:
        accs = [a for name, vals in lists.items() if name.startswith(f"{method}-s") for a in vals]
        if accs:
            summary["methods"][method]["test_mean"] = statistics.fmean(accs)
            summary["methods"][method]["test_std"] = statistics.pstdev(accs)
    return scores


def build_parser():
    from policy_search.benchmark.race import RACE_EXPORTS
    from policy_search.config import add_set_option, dataclass_parser
    from policy_search.search.objective import PRUNERS
    from policy_search.search.space import SPACES

    parser = dataclass_parser(
        CompareConfig,
        prog="python -m policy_search.search compare",
        description=__doc__.split("\n\n")[0],
        skip=["overrides"],
        choices={"device": ("auto", "cpu", "cuda"), "race_export": RACE_EXPORTS},
        shown={"space": tuple(SPACES), "pruner": tuple(PRUNERS), "methods": methods()},
    )
    add_set_option(parser, "preset field override for every method (repeatable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from policy_search.config import overrides_to_dict, parse_config
    from policy_search.threads import use_all_cores_unless_configured

    parser = build_parser()
    config = parse_config(CompareConfig, parser, argv, convert=overrides_to_dict)
    use_all_cores_unless_configured()  # POLICY_SEARCH_THREADS, as every single-run command (was ignored here)
    try:
        summary = run_compare(config, argv)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary["methods"], indent=2))
    return 0
