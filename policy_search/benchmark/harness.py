"""Benchmark frozen augmentation policies against baselines: same task, budget and seeds; cached and resumable.

    python -m policy_search.benchmark --task mnist-proxy --seeds 5 --out experiments/baselines-mnist-proxy \\
        --policies none flip-crop autoaugment-cifar10 randaugment trivialaugment progress-heuristic
    python -m policy_search.benchmark --config experiments/progress-heuristic-proxy.json

A policy is a preset name (``policy_search.policy.presets.PRESETS``) or a policy file (``DIR/policy.json`` from
``train_agent``, ``DIR/schedule.json``, or a directory holding one of them). Every (policy, seed) pair trains a
fresh child with ``run_child`` (which feeds ``observe()`` to policies that watch training), evaluates the test
split once at the end, then measures robustness (``policy_search.benchmark.robustness``) on a fixed test subset. Each
finished pair is written atomically to ``OUT/runs/<policy-key>-seed<k>.json`` and never recomputed: rerunning,
adding policies or adding seeds to an existing ``OUT`` runs only the missing pairs (a policy file's key holds a hash
of its content; a preset's run records a digest of the preset's definition, and a cached run of a preset whose
definition has changed since is refused). Policies that do the same (files that differ only in provenance, as
several searches exporting one policy do) share one run per seed, recorded under each name with its own
provenance and ``same_run_as``. The aggregate (``results.json``,
``results.csv``, ``report.md``, figures) is rewritten from all cached runs at the end (``benchmark_report``).

Python: ``run_benchmark(task, policies, seeds, out, ...) -> dict`` (see its docstring).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from policy_search.benchmark.report import PolicySpec, check_run, read_run_file
from policy_search.benchmark.robustness import (
    CORRUPTIONS,
    DEFAULT_FGSM_EPS,
    DEFAULT_SUBSET,
    SEVERITIES,
    evaluate_robustness,
)
from policy_search.outputs import atomic_write_text, kill_point, remove_stale_temps

__all__ = ["PolicySpec", "resolve_policy", "run_benchmark", "main"]

RUN_FORMAT = "policy-search/benchmark-run"
MAX_SEEDS = 100_000  # a benchmark of more seeds than this is a typo, not a plan (and would allocate without end)
ADAPTIVE_BASELINE = "entropy-adaptive"  # added beside the free recipes in every benchmark (adaptive_baseline)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "policy"


def resolve_policy(spec: str | os.PathLike[str]) -> PolicySpec:
    """A preset name, a policy file, or a directory holding ``policy.json`` (else ``schedule.json``).

    File keys are ``<parent-dir>-<stem>-<sha1 of the content, 8 hex>``: a changed file is a new policy, so its
    runs are never confused with the old one's cached runs.
    """
    from policy_search.policy.presets import PRESETS

    given = os.fspath(spec)
    if given in PRESETS:
        return PolicySpec(given, given)
    path = Path(given)
    if path.is_dir():
        found = [path / n for n in ("policy.json", "schedule.json") if (path / n).is_file()]
        if not found:
            raise FileNotFoundError(f"policy directory {given!r} holds neither policy.json nor schedule.json")
        path = found[0]
    if not path.is_file():
        raise ValueError(
            f"unknown policy {given!r}: not a preset name ({', '.join(PRESETS)}) and no such file or "
            "directory; pass a policy file from train_agent (DIR/policy.json or DIR/schedule.json)"
        )
    digest = hashlib.sha1(path.read_bytes()).hexdigest()[:8]
    return PolicySpec(given, _slug(f"{path.resolve().parent.name}-{path.stem}-{digest}"), path)


MAX_ROBUSTNESS_SAMPLES = 100_000  # more than any test split here; a typo (1e9) is refused


def resolve_seeds(seeds: int | Sequence[int]) -> list[int]:
    """``N`` -> seeds 0..N-1; a sequence -> those seeds, in order. A repeated seed is refused, as the report and
    ``search curve`` refuse one: each seed is one paired run, and a repeat would be silently dropped or counted
    twice."""
    if isinstance(seeds, bool) or not isinstance(seeds, (int, Sequence)):
        raise TypeError(f"seeds must be a count or a list of integers, got {seeds!r}")
    if isinstance(seeds, int):
        if not 1 <= seeds <= MAX_SEEDS:
            raise ValueError(f"seeds must be a count from 1 to {MAX_SEEDS}, got {seeds}")
        return list(range(seeds))
    from collections import Counter

    out = [int(s) for s in seeds]
    if not out or any(not 0 <= s < 2**63 for s in out):
        raise ValueError(
            f"seeds must be a non-empty list of whole numbers from 0 to 2**63 - 1 (torch's seeds), got {list(seeds)}"
        )
    repeated = sorted(s for s, n in Counter(out).items() if n > 1)
    if repeated:
        raise ValueError(f"seeds list {repeated} more than once; each seed is one paired run: drop the repeats")
    return out


def _write_json_atomic(path: Path, payload: Any) -> None:
    # Write-then-rename in the same directory: an interrupted run never leaves a half-written cache file.
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(payload, indent=1, allow_nan=True))


def _protocol(preset: Any, robustness_samples: int, fgsm_eps: Sequence[float]) -> dict:
    """What must match for a cached run to count as a run of this benchmark."""
    return {
        "task": preset.to_dict(),
        "robustness_samples": int(robustness_samples),
        "fgsm_eps": [float(e) for e in fgsm_eps],
        "corruptions": {k: list(SEVERITIES[k]) for k in CORRUPTIONS},
    }


def preset_definition(policy: Any) -> str:
    """A digest of what a preset is (its policy file's kind, semantics and body): a preset whose definition changes
    between library versions is a new policy, whose runs a benchmark must not take from an earlier one's cache (the
    file name holds only the preset's name; policy files are keyed by their content instead)."""
    text = json.dumps(policy.to_dict(), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _check_definition(cached: dict, spec: PolicySpec, current: dict[str, str], path: Path) -> None:
    """Refuse a cached run of a preset whose definition differs from today's (``current`` memoizes the digests).
    Runs written before definitions were recorded carry none and are taken as they are."""
    recorded = cached.get("definition")
    if spec.path is not None or recorded is None:
        return
    if spec.name not in current:
        from policy_search.policy import load_policy

        current[spec.name] = preset_definition(load_policy(spec.name))
    if recorded != current[spec.name]:
        raise ValueError(
            f"{path} was computed with another definition of the preset {spec.name!r} (the library's preset has "
            "changed since); use a new --out directory, or delete that preset's run files there to recompute them"
        )


def _run_one(
    spec: PolicySpec,
    seed: int,
    preset: Any,
    protocol: dict,
    device: str,
    data_dir: str | None,
    progress_bar: bool = False,
) -> dict:
    """Train one child with ``spec`` at ``seed``; test metrics, robustness, op usage. Returns the run record.
    ``progress_bar``: the run's own bar of batches under the benchmark's (one run at a time only)."""
    from policy_search.child.run import run_child
    from policy_search.policy import load_policy

    policy = load_policy(spec.path if spec.path is not None else spec.name)
    definition = preset_definition(policy) if spec.path is None else None  # before training changes any state
    usage: list[dict] = []  # op use after the reset and after each observation

    def record(progress: float) -> None:
        usage.append({"progress": progress, "ops": policy.op_distribution(min(progress, 1.0))})

    t0 = time.perf_counter()
    run, metrics = run_child(
        preset, seed=seed, device=device, data_dir=data_dir, policy=policy, on_observe=record, progress_bar=progress_bar
    )
    observes_training = bool(policy.observes_training)
    if not observes_training:  # static and scheduled policies: usage at each evaluation point
        usage += [
            {
                "progress": h["batches"] / run.total_batches,
                "ops": policy.op_distribution(min(h["batches"] / run.total_batches, 1.0)),
            }
            for h in run.history
        ]
    robustness = None
    n = protocol["robustness_samples"]
    if n > 0 and run.robustness_inputs:  # corruptions and FGSM are defined on images (ChildRun declares it)
        test = run.split("test")
        subset = test.subset(min(n, len(test)), seed=0).to(run.device)
        robustness = evaluate_robustness(
            run.model, run.normalize, subset.images, subset.labels, fgsm_eps=protocol["fgsm_eps"]
        )
    provenance = getattr(policy, "provenance", None) or {}
    metrics.pop("preset", None)  # recorded once, in the protocol
    return {
        "format": RUN_FORMAT,
        "version": 1,
        "policy": spec.name,
        "key": spec.key,
        "source": str(spec.path) if spec.path is not None else "preset",
        "seed": seed,
        "protocol": protocol,
        "policy_repr": repr(policy),
        "definition": definition,
        "observes_training": observes_training,
        "class_names": list(run.class_names),
        **metrics,
        "robustness": robustness,
        # setup, final full evaluations and robustness: everything in the run outside the training loop
        "overhead_time_s": time.perf_counter() - t0 - metrics["wall_time_s"],
        "op_usage": usage,
        "search_cost": provenance.get("compute_spent"),
        "provenance": provenance,
    }


def _comparable(protocol: Any) -> Any:
    # A preset's description and name are labels: rewording or renaming it (conll2003-bilstm -> -v1) must not
    # invalidate finished runs; its fields are the recipe. Preset fields added since a run was recorded (the text
    # fields) count at their defaults, which is what that run used.
    if isinstance(protocol, dict) and isinstance(protocol.get("task"), dict):
        from dataclasses import MISSING, fields

        from policy_search.child.tasks import TaskPreset

        defaults = {f.name: f.default for f in fields(TaskPreset) if f.default is not MISSING}
        task = {**defaults, **protocol["task"]}
        return {**protocol, "task": {k: v for k, v in task.items() if k not in ("description", "name")}}
    return protocol


def _load_cached(path: Path, protocol: dict, name: str, seed: int | None = None) -> dict | None:
    """The cached run at ``path`` (None when there is none). A file that is not a run record of this benchmark
    (unreadable, another protocol, fields missing) is refused with one line naming it, before any training: it is
    the user's file, so it is neither overwritten nor silently ignored."""
    if not path.is_file():
        return None
    record = read_run_file(path)
    if _comparable(record.get("protocol")) != _comparable(protocol):
        raise ValueError(
            f"{path} was computed under a different task, budget or robustness protocol than this "
            "benchmark; use a new --out directory (or delete that run file to recompute it)"
        )
    return {**check_run(record, path, seed), "policy": name}


def run_benchmark(
    task: str,
    policies: Sequence[str | os.PathLike[str]],
    seeds: int | Sequence[int],
    out: str | os.PathLike[str],
    *,
    epochs: float | None = None,
    device: str = "auto",
    data_dir: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    optional_policies: Sequence[str | os.PathLike[str]] = (),
    adaptive_baseline: bool = True,
    robustness_samples: int = DEFAULT_SUBSET,
    fgsm_eps: Sequence[float] = DEFAULT_FGSM_EPS,
    progress: bool = True,
    report: bool = True,
    command: str | None = None,
    workers: int = 1,
    ray: str | None = None,
    methods: Mapping[str, Sequence[str | os.PathLike[str]]] | None = None,
    baselines: Sequence[str | os.PathLike[str]] | None = None,
) -> dict:
    """Benchmark ``policies`` on task preset ``task`` over ``seeds`` (a count N -> 0..N-1, or a list).

    ``epochs`` and ``overrides`` (any ``TaskPreset`` field, e.g. ``{"train_size": 1000}``) change the budget for
    every policy alike. ``optional_policies`` are files included when present and skipped with a message when
    not (e.g. an agent not trained yet). ``adaptive_baseline``: with any free recipe among the policies, add the
    zero-cost adaptive recipe ``entropy-adaptive`` beside them (issue 30) unless it is listed already. ``robustness_samples`` test images (stratified, fixed) are used for the
    corruption and FGSM (``fgsm_eps``, pixel units) accuracies; 0 skips robustness. ``workers`` processes train
    the missing runs side by side (spawned, each with its share of the cores); every run is the run one process
    would train, cached as it finishes. ``methods`` ({method: its searches' policies, each also in ``policies``})
    adds each search method as the mean of its searches against the best baseline and against each other
    (``results["replicated"]``). ``baselines``: which of the policies (preset names or files, matched by content)
    are the baselines the best one is chosen from, files included (a plan's hand-written baseline policies); the
    list is all of them (the entropy-adaptive recipe added beside the presets is one only if listed); default:
    every preset that does not learn inside the run.

    Returns the aggregate (also written to ``out/results.json``): ``meta`` (command, task preset, seeds,
    versions), ``summary`` {policy: {metric: {mean, std, ci_low, ci_high, n}}}, ``best_baseline``,
    ``comparisons`` (paired against the best baseline), ``runs`` (one flat row per run), and ``counts``
    {"computed", "shared", "cached", "total"}: how many (policy, seed) pairs this call trained, took from a policy that
    does the same (``behaviour``), and read from the cache.
    """
    from policy_search.benchmark.report import aggregate, write_report
    from policy_search.child.run import resolve_device
    from policy_search.child.tasks import get_preset

    preset = get_preset(task, **{**(overrides or {}), **({"epochs": epochs} if epochs is not None else {})})
    resolve_device(device)  # fail on a bad device before any training
    seed_list = resolve_seeds(seeds)
    specs = _plan_specs(policies, optional_policies, adaptive_baseline)
    groups = _method_groups(methods or {}, specs)
    chosen = _baseline_names(baselines, specs, groups)
    _check_numbers(workers, robustness_samples, fgsm_eps)
    out_dir = Path(out)
    _open_out(out_dir)
    protocol = _protocol(preset, robustness_samples, fgsm_eps)
    pairs = [(s, k) for s in specs for k in seed_list]
    records, todo, trained = _run_missing(
        specs, seed_list, preset, protocol, device, data_dir, out_dir, progress, workers, ray
    )
    order = {(s.key, k): i for i, (s, k) in enumerate(pairs)}
    records.sort(key=lambda r: order[(r["key"], r["seed"])])
    command = (
        command
        or "run_benchmark(" + ", ".join(repr(x) for x in (task, [s.name for s in specs], seed_list, str(out_dir))) + ")"
    )
    results = aggregate(records, specs, seed_list, preset, protocol, command, groups, chosen)
    results["meta"]["out"] = str(out_dir)
    shared = len(todo) - len(trained)
    results["counts"] = {
        "computed": len(trained),
        "shared": shared,
        "cached": len(pairs) - len(todo),
        "total": len(pairs),
    }
    if report:
        write_report(out_dir, results, records)
    return results


def _plan_specs(
    policies: Sequence[str | os.PathLike[str]], optional_policies: Sequence[str | os.PathLike[str]], adaptive: bool
) -> list[PolicySpec]:
    """The policies benchmarked: those given, the optional ones present, and the adaptive baseline beside free
    recipes; each once."""
    specs = [resolve_policy(p) for p in policies]
    for extra in optional_policies:
        try:
            specs.append(resolve_policy(extra))
        except (ValueError, FileNotFoundError):
            print(
                f"[benchmark] skipping optional policy {os.fspath(extra)!r}: not found. Train it first with "
                "python -m policy_search.train_agent (see experiments/README.md)",
                file=sys.stderr,
            )
    if not specs:
        raise ValueError("no policies to benchmark: pass preset names or policy files with --policies")
    if adaptive and any(s.is_baseline for s in specs) and ADAPTIVE_BASELINE not in [s.name for s in specs]:
        specs.append(resolve_policy(ADAPTIVE_BASELINE))  # the zero-cost adaptive recipe beside the free recipes
    if len({s.key for s in specs}) != len(specs):
        raise ValueError(f"the same policy is listed twice: {[s.name for s in specs]}")
    return specs


def _baseline_names(baselines: Sequence[Any] | None, specs: Sequence[PolicySpec], groups: Mapping[str, Any]):
    """The names of the policies given as ``baselines`` (None: the default rule), matched as ``methods`` are (by
    content: any spelling of a file, an optional policy, the adaptive recipe added beside the presets); the list is
    all the baselines. One line (ValueError) for a name not among the policies or a method's search."""
    if not baselines:
        return None
    by_key = {s.key: s.name for s in specs}
    names = []
    for b in baselines:
        try:
            key = resolve_policy(b).key
        except (ValueError, FileNotFoundError):
            key = None
        if key not in by_key:
            raise ValueError(
                f"baselines lists {os.fspath(b)!r}, not among the policies: list each baseline in policies"
            )
        names.append(by_key[key])
    searched = sorted(set(names) & {n for members in groups.values() for n in members})
    if searched:
        raise ValueError(f"baselines {searched} are searches of methods too: a method cannot be its own baseline")
    return list(dict.fromkeys(names))


def _method_groups(methods: Mapping[str, Any], specs: Sequence[PolicySpec]) -> dict[str, list[str]]:
    """{method: the names of its policies} from {method: policy files or presets}, each one of the benchmark's
    policies (a method's searches are benchmarked like any policy, then pooled in the report)."""
    if not isinstance(methods, Mapping):
        raise ValueError(f"methods must be {{method name: [its searches' policy files]}}, got {methods!r}")
    by_key = {s.key: s.name for s in specs}
    groups: dict[str, list[str]] = {}
    for method, members in methods.items():
        if not isinstance(members, (list, tuple)) or not members or not all(isinstance(m, str) for m in members):
            raise ValueError(f"methods[{method!r}] must be a non-empty list of policy files, got {members!r}")
        keys = []
        for m in members:
            try:
                keys.append(resolve_policy(m).key)
            except (ValueError, FileNotFoundError):
                raise ValueError(f"methods[{method!r}] lists {m!r}, which is no policy file or preset here") from None
        missing = [m for m, k in zip(members, keys) if k not in by_key]
        if missing:
            raise ValueError(f"methods[{method!r}] lists {missing}, not among the policies: add them to policies")
        groups[str(method)] = [by_key[k] for k in keys]
    from collections import Counter

    repeated = sorted(n for n, k in Counter(n for names in groups.values() for n in names).items() if k > 1)
    if repeated:
        raise ValueError(f"methods list {repeated} more than once: each search's policy belongs to one method, once")
    return groups


def _check_numbers(workers: Any, robustness_samples: Any, fgsm_eps: Sequence[Any]) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
    if (
        isinstance(robustness_samples, bool)
        or not isinstance(robustness_samples, int)
        or not 0 <= robustness_samples <= MAX_ROBUSTNESS_SAMPLES
    ):
        raise ValueError(
            f"robustness_samples must be a whole number from 0 (skips) to {MAX_ROBUSTNESS_SAMPLES:,}, got "
            f"{robustness_samples!r} (runs use at most the test split's size: the report says how many they used)"
        )
    if not all(isinstance(e, int | float) and not isinstance(e, bool) and 0 < e <= 1 for e in fgsm_eps):
        raise ValueError(f"fgsm_eps must be step sizes in (0, 1] (pixel units: 8/255 = 0.0314), got {list(fgsm_eps)!r}")


def _open_out(out_dir: Path) -> None:
    """Before any training: the folder must be writable (results would be lost at the end) and ours alone (a second
    benchmark into it would train every run twice); temp files of a writer killed mid-write are removed."""
    from policy_search.outputs import FolderInUseError, check_writable, lock_folder

    try:
        check_writable(out_dir / "runs")
    except OSError as exc:
        raise ValueError(
            f"--out {str(out_dir)!r} is not a writable folder ({exc.strerror or exc}); choose another"
        ) from None
    try:
        lock_folder(out_dir)
    except FolderInUseError as exc:
        raise ValueError(str(exc)) from None
    for folder in (out_dir, out_dir / "runs"):  # we hold the lock: every temp file is stale
        remove_stale_temps(folder)


def behaviour(spec: PolicySpec) -> str:
    """A digest of what ``spec``'s policy does: its document without the provenance (which search wrote it, at what
    cost). Several searches that export the same policy (round 6: six races that all kept the preset) differ only
    there, and one child run per seed serves them all (``_run_missing``)."""
    from policy_search.policy import load_policy

    try:
        document = load_policy(spec.path if spec.path is not None else spec.name).to_dict()
    except Exception:  # noqa: BLE001 - a file this library cannot load now: its cached runs are still read
        return f"unshared:{spec.key}"  # and a missing one fails in _run_one with the loader's own message
    document.pop("provenance", None)  # to_dict leaves it out today; a document that carries it is the same policy
    return hashlib.sha1(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=256)
def _own_fields(spec: PolicySpec) -> dict:
    """What a run record says about its policy rather than its training (read once per policy, not per seed)."""
    from policy_search.policy import load_policy

    policy = load_policy(spec.path if spec.path is not None else spec.name)
    provenance = getattr(policy, "provenance", None) or {}
    return {
        "policy": spec.name,
        "key": spec.key,
        "source": str(spec.path) if spec.path is not None else "preset",
        "definition": preset_definition(policy) if spec.path is None else None,
        "search_cost": provenance.get("compute_spent"),
        "provenance": provenance,
    }


def _as_twin(record: dict, spec: PolicySpec) -> dict:
    """``record`` (a run of a policy that does what ``spec``'s does, on the same seed) as ``spec``'s run: its names,
    provenance and search cost, and ``same_run_as`` naming the run it is (on the CPU training is deterministic given
    the policy and the seed, so training it again gives the same record; on a GPU it would differ in the last digits,
    and the twin takes its source's)."""
    return {**record, **_own_fields(spec), "same_run_as": record.get("same_run_as") or record["key"]}


def _cached_runs(specs, seed_list, protocol, out_dir: Path) -> tuple[list[dict], list, dict]:
    """The cached runs, the (spec, seed) pairs missing, and each cached run by (behaviour, seed)."""
    records: list[dict] = []
    todo, by_behaviour = [], {}
    definitions: dict[str, str] = {}
    digests = {spec.key: behaviour(spec) for spec in specs}
    # Seed-major: an interrupted benchmark leaves whole seeds (every policy), which pair in a partial report.
    for seed, spec in ((k, s) for k in seed_list for s in specs):
        path = out_dir / "runs" / f"{spec.key}-seed{seed}.json"
        cached = _load_cached(path, protocol, spec.name, seed)
        if cached is not None:
            _check_definition(cached, spec, definitions, path)
        if cached is None:
            todo.append((spec, seed, digests[spec.key]))
        else:
            records.append(cached)
            by_behaviour.setdefault((digests[spec.key], seed), cached)
    return records, todo, by_behaviour


def _run_missing(specs, seed_list, preset, protocol, device, data_dir, out_dir: Path, progress, workers, ray):
    """Every (policy, seed) run: read from the cache, or trained (here, in workers or on Ray) and cached as it
    finishes; a policy that does what another does (``behaviour``) takes that one's run of the seed instead of
    training it again. Returns (records, the pairs missing, the pairs trained)."""
    records, missing, by_behaviour = _cached_runs(specs, seed_list, protocol, out_dir)
    todo, twins = [], {}  # twins: (behaviour, seed) -> the specs waiting for that run
    for spec, seed, digest in missing:
        if (digest, seed) in by_behaviour or (digest, seed) in twins:
            twins.setdefault((digest, seed), []).append(spec)
        else:
            todo.append((spec, seed))
            twins[(digest, seed)] = []
    digest_of = {(spec.key, seed): digest for spec, seed, digest in missing}
    total = len(specs) * len(seed_list)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=total - len(missing), desc=f"benchmark {preset.name}", unit="run")

    def save(spec: PolicySpec, seed: int, record: dict) -> None:
        _write_json_atomic(out_dir / "runs" / f"{spec.key}-seed{seed}.json", record)
        kill_point("benchmark:run-saved")
        records.append(record)
        if bar is not None:
            bar.update(1)
        for twin in twins.pop((digest_of.get((spec.key, seed)), seed), []):
            save(twin, seed, _as_twin(record, twin))

    try:
        for (digest, seed), record in by_behaviour.items():  # twins of runs already cached
            for twin in twins.pop((digest, seed), []):
                save(twin, seed, _as_twin(record, twin))
        if ray is not None or (workers > 1 and len(todo) > 1):
            from policy_search.dispatch import run_jobs

            jobs = [(spec, seed, preset, protocol, device, data_dir) for spec, seed in todo]
            for i, record in run_jobs(_run_one, jobs, workers=workers, ray=ray):
                save(*todo[i], record)
        else:
            for spec, seed in todo:
                if bar is not None:
                    bar.set_postfix_str(f"{spec.name} seed {seed}")
                save(spec, seed, _run_one(spec, seed, preset, protocol, device, data_dir, bar is not None))
    finally:
        if bar is not None:
            bar.close()
    return records, [(spec, seed) for spec, seed, _ in missing], todo


# --- command line ---------------------------------------------------------------------------------------------


@dataclass
class BenchmarkConfig:
    """One benchmark: what ``--config FILE.json`` and the flags fill (the same reader and checks as every command)."""

    task: str = ""
    """Task preset (policy_search.child.tasks), e.g. mnist-small (required; no default)."""
    policies: tuple[str, ...] = ()
    """Preset names and/or policy files (DIR/policy.json) (required, or optional_policies; no default)."""
    optional_policies: tuple[str, ...] = ()
    """Policy files included when present and skipped with a message when not (e.g. an agent not trained yet)."""
    adaptive_baseline: bool = True
    """Add the zero-cost entropy-adaptive recipe beside the free recipes (default: yes; the configs committed
    before issue 30 say false)."""
    seeds: int | tuple[int, ...] = 5
    """Seeds: a count N (0..N-1) on the command line; a count or a list in a config file (default: 5)."""
    out: str = ""
    """Output folder: the cache under OUT/runs, the report in OUT/report.md (required; no default)."""
    epochs: float | None = None
    """Override the preset's epochs for every policy."""
    device: str = "auto"
    """Training device: auto, cpu or cuda."""
    data_dir: str | None = None
    """Dataset folder (default $POLICY_SEARCH_DATA_DIR)."""
    dataset: str | None = None
    """Run the task's recipe on this dataset (a folder or a Hub id; validation is 10% of its training split)."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Preset field overrides of every run (e.g. {"train_size": 1000})."""
    robustness_samples: int = DEFAULT_SUBSET
    """Test images for the corruption and FGSM accuracies (0 skips them)."""
    fgsm_eps: tuple[float, ...] = tuple(DEFAULT_FGSM_EPS)
    """FGSM step sizes, in pixel units."""
    workers: int = 1
    """Processes training runs side by side (each gets cores / workers threads)."""
    methods: dict[str, Any] = field(default_factory=dict)
    """Search methods replicated over searches, {method: [each search's policy file]} (config file only): the
    report adds each method as the mean of its searches, against the best baseline and the other methods."""
    baselines: tuple[str, ...] = field(default=(), metadata={"nargs": "+"})
    """Which of the policies (as listed) are baselines, files included; the best baseline is the best of them.
    Default: every preset that does not learn inside the run (a policy given as a file is a policy under test)."""
    ray: str | None = None
    """Run the child runs as tasks on a Ray cluster: auto (the cluster `ray start` runs here), an address, or local
    (a private one-machine cluster for this command); default: the local process pool (--workers)."""
    progress: bool = True
    """Show a progress bar."""
    description: str = ""
    """One line saying what the benchmark is for (kept in the config file only)."""


CONFIG_KEYS = tuple(f.name for f in fields(BenchmarkConfig) if f.name not in ("progress", "dataset"))


def build_parser() -> argparse.ArgumentParser:
    from policy_search.config import add_set_option, dataclass_parser

    parser = dataclass_parser(
        BenchmarkConfig,
        prog="python -m policy_search.benchmark",
        description=__doc__.split("\n\n")[0],
        skip=("overrides", "description", "optional_policies", "fgsm_eps", "methods"),
        choices={"device": ("auto", "cpu", "cuda")},
    )
    add_set_option(parser, "preset field override of every run, e.g. --set train_size=1000 (repeatable)")
    return parser


def _seeds_and_overrides(values: dict[str, Any]) -> dict[str, Any]:
    from policy_search.config import overrides_to_dict

    values = overrides_to_dict(values)
    if isinstance(values.get("seeds"), str):  # a count from the command line
        try:
            values["seeds"] = int(values["seeds"])
        except ValueError:
            raise SystemExit(f"error: --seeds expects a whole number, got {values['seeds']!r}") from None
    return values


def _run_arguments(cfg: BenchmarkConfig) -> dict[str, Any]:
    """``run_benchmark``'s arguments from the parsed config (--dataset folded into the overrides); a missing
    task, folder or policy list is a ValueError naming the flags."""
    config = {k: getattr(cfg, k) for k in CONFIG_KEYS if k != "description"}
    if cfg.dataset is not None:
        from policy_search.child.tasks import dataset_overrides

        config["overrides"] = {**config["overrides"], **dataset_overrides(cfg.dataset)}
    missing = [f"--{k}" for k in ("task", "out") if not config[k]]
    if not (config["policies"] or config["optional_policies"]):
        missing.append("--policies")
    if missing:
        raise ValueError(f"missing {', '.join(missing)} (give them as flags or in --config)")
    config["policies"] = list(config["policies"])
    return config


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from policy_search.config import parse_config

    try:
        cfg = parse_config(BenchmarkConfig, build_parser(), argv, convert=_seeds_and_overrides)
    except SystemExit as exc:  # a bad flag or config file: argparse has printed its one line
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 2
        if exc.code == 2:
            return 2
        raise
    from policy_search.threads import use_all_cores_unless_configured

    use_all_cores_unless_configured()
    command = "python -m policy_search.benchmark " + " ".join(shlex.quote(a) for a in argv)
    from policy_search.child.data import DatasetError
    from policy_search.generative.train import GeneratorCheckpointError

    try:
        config = _run_arguments(cfg)
        results = run_benchmark(
            config.pop("task"),
            config.pop("policies", []),
            config.pop("seeds", 5),
            config.pop("out"),
            progress=cfg.progress,
            command=command,
            **config,
        )
    except (ValueError, FileNotFoundError, PermissionError, DatasetError, GeneratorCheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk: every finished run is already in its own cache file
        print(
            f"error: cannot write the benchmark's outputs ({exc.filename or ''}): {exc.strerror or exc}; finished "
            "runs are kept in runs/: free space and rerun the same command",
            file=sys.stderr,
        )
        return 2
    counts = results["counts"]
    print(
        f"{counts['computed']} run(s) trained, {counts['shared']} shared with a policy that does the same, "
        f"{counts['cached']} read from cache; report: "
        f"{Path(results['meta']['out']) / 'report.md'}"
    )
    return 0
