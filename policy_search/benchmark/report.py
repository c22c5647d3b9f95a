"""Aggregate benchmark runs into results.json / results.csv / report.md and figures (matplotlib, Agg).

Every figure carries the command that produced it in its footer, and the report records the command, seeds,
task preset and library versions. Statistics come from ``policy_search.benchmark.stats``: mean +- 95% Student-t CI over
seeds, and each policy paired by seed against the best baseline (paired t-test and bootstrap CI).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import platform
import subprocess
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from policy_search.benchmark.stats import ALPHA, holm, method_comparisons, paired_comparison, summarize
from policy_search.outputs import write_json

__all__ = ["METRICS", "RunFileError", "aggregate", "load_run", "metrics_for", "rebuild_report", "write_report"]


@dataclass(frozen=True)
class PolicySpec:
    """A policy to benchmark: ``name`` as given, ``key`` used in cache file names, ``path`` for files."""

    name: str
    key: str
    path: Path | None = None

    @property
    def is_baseline(self) -> bool:
        """Presets are the free recipes, except those that learn inside the run (the policies under test)."""
        from policy_search.policy.presets import LEARNERS

        return self.path is None and self.name not in LEARNERS


def _get(*keys: str) -> Callable[[dict], float | None]:
    def read(record: dict) -> float | None:
        value: Any = record
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return None if value is None else float(value)

    return read


# (name, label in the report, scale for display, extractor). Accuracies are shown in percent.
_BASE_METRICS: list[tuple[str, str, float, Callable[[dict], float | None]]] = [
    ("test_accuracy", "test acc %", 100, _get("test", "accuracy")),
    ("test_entity_f1", "entity F1 %", 100, _get("test", "entity_f1")),
    ("test_loss", "test loss", 1, _get("test", "loss")),
    ("macro_precision", "macro P %", 100, _get("test", "macro_precision")),
    ("macro_recall", "macro R %", 100, _get("test", "macro_recall")),
    ("macro_f1", "macro F1 %", 100, _get("test", "macro_f1")),
    ("generalization_gap", "gen. gap (pp)", 100, _get("generalization_gap")),
    ("corruption_accuracy", "corrupted acc %", 100, _get("robustness", "corruption_accuracy")),
    # the FGSM columns follow the corruption column, one per step size of the protocol (metrics_for)
    ("train_time_s", "train s", 1, _get("train_time_s")),
    ("aug_time_s", "augment s", 1, _get("aug_time_s")),
    ("wall_time_s", "wall s", 1, _get("wall_time_s")),
    ("peak_rss_mb", "peak RSS MiB", 1, _get("peak_rss_mb")),
    ("cpu_utilization", "CPU util %", 100, _get("cpu_utilization")),
    ("cuda_max_allocated_mb", "CUDA peak MiB", 1, _get("cuda_max_allocated_mb")),
    ("search_cost", "search cost", 1, _get("search_cost")),
    # Cost of the run itself: child-run equivalents (samples trained plus extra forward passes at 1/3 each, over one
    # plain run's samples) and wall time over the `none` run of the same seed (when `none` is benchmarked).
    ("child_run_equivalents", "child-run eq.", 1, _get("child_run_equivalents")),
    ("wall_vs_none", "wall × none", 1, _get("wall_vs_none")),
]
DEFAULT_FGSM_EPS = (2 / 255, 8 / 255)  # robustness.DEFAULT_FGSM_EPS (not imported: that module loads torch)


def fgsm_key(eps: float) -> str:
    """The key of step size ``eps`` (pixel units) in a run's ``robustness["fgsm"]`` (as ``evaluate_robustness``
    writes it): ``2/255``."""
    return f"{round(eps * 255, 3):g}/255"


def fgsm_metrics(fgsm_eps: Sequence[float] = DEFAULT_FGSM_EPS) -> list[tuple[str, str, float, Callable]]:
    """One metric per FGSM step size of a benchmark: ``fgsm_2`` for 2/255, ``fgsm_4`` for 4/255, ..."""
    keys = list(dict.fromkeys(fgsm_key(float(e)) for e in fgsm_eps))
    return [(f"fgsm_{k.removesuffix('/255')}", f"FGSM {k} acc %", 100, _get("robustness", "fgsm", k)) for k in keys]


def metrics_for(protocol: Any) -> list[tuple[str, str, float, Callable[[dict], float | None]]]:
    """``METRICS`` with the FGSM columns of this benchmark's step sizes (``protocol["fgsm_eps"]``; the defaults
    for a protocol that does not record them), after the corruption column."""
    eps = protocol.get("fgsm_eps") if isinstance(protocol, dict) else None
    if not isinstance(eps, list | tuple) or not all(isinstance(e, int | float) for e in eps):
        eps = DEFAULT_FGSM_EPS
    at = [m[0] for m in _BASE_METRICS].index("corruption_accuracy") + 1
    return _BASE_METRICS[:at] + fgsm_metrics(eps) + _BASE_METRICS[at:]


METRICS = metrics_for({})  # with the default step sizes (fgsm_2, fgsm_8); a benchmark's own: metrics_for(protocol)
_COMPARED_BASE = ("test_accuracy", "test_entity_f1", "macro_f1", "corruption_accuracy")
COMPARED = (*_COMPARED_BASE, "fgsm_2", "fgsm_8")


def _compared(metrics: Sequence[tuple]) -> tuple[str, ...]:
    """The metrics paired against the best baseline: the accuracies and every FGSM column."""
    return (*_COMPARED_BASE, *(m[0] for m in metrics if m[0].startswith("fgsm_")))


# The task's headline metric: entity-level F1 where the runs report it (tagging), else test accuracy.
HEADLINES = ("test_entity_f1", "test_accuracy")


def headline_metric(summary: dict) -> str:
    """The first of ``HEADLINES`` that any policy in ``summary`` has values for."""
    return next((m for m in HEADLINES if any(s[m]["n"] for s in summary.values())), "test_accuracy")


def _versions() -> dict[str, str]:
    import matplotlib
    import scipy
    import torch
    import torchvision

    from policy_search._version import __version__

    out = {
        "policy_search": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "matplotlib": matplotlib.__version__,
        "platform": platform.platform(),
    }
    try:
        out["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def aggregate(
    records: list[dict],
    specs: Sequence[Any],
    seeds: list[int],
    preset: Any,
    protocol: dict,
    command: str,
    methods: Mapping[str, Sequence[str]] | None = None,
    baselines: Sequence[str] | None = None,
) -> dict:
    """Summaries per policy and metric, the best baseline and paired comparisons against it (JSON-ready). The
    FGSM metrics are those of ``protocol["fgsm_eps"]`` (``metrics_for``). ``methods`` ({method: the names of
    its searches' policies}) adds ``replicated``: each method as the mean of its searches (``_replicated``).
    ``baselines``: the names of the baselines (None: every preset that does not learn inside the run)."""
    metrics = metrics_for(protocol)
    compared = _compared(metrics)
    by_policy: dict[str, dict[int, dict]] = {s.name: {} for s in specs}
    for r in records:
        by_policy[r["policy"]][r["seed"]] = r
    reference = by_policy.get("none", {})
    for r in records:  # wall time relative to no augmentation on the same seed (derived, never cached)
        ref = reference.get(r["seed"])
        if ref is not None and ref.get("wall_time_s") and r.get("wall_time_s") is not None:
            r["wall_vs_none"] = float(r["wall_time_s"]) / float(ref["wall_time_s"])
    summary = {
        name: {m: summarize([v for v in (get(r) for r in runs.values()) if v is not None]) for m, _, _, get in metrics}
        for name, runs in by_policy.items()
    }
    baselines = list(baselines) if baselines is not None else [s.name for s in specs if s.is_baseline]
    main = headline_metric(summary)
    best = max(baselines, key=lambda n: summary[n][main]["mean"]) if baselines else None
    comparisons = _against_baseline(by_policy, best, metrics, compared) if best is not None else {}
    # Secondary: learned policies (files) against each other on test accuracy, paired, uncorrected (e.g. the RL
    # policy against the static search's best at the same budget).
    learned = [s.name for s in specs if s.name not in baselines and not s.is_baseline]  # policies under test
    get_main = dict((m, g) for m, _, _, g in metrics)[main]
    head_to_head = _head_to_head(by_policy, learned, get_main)
    rows = [_flat_row(r, metrics) for r in records]
    replicated = _replicated(by_policy, best, get_main, methods, baselines) if methods else None
    return {
        **({"replicated": replicated} if replicated else {}),
        "head_to_head": head_to_head,
        "meta": {
            "command": command,
            "task": preset.name,
            "preset": preset.to_dict(),
            "seeds": seeds,
            "policies": [{"name": s.name, "key": s.key, "source": str(s.path) if s.path else "preset"} for s in specs],
            "baselines": baselines,
            "protocol": protocol,
            **({"methods": {m: list(names) for m, names in methods.items()}} if methods else {}),
            "versions": _versions(),
            "alpha": ALPHA,
            "out": None,
        },
        "summary": summary,
        "best_baseline": best,
        "comparisons": comparisons,
        "failed_runs": failed_runs(records),
        "runs": rows,
    }


STUCK_LOSS_SHARE = 0.9
"""A run never left chance when its final validation loss is at least this share of ln(classes) and its final
validation accuracy is within ``STUCK_ACC_MARGIN`` of the error between chance and perfect (experiments/round7-
incumbent-mnist-small: LeNet-5 now and then stays at chance from the first batch, about 1 run in 1,000)."""
STUCK_ACC_MARGIN = 0.1


def failed_runs(records: Sequence[dict]) -> list[dict]:
    """The runs that never left chance, (policy, seed, final validation loss and accuracy), in policy and seed order.
    Both conditions are needed: an overfitted text child ends at a high validation loss with a sound accuracy, and a
    tagger's token accuracy starts high. A failed run is a fact about the seed's training more than the policy's
    effect, and one of them moves a mean over a hundred seeds by half a point: the report lists them, the analysis
    keeps every run."""
    found = []
    for r in records:
        history, classes = r.get("history") or [], len(r.get("class_names") or [])
        if classes < 2 or not history or "val_loss" not in history[-1] or "val_acc" not in history[-1]:
            continue
        loss, acc, chance = float(history[-1]["val_loss"]), float(history[-1]["val_acc"]), 1.0 / classes
        if loss >= STUCK_LOSS_SHARE * math.log(classes) and acc < chance + STUCK_ACC_MARGIN * (1.0 - chance):
            run = r.get("same_run_as") or r.get("key") or r["policy"]  # policies sharing one run: one failure
            found.append(
                {"policy": r["policy"], "seed": r["seed"], "run": run, "final_val_loss": loss, "final_val_acc": acc}
            )
    return sorted(found, key=lambda f: (f["policy"], f["seed"]))


def _failed_section(results: dict) -> list[str]:
    failed = results.get("failed_runs") or []
    if not failed:
        return []
    seeds = sorted({f["seed"] for f in failed})
    runs: dict[tuple, list[dict]] = {}  # a run shared by policies that do the same is one failure
    for f in failed:
        runs.setdefault((f.get("run", f["policy"]), f["seed"]), []).append(f)
    return [
        "",
        f"**{len(runs)} run(s) never left chance** (final validation loss >= {STUCK_LOSS_SHARE} ln(classes) and "
        "accuracy near chance): "
        + "; ".join(
            " = ".join(f"`{f['policy']}`" for f in group) + f" seed {seed} ({100 * group[0]['final_val_acc']:.1f}%)"
            for (_, seed), group in runs.items()
        )
        + f". Every comparison below keeps them; a paired difference on seed(s) {', '.join(map(str, seeds))} "
        "measures a failed training, not the policy: read the comparisons with and without those seeds.",
    ]


def _against_baseline(
    by_policy: dict[str, dict[int, dict]], best: str, metrics: Sequence[tuple], compared: Sequence[str]
) -> dict[str, dict[str, dict]]:
    """Every policy against the best baseline, paired by seed, per compared metric, with Holm's correction per
    metric over every policy compared on it."""
    comparisons: dict[str, dict[str, dict]] = {}
    for name, runs in by_policy.items():
        if name == best:
            continue
        common = sorted(set(runs) & set(by_policy[best]))
        comparisons[name] = {}
        for m, _, _, get in metrics:
            if m not in compared:
                continue
            a = [get(runs[k]) for k in common]
            b = [get(by_policy[best][k]) for k in common]
            if any(v is None for v in a + b):
                continue
            comparisons[name][m] = paired_comparison(a, b)
    for m in compared:
        family = [table[m] for table in comparisons.values() if m in table]
        for c, adjusted in zip(family, holm([c["p_value"] for c in family])):
            c["p_holm"] = adjusted
            c["significant_holm"] = bool(adjusted < ALPHA)
    return comparisons


def _replicated(
    by_policy: dict[str, dict[int, dict]],
    best: str | None,
    get: Any,
    methods: Mapping[str, Sequence[str]],
    baselines: Sequence[str] = (),
) -> dict:
    """Search methods replicated over searches (issue 31): each method (the policies its searches found) against
    the best baseline on the headline metric (``effects``; against every baseline in ``by_baseline``), and each
    pair of methods (``stats.method_comparisons``: the spread between searches and the seeds' sampling both in the
    CI, Holm's correction within each family)."""

    def scores(name: str) -> dict[int, float]:
        return {k: float(v) for k, r in by_policy[name].items() if (v := get(r)) is not None}

    searches = {m: [scores(n) for n in names] for m, names in methods.items()}
    by_baseline, pairs = method_comparisons(searches, {b: scores(b) for b in baselines})
    effects = by_baseline.get(best, {}) if best else {}
    return {"unit": "search", "reference": best, "effects": effects, "pairs": pairs, "by_baseline": by_baseline}


def _head_to_head(by_policy: dict[str, dict[int, dict]], learned: list[str], get: Any) -> list[dict]:
    """Each pair of learned policies on the headline metric, paired by their common seeds (two at least)."""
    pairs = []
    for i, a_name in enumerate(learned):
        for b_name in learned[i + 1 :]:
            common = sorted(set(by_policy[a_name]) & set(by_policy[b_name]))
            if len(common) >= 2:
                pairs.append(
                    {
                        "a": a_name,
                        "b": b_name,
                        "seeds": common,
                        **paired_comparison(
                            [get(by_policy[a_name][k]) for k in common], [get(by_policy[b_name][k]) for k in common]
                        ),
                    }
                )
    return pairs


def _flat_row(record: dict, metrics: Sequence[tuple] = METRICS) -> dict:
    row: dict[str, Any] = {"policy": record["policy"], "seed": record["seed"]}
    for m, _, _, get in metrics:
        row[m] = get(record)
    for name, table in ((record.get("robustness") or {}).get("corruptions") or {}).items():
        for severity, acc in table.items():
            row[f"{name}_s{severity}"] = acc
    return row


def _fmt(stat: dict, scale: float) -> str:
    if stat["n"] == 0 or not math.isfinite(stat["mean"]):
        return "—"
    digits = 2 if scale == 100 or abs(stat["mean"]) < 100 else 0
    mean = f"{stat['mean'] * scale:.{digits}f}"
    return mean if not math.isfinite(stat["half_width"]) else f"{mean} ± {stat['half_width'] * scale:.{digits}f}"


def _save_figure(fig: Any, path: Path, command: str, bottom: float = 0.05) -> None:
    """Lay out ``fig`` above a footer naming the command that produced it, write it to ``path`` and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.text(
        0.01,
        0.005,
        "\n".join(textwrap.wrap("Produced by: " + command, 160)),
        fontsize=6,
        va="bottom",
        family="monospace",
    )
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plots(out: Path, results: dict, records: list[dict]) -> list[tuple[str, str]]:
    """The report's figures, each saved with the command that produced it: learning curves, accuracy against
    compute, op usage over training (where it changes) and the best policy's confusion matrix."""
    import matplotlib

    matplotlib.use("Agg")
    command = results["meta"]["command"]
    names = [p["name"] for p in results["meta"]["policies"]]
    by_policy = {n: [r for r in records if r["policy"] == n] for n in names}
    figures = [_plot_curves(out, by_policy, command), _plot_cost(out, results, by_policy, command)]
    varying = [n for n, runs in by_policy.items() if runs and _usage_varies(runs)]
    if varying:
        figures.append(_plot_op_usage(out, by_policy, varying, command))
    figures.append(_plot_confusion(out, results, by_policy, names, command))
    return figures


def _plot_curves(out: Path, by_policy: dict[str, list[dict]], command: str) -> tuple[str, str]:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, runs in by_policy.items():
        if not runs:
            continue
        length = min(len(r["history"]) for r in runs)
        x = np.array([runs[0]["history"][i]["samples"] for i in range(length)])
        y = np.array([[r["history"][i]["val_acc"] for i in range(length)] for r in runs])
        ax.plot(x, y.mean(0), marker="o", ms=3, label=name)
        ax.fill_between(x, y.min(0), y.max(0), alpha=0.15)
    ax.set(xlabel="training samples seen", ylabel="validation accuracy", title="Learning curves (mean, min-max band)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    _save_figure(fig, out / "learning_curves.png", command)
    return ("learning_curves.png", "Validation accuracy against training samples, mean over seeds.")


def _plot_cost(out: Path, results: dict, by_policy: dict[str, list[dict]], command: str) -> tuple[str, str]:
    import matplotlib.pyplot as plt

    main = headline_metric(results["summary"])
    read = dict((m, g) for m, _, _, g in METRICS)[main]
    label = "test accuracy" if main == "test_accuracy" else "test entity F1"
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, runs in by_policy.items():
        runs = [r for r in runs if read(r) is not None]  # a run without the headline metric has no point here
        if not runs:
            continue
        cost = np.array([r["train_time_s"] + r["aug_time_s"] for r in runs])
        acc = np.array([read(r) for r in runs]) * 100
        points = ax.scatter(cost, acc, s=12, alpha=0.5)
        ax.errorbar(
            cost.mean(), acc.mean(), xerr=cost.std(), yerr=acc.std(), fmt="o", ms=7, label=name,
            color=points.get_facecolor()[0][:3],
        )  # fmt: skip
    ax.set(
        xlabel="training + augmentation time per run (s, CPU)",
        ylabel=f"{label} (%)",
        title=f"{'Accuracy' if main == 'test_accuracy' else 'Entity F1'} against compute (runs; mean ± std)",
    )
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    _save_figure(fig, out / "accuracy_vs_cost.png", command)
    return ("accuracy_vs_cost.png", f"{label.capitalize()} against training + augmentation time.")


def _plot_op_usage(out: Path, by_policy: dict[str, list[dict]], varying: list[str], command: str) -> tuple[str, str]:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(varying), 1, figsize=(7, 2.6 * len(varying) + 0.6), squeeze=False)
    for ax, name in zip(axes[:, 0], varying):
        _plot_usage(ax, name, by_policy[name])
    _save_figure(fig, out / "op_usage.png", command, bottom=0.04)
    return (
        "op_usage.png",
        "Expected applications per image of each op over training (mean over "
        "seeds), for policies whose op distribution changes during training: " + ", ".join(varying) + ".",
    )


def _plot_confusion(
    out: Path, results: dict, by_policy: dict[str, list[dict]], names: list[str], command: str
) -> tuple[str, str]:
    import matplotlib.pyplot as plt

    main = headline_metric(results["summary"])
    best = max(names, key=lambda n: results["summary"][n][main]["mean"] if by_policy[n] else -1.0)
    shapes = {len(r["test"]["confusion_matrix"]) for r in by_policy[best]}
    if len(shapes) > 1:  # each run file is a square table (checked on reading); their classes must agree too
        raise RunFileError(
            f"the runs of {best!r} hold confusion matrices of {sorted(shapes)} classes: they are not runs of one "
            "task; move the odd run files aside and rerun the benchmark command, which recomputes them"
        )
    cm = np.sum([np.array(r["test"]["confusion_matrix"]) for r in by_policy[best]], axis=0)
    rate = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6, 5.4))
    image = ax.imshow(rate, cmap="Blues", vmin=0, vmax=1)
    classes = by_policy[best][0].get("class_names") or [str(i) for i in range(len(cm))]
    ax.set_xticks(range(len(cm)), classes, rotation=60, fontsize=7)
    ax.set_yticks(range(len(cm)), classes, fontsize=7)
    for i in range(len(cm)):
        for j in range(len(cm)):
            if rate[i, j] >= 0.01:
                colour = "white" if rate[i, j] > 0.5 else "black"
                ax.text(j, i, f"{rate[i, j]:.2f}", ha="center", va="center", fontsize=5, color=colour)
    ax.set(xlabel="predicted", ylabel="true", title=f"Test confusion (row-normalized), best: {best}, all seeds")
    fig.colorbar(image, ax=ax, fraction=0.046)
    _save_figure(fig, out / "confusion_best.png", command)
    return ("confusion_best.png", f"Test confusion matrix of the best policy ({best}), summed over seeds.")


def _usage_varies(runs: list[dict]) -> bool:
    usage = runs[0]["op_usage"]
    return runs[0].get("observes_training", False) or any(u["ops"] != usage[0]["ops"] for u in usage)


def _plot_usage(ax: Any, name: str, runs: list[dict]) -> None:
    length = min(len(r["op_usage"]) for r in runs)
    ops = sorted({op for r in runs for u in r["op_usage"] for op in u["ops"]})
    x = [runs[0]["op_usage"][i]["progress"] for i in range(length)]
    for op in ops:
        y = np.mean([[r["op_usage"][i]["ops"].get(op, 0.0) for i in range(length)] for r in runs], axis=0)
        ax.step(x, y, where="post", label=op)
    ax.set(xlabel="training progress", ylabel="applications / image", title=f"{name}: op usage", xlim=(0, 1))
    ax.legend(fontsize=6, ncol=4)
    ax.grid(alpha=0.3)


def _markdown(results: dict, figures: list[tuple[str, str]]) -> str:
    """report.md: the summary table, the paired comparison with the best baseline, the learned policies head to
    head, the figures and the versions."""
    meta = results["meta"]
    lines = _summary_section(results) + _failed_section(results) + _comparison_section(results)
    lines += _replicated_section(results)
    lines += _head_to_head_section(results)
    lines += ["## Figures", ""] + [
        f"![{f}]({f})\n\n{caption} Produced by: `{meta['command']}`\n" for f, caption in figures
    ]
    lines += ["## Versions", "", "| library | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in meta["versions"].items()]
    lines += [
        "",
        "Per-run records: `runs/<policy-key>-seed<k>.json` (cached; rerunning the command recomputes "
        "nothing). Per-run table: `results.csv`; everything: `results.json`.",
        "",
    ]
    return "\n".join(lines)


def _summary_section(results: dict) -> list[str]:
    meta, summary = results["meta"], results["summary"]
    names = [p["name"] for p in meta["policies"]]
    metrics = [m for m in metrics_for(meta.get("protocol")) if all(m[0] in summary[n] for n in names)]
    shown = [m for m in metrics if any(summary[n][m[0]]["n"] > 0 for n in names)]
    lines = [
        f"# Benchmark: {meta['task']}",
        "",
        f"Command: `{meta['command']}`",
        "",
        f"Seeds: {meta['seeds']} ({len(meta['seeds'])} per policy; runs paired by seed). Task preset "
        f"`{meta['task']}`: {meta['preset'].get('description', '')}",
        "",
        f"Preset fields: `{json.dumps(meta['preset'])}`",
        "",
        "Values: mean ± 95% Student-t CI half-width over seeds. "
        + (
            f"Robustness on {meta['protocol']['robustness_samples']} stratified test images, or the whole test split "
            "where it is smaller (corruptions: mean "
            "over 5 CIFAR-10-C-style corruptions × 5 severities; FGSM in [0,1] pixel units). "
            if meta["protocol"].get("robustness_samples")
            else "No robustness evaluation (robustness_samples 0). "
        )
        + "Times are per run on this machine (CPU), shared with other jobs, so treat them as indicative. "
        + "Cost of the run itself: child-run eq. = (samples trained + extra forward passes / 3) / samples of one "
        + "plain run (population members and a policy's validation passes count); wall × none = wall time over "
        + "the `none` run of the same seed.",
        "",
        "| policy | " + " | ".join(label for _, label, _, _ in shown) + " |",
        "|---|" + "---|" * len(shown),
    ]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(_fmt(summary[n][m], s) for m, _, s, _ in shown) + " |")
    return lines


def _comparison_section(results: dict) -> list[str]:
    best = results["best_baseline"]
    lines = [
        "",
        f"## Paired comparison against the best baseline: `{best}`",
        "",
        (
            "The best of the baselines "
            + ", ".join(f"`{b}`" for b in results["meta"].get("baselines") or [best])
            + " on the headline metric. "
            if best is not None
            else ""
        )
        + f"Differences are policy − {best}, paired by seed, in percentage points; p from a two-sided paired "
        "t-test; CI from a 10,000-resample bootstrap of the mean difference. Holm p: adjusted with Holm's "
        f"method for the {len(results['comparisons'])} policies compared on each metric (family-wise error "
        "rate 0.05); trust a difference only where it is significant after that adjustment.",
        "",
        "| policy | metric | mean diff (pp) | 95% bootstrap CI | p | Holm p | significant at 0.05 | after Holm |",
        "|---|---|---|---|---|---|---|---|",
    ]
    corrected, uncorrected = [], []
    for name, table in results["comparisons"].items():
        for metric, c in table.items():
            holm_p = c.get("p_holm", float("nan"))
            after = bool(c.get("significant_holm", False))
            finding = f"{name} {'>' if c['mean_diff'] > 0 else '<'} {best} on {metric}"
            if after:
                corrected.append(finding)
            elif c["significant"]:
                uncorrected.append(finding)
            lines.append(
                f"| {name} | {metric} | {c['mean_diff'] * 100:+.2f} | [{c['boot_low'] * 100:+.2f}, "
                f"{c['boot_high'] * 100:+.2f}] | {c['p_value']:.3g} | {holm_p:.3g} | "
                f"{'yes' if c['significant'] else 'no'} | {'yes' if after else 'no'} |"
            )
    return lines + [
        "",
        "**Significant at 0.05 after Holm's correction:** "
        + ("; ".join(corrected) + "." if corrected else "none of the differences above."),
        "",
        "**Significant at 0.05 only without correction (treat as leads):** "
        + ("; ".join(uncorrected) + "." if uncorrected else "none."),
        "",
    ]


def _replicated_section(results: dict) -> list[str]:
    rep = results.get("replicated")
    if not rep:
        return []
    methods = results["meta"].get("methods", {})
    lines = [
        "## Search methods, each the mean of its searches",
        "",
        "Each method's policies (one per search) are pooled as the mean of its searches, paired by seed; the 95% "
        "CI and p come from a two-way (search x seed) random-effects model, so they include the spread between "
        "searches as well as the seeds' sampling (Satterthwaite degrees of freedom); a user running a new search "
        "of that method should expect a result inside it (a method with one search has no CI: its spread is "
        "unknown). Holm: within each table. Methods: "
        + "; ".join(f"`{m}` = {', '.join(f'`{n}`' for n in names)}" for m, names in methods.items())
        + ".",
        "",
    ]
    if rep["effects"]:
        lines += [
            f"| method | − {rep['reference']} (pp) | 95% CI | df | between-search share | per search (pp) | p | Holm p |",
            "|---|---|---|---|---|---|---|---|",
        ]
    for m, e in rep["effects"].items():
        per = ", ".join(f"{g * 100:+.2f}" for g in e["search_gains"])
        lines.append(
            f"| {m} | {e['effect'] * 100:+.2f} | [{e['ci_low'] * 100:+.2f}, {e['ci_high'] * 100:+.2f}] | "
            f"{e['df']:.1f} | {e['between_search_share']:.2f} | {per} | {e['p_value']:.3g} | {e['p_holm']:.3g} |"
        )
    if rep["pairs"]:
        lines += ["", "| a − b | difference (pp) | 95% CI | df | p | Holm p |", "|---|---|---|---|---|---|"]
        for name, c in rep["pairs"].items():
            lines.append(
                f"| {name} | {c['difference'] * 100:+.2f} | [{c['ci_low'] * 100:+.2f}, {c['ci_high'] * 100:+.2f}] | "
                f"{c['df']:.1f} | {c['p_value']:.3g} | {c['p_holm']:.3g} |"
            )
    return lines + [""]


def _head_to_head_section(results: dict) -> list[str]:
    if not results.get("head_to_head"):
        return []
    lines = [
        "## Learned policies against each other (secondary)",
        "",
        f"{'Test accuracy' if headline_metric(results['summary']) == 'test_accuracy' else 'Test entity F1'}, a − b "
        "paired by seed, in percentage points; two-sided paired t-test, not adjusted.",
        "",
        "| a | b | mean diff (pp) | 95% bootstrap CI | p |",
        "|---|---|---|---|---|",
    ]
    for c in results["head_to_head"]:
        lines.append(
            f"| {c['a']} | {c['b']} | {c['mean_diff'] * 100:+.2f} | [{c['boot_low'] * 100:+.2f}, "
            f"{c['boot_high'] * 100:+.2f}] | {c['p_value']:.3g} |"
        )
    return lines + [""]


def write_report(out: str | Path, results: dict, records: list[dict]) -> Path:
    """Write results.json, results.csv, figures and report.md into ``out``; returns the report path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results["meta"]["out"] = str(out)
    write_json(out / "results.json", results)
    columns = list(dict.fromkeys(k for row in results["runs"] for k in row))
    with open(out / "results.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(results["runs"])
    figures = _plots(out, results, records) if records else []
    report = out / "report.md"
    report.write_text(_markdown(results, figures), encoding="utf-8")
    return report


class RunFileError(ValueError):
    """A cached run file (``runs/<key>-seed<k>.json``) that is not a benchmark run record; names the file."""


_FIX = "move it aside (or restore it) and rerun the benchmark command, which recomputes that run"


def read_run_file(path: Path) -> dict:
    """The JSON object in a cached run file, or ``RunFileError`` naming the file and what to do."""
    from policy_search.outputs import read_json_object

    return read_json_object(path, "a benchmark run record", _FIX, RunFileError)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _run_problem(record: dict, seed: int | None) -> str | None:
    """What keeps ``record`` from being a run the report can use, or None."""
    if not isinstance(record.get("seed"), int) or isinstance(record.get("seed"), bool):
        return f"'seed' is {json.dumps(record.get('seed'))}, not a whole number"
    if seed is not None and record["seed"] != seed:
        return f"it holds seed {record['seed']}, not the seed {seed} its file name says"
    test = record.get("test")
    if not isinstance(test, dict):
        return "it has no 'test' metrics" if test is None else "'test' is not an object"
    if not any(_is_number(test.get(m)) for m in ("accuracy", "entity_f1")):
        return "'test' holds neither an accuracy nor an entity F1"
    for m in ("accuracy", "entity_f1"):
        value = test.get(m)
        if _is_number(value) and not 0.0 <= value <= 1.0:  # NaN fails this too
            return f"'test' {m} is {value!r}, not a fraction in [0, 1]"
    matrix = test.get("confusion_matrix")
    if not isinstance(matrix, list):
        return "'test' has no confusion_matrix"
    if not matrix or not all(
        isinstance(row, list) and len(row) == len(matrix) and all(_is_number(v) and v >= 0 for v in row)
        for row in matrix
    ):
        return "'test' confusion_matrix is not a square table of counts (one row and column per class)"
    for key in ("train_time_s", "aug_time_s"):
        if not _is_number(record.get(key)):
            return f"{key!r} is {json.dumps(record.get(key))}, not a number"
    history = record.get("history")
    if not isinstance(history, list) or not all(
        isinstance(h, dict) and "samples" in h and "val_acc" in h for h in history
    ):
        return "'history' is not a list of evaluations (samples, val_acc)"
    usage = record.get("op_usage")
    if (
        not isinstance(usage, list)
        or not usage
        or not all(isinstance(u, dict) and isinstance(u.get("ops"), dict) and "progress" in u for u in usage)
    ):
        return "'op_usage' is not a non-empty list of {progress, ops}"
    return None


def check_run(record: dict, path: Path, seed: int | None = None) -> dict:
    """``record`` (read from ``path``) if it holds what the report reads, else ``RunFileError`` naming the file."""
    problem = _run_problem(record, seed)
    if problem is not None:
        raise RunFileError(f"{path} is not a benchmark run record ({problem}); {_FIX}")
    return record


def load_run(path: Path, name: str, seed: int | None = None) -> dict:
    """A cached run file, reported under ``name``: its file name holds the policy's key (a content hash for policy
    files), so a run found there is this policy's even if the file has moved since it ran (a renamed folder).
    A file that is not a run record (or not of ``seed``) raises ``RunFileError`` naming it."""
    return {**check_run(read_run_file(path), path, seed), "policy": name}


def _meta_problem(meta: dict) -> str | None:
    """What in results.json's ``meta`` keeps a report from being rebuilt, or None."""
    seeds = meta.get("seeds")
    if seeds is None:
        return "meta has no 'seeds' (the benchmark's seeds)"
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(k, int) and not isinstance(k, bool) for k in seeds)
    ):
        return f"meta 'seeds' must be a non-empty list of whole numbers, got {json.dumps(seeds)[:80]}"
    if len(set(seeds)) != len(seeds):
        return f"meta 'seeds' repeats a seed ({json.dumps(seeds)[:80]}): each seed is one run per policy"
    policies = meta["policies"]
    if not isinstance(policies, list) or not policies:
        return f"meta 'policies' must be a non-empty list of {{name, key, source}}, got {json.dumps(policies)[:80]}"
    for p in policies:
        if not isinstance(p, dict) or not all(
            isinstance(p.get(k), str) and p.get(k) for k in ("name", "key", "source")
        ):
            return f"meta 'policies' holds {json.dumps(p)[:80]}, not an object with name, key and source strings"
        if "/" in p["key"] or "\\" in p["key"]:
            return f"meta 'policies' holds the key {p['key']!r}, not a run file key"
    names = {p["name"] for p in policies}
    chosen = meta.get("baselines")
    if chosen is not None and (
        not isinstance(chosen, list) or not all(isinstance(b, str) for b in chosen) or not set(chosen) <= names
    ):
        return f"meta 'baselines' must list names of meta 'policies', got {json.dumps(chosen)[:80]}"
    for key, kind in (("preset", dict), ("protocol", dict), ("command", str)):
        if not isinstance(meta.get(key), kind):
            return f"meta {key!r} is {'missing' if key not in meta else json.dumps(meta[key])[:80]}, not a JSON {kind.__name__}"
    return None


def rebuild_report(out: str | Path) -> Path:
    """Recompute results.json / results.csv / report.md / figures of a benchmark folder from its cached runs and
    the settings recorded in its results.json (no training). For a changed report format or statistics."""
    from policy_search.child.tasks import TaskPreset

    out = Path(out)
    from policy_search.outputs import read_json_object

    fix = "rerun the benchmark command to rewrite it (its cached runs are kept)"
    old = read_json_object(out / "results.json", "a benchmark's results", fix)
    if not isinstance(old.get("meta"), dict) or "policies" not in old["meta"]:
        raise ValueError("results.json was not written by the benchmark harness (no meta.policies); nothing to rebuild")
    meta = old["meta"]
    problem = _meta_problem(meta)
    if problem is not None:
        raise ValueError(f"results.json: {problem}; rerun the benchmark command to rewrite it")
    try:
        preset = TaskPreset(**meta["preset"])
    except (TypeError, ValueError) as exc:
        known = sorted(f.name for f in dataclasses.fields(TaskPreset))
        unknown = sorted(set(meta["preset"]) - set(known))
        why = f"unknown field(s) {unknown}" if unknown else str(exc)
        raise ValueError(
            f"results.json: meta 'preset' is not a task preset of this version ({why}); fix that field or rerun the "
            "benchmark command to rewrite it"
        ) from None
    specs = [
        PolicySpec(p["name"], p["key"], None if p["source"] == "preset" else Path(p["source"]))
        for p in meta["policies"]
    ]
    records = []
    for spec in specs:
        for seed in meta["seeds"]:
            path = out / "runs" / f"{spec.key}-seed{seed}.json"
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: rerun the benchmark command ({meta['command']})")
            records.append(load_run(path, spec.name, seed))
    methods = meta.get("methods")
    if methods is not None and not (
        isinstance(methods, dict)
        and all(
            isinstance(v, list) and all(isinstance(n, str) for n in v) and set(v) <= {s.name for s in specs}
            for v in methods.values()
        )
    ):
        raise ValueError("results.json: meta 'methods' is not {method: [names of its policies]}; rerun the benchmark")
    results = aggregate(  # results written before "baselines" was recorded: the default rule, as they ran
        records, specs, meta["seeds"], preset, meta["protocol"], meta["command"], methods, meta.get("baselines")
    )
    if isinstance(meta.get("versions"), dict):
        results["meta"]["versions"] = meta["versions"]  # the libraries the runs were made with, not today's
    if "counts" in old:
        results["counts"] = old["counts"]
    return write_report(out, results, records)


@dataclass
class ReportConfig:
    """``python -m policy_search.benchmark_report FOLDER...``."""

    folders: tuple[str, ...] = ()
    """Benchmark output folders (each holding results.json and runs/) whose reports are rebuilt."""


def build_parser():
    from policy_search.config import dataclass_parser, field_docs

    parser = dataclass_parser(
        ReportConfig,
        prog="python -m policy_search.benchmark_report",
        description="Rebuild benchmark reports from their cached runs (no training).",
        skip=("folders",),
    )
    parser.add_argument("folders", nargs="*", help=field_docs(ReportConfig)["folders"])
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m policy_search.benchmark_report FOLDER...``: rebuild each folder's report from its cached runs."""
    from policy_search.config import parse_config

    parser = build_parser()
    cfg = parse_config(ReportConfig, parser, argv)
    if not cfg.folders:
        parser.error("give at least one benchmark output folder")
    for folder in cfg.folders:
        try:
            print(rebuild_report(folder))
        except (FileNotFoundError, ValueError) as exc:
            parser.exit(2, f"error: {folder}: {exc}\n")
        except OSError as exc:  # a file, /dev/null, a folder it cannot write: nothing is changed
            what = exc.strerror or type(exc).__name__
            where = f" ({exc.filename})" if exc.filename else ""
            parser.exit(
                2, f"error: {folder}: cannot rebuild a report here: {what}{where}; give a benchmark --out folder\n"
            )
    return 0
