"""Validation learning curves of RL designs at equal compute: how fast does each find a policy that beats none?

    python -m policy_search.search curve --config experiments/ab-credit-mnist-small/config.json

Each design is a set of ``train_agent.TrainConfig`` fields (agent, credit, gamma, population, ...). For every
design and search seed, the agent trains in one run folder, resumed from checkpoint to checkpoint; at each
checkpoint (a budget in child-run equivalents: child-training samples / samples of one child run) the exported
frozen controller (``policy.json``) and distilled schedule (``schedule.json``) are copied aside and trained from
scratch on ``eval_seeds`` fresh child seeds with the test split locked; their final accuracy on the validation
split carved from train is the curve. ``none`` is measured on the same child seeds, so every point is a paired
difference against no augmentation. Nothing here touches the test split: designs are chosen on these curves.

Outputs in ``out``: ``curve.csv`` (design, seed, checkpoint, export, val accuracy, gain vs none), ``summary.json``
(mean ± 95% CI of the gain per design and checkpoint, and the share of searches whose export beats none),
``curve.png``, and each design's run folders. Finished evaluations are cached in ``evals/`` and never recomputed.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from policy_search.benchmark.race import ci95, val_accuracy  # shared with the race
from policy_search.outputs import write_json

__all__ = ["CurveConfig", "run_curve", "val_accuracy", "ci95", "main"]


@dataclass
class CurveConfig:
    """One A/B of search designs; every field but ``designs`` has a default that runs."""

    task: str = "mnist-small"
    """Task preset of every child run (search and evaluation)."""
    designs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Design name -> TrainConfig fields (e.g. {"agent": "augnet", "credit": "end"})."""
    checkpoints: tuple[int, ...] = (8, 16, 24)
    """Budgets, in child-run equivalents, at which each design's exports are evaluated."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Search seeds per design."""
    eval_seeds: tuple[int, ...] = (1000, 1001)
    """Child seeds of the validation evaluation of every export (fresh: no search episode uses them)."""
    out: str = "runs/search-curve"
    """Output folder."""
    epochs: float | None = None
    """Override the preset's epochs in search and evaluation alike (tests use a tiny budget)."""
    data_dir: str | None = None
    """Dataset root (default $POLICY_SEARCH_DATA_DIR)."""
    dataset: str | None = None
    """Run the task's recipe on your own data: a folder (Hub layout or imagefolder) or a Hub id; validation is 10%
    of its training split (as ``child`` and ``train_agent --dataset``)."""
    device: str = "auto"
    """Device of every child run: auto, cpu or cuda."""
    description: str = ""
    """One line for the summary."""

    def validate(self) -> None:
        from policy_search.child.tasks import dataset_overrides, get_preset
        from policy_search.config import json_type_error
        from policy_search.train_agent import TrainConfig

        get_preset(self.task, **dataset_overrides(self.dataset))
        from policy_search.child.data import check_dataset

        check_dataset(self.dataset, self.data_dir)
        if not self.designs:
            raise ValueError("no designs: give 'designs' as {name: {TrainConfig field: value}}")
        if not self.seeds or min(self.seeds) < 0 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"--seeds needs one or more distinct search seeds >= 0, got {list(self.seeds)}")
        if not self.checkpoints:
            raise ValueError("--checkpoints needs one or more budgets (child runs), e.g. --checkpoints 16 32 48")
        if not self.eval_seeds or min(self.eval_seeds) < 0:
            raise ValueError(
                f"--eval-seeds needs one or more child seeds >= 0 (every export is scored on them), got "
                f"{list(self.eval_seeds)}"
            )
        if list(self.checkpoints) != sorted(set(self.checkpoints)) or min(self.checkpoints) < 1:
            raise ValueError(f"checkpoints must be increasing positive budgets, got {list(self.checkpoints)}")
        known = set(TrainConfig.__dataclass_fields__)
        for name, fields in self.designs.items():
            if not isinstance(fields, dict):
                raise ValueError(f"design {name!r} must be an object of TrainConfig fields, got {fields!r}")
            unknown = sorted(set(fields) - known)
            if unknown:
                raise ValueError(f"design {name!r} has unknown TrainConfig field(s) {unknown}")
            reserved = sorted(set(fields) & set(CURVE_SETS))
            if reserved:
                raise ValueError(
                    f"design {name!r} sets {reserved}, which the curve sets itself for every design (the same "
                    "task, search seeds --seeds, --epochs, run folders under --out); set them on the curve, or drop "
                    "them from the design"
                )
            for key, value in fields.items():  # JSON values against the field types, as --config files are
                why = json_type_error(TrainConfig.__dataclass_fields__[key].type, value)
                if why is not None:
                    raise ValueError(f"design {name!r}: {key!r}: {why}")
            try:  # a bad value (an unknown agent, a negative weight) is one line now, not after the first runs
                TrainConfig(**_train_fields(self, fields, 0, min(self.checkpoints), Path(self.out))).validate()
            except (TypeError, ValueError) as exc:
                raise ValueError(f"design {name!r}: {exc}") from None


# TrainConfig fields the curve sets for every design (a design setting one would silently change what is compared,
# e.g. its own seed in place of the search seeds); ``episodes`` is the checkpoint budget, see run_curve.
CURVE_SETS = ("task", "seed", "data_dir", "dataset", "device", "progress_bar", "epochs", "out", "resume")


def _train_fields(cfg: CurveConfig, design: dict, seed: int, runs: int, folder: Path) -> dict[str, Any]:
    """The TrainConfig fields of one design's search at ``seed`` trained to ``runs`` episodes in ``folder``."""
    return {
        "rescore": 0,  # a checkpoint is the controller's state after `runs` episodes, not a race's pick (issue 31)
        "action_kind": "compact",  # a design's own action, else compact (not train_agent's auto: fixed per design)
        **design,
        "task": cfg.task,
        "seed": seed,
        "data_dir": cfg.data_dir,
        "dataset": cfg.dataset,
        "device": cfg.device,
        "progress_bar": False,
        "epochs": cfg.epochs,
        "episodes": runs,
        "out": str(folder),
        "resume": (folder / "checkpoint.pt").exists(),
    }


def _train_to(cfg: CurveConfig, design: dict, seed: int, folder: Path, runs: int) -> dict:
    from policy_search.train_agent import TrainConfig, train

    done = 0
    if (folder / "summary.json").exists():
        done = json.loads((folder / "summary.json").read_text())["episodes"]
    if done < runs:
        train(TrainConfig(**_train_fields(cfg, design, seed, runs, folder)))
    return json.loads((folder / "summary.json").read_text())


def run_curve(cfg: CurveConfig) -> dict:
    """Train every design to every checkpoint, evaluate the exports on validation; returns the summary."""
    cfg.validate()
    out = Path(cfg.out)
    from policy_search.outputs import require_writable

    require_writable(out)  # before any work: a file or read-only folder is one line, not a traceback
    out.mkdir(parents=True, exist_ok=True)
    for name, design in cfg.designs.items():
        if "episodes" in design:
            print(
                f"[curve] design {name!r}: 'episodes' {design['episodes']!r} is not used: every design trains to each "
                f"of --checkpoints {list(cfg.checkpoints)} episodes",
                file=sys.stderr,
            )
    from policy_search.child.tasks import dataset_overrides

    kw = {
        "data_dir": cfg.data_dir,
        "epochs": cfg.epochs,
        "overrides": dataset_overrides(cfg.dataset),
        "device": cfg.device,
    }
    none = {s: val_accuracy(cfg.task, None, s, out / "evals" / f"none-seed{s}.json", **kw) for s in cfg.eval_seeds}
    rows = _run_points(cfg, out, none, kw)
    with (out / "curve.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = _aggregate(cfg, rows, none)
    write_json(out / "summary.json", summary)  # strict JSON: a CI over one search seed (nan) is written as null
    _plot(summary, out / "curve.png")
    return summary


def _run_points(cfg: CurveConfig, out: Path, none: dict[int, float], kw: dict[str, Any]) -> list[dict[str, Any]]:
    """Each design's searches trained to each checkpoint (resuming the same run), both exports frozen there and
    evaluated on the validation seeds (cached per file); one row per evaluation."""
    from tqdm.auto import tqdm

    rows = []
    total = len(cfg.designs) * len(cfg.seeds) * len(cfg.checkpoints)
    with tqdm(total=total, desc=f"search curves on {cfg.task}", unit="checkpoint") as bar:
        for name, design in cfg.designs.items():
            for seed in cfg.seeds:
                folder = out / "runs" / f"{name}-seed{seed}"
                for budget in cfg.checkpoints:
                    summary = _train_to(cfg, design, seed, folder, budget)
                    for export in ("policy", "schedule"):
                        frozen = out / "exports" / f"{name}-seed{seed}-at{budget}-{export}.json"
                        if not frozen.exists():
                            frozen.parent.mkdir(parents=True, exist_ok=True)
                            shutil.copyfile(folder / f"{export}.json", frozen)
                        for s in cfg.eval_seeds:
                            acc = val_accuracy(
                                cfg.task, str(frozen), s, out / "evals" / f"{frozen.stem}-seed{s}.json", **kw
                            )
                            rows.append(
                                {
                                    "design": name,
                                    "seed": seed,
                                    "budget": budget,
                                    "export": export,
                                    "eval_seed": s,
                                    "val_accuracy": acc,
                                    "gain_vs_none": acc - none[s],
                                    "child_seconds": summary["child_seconds"],
                                }
                            )
                    bar.update(1)
    return rows


def _aggregate(cfg: CurveConfig, rows: list[dict[str, Any]], none: dict[int, float]) -> dict[str, Any]:
    """One point per design, checkpoint and export: the mean gain over no augmentation across search seeds (each
    search's gain averaged over the validation seeds first), with its CI."""
    summary: dict[str, Any] = {
        "task": cfg.task,
        "description": cfg.description,
        "designs": cfg.designs,
        "none_val_accuracy": none,
        "points": [],
    }
    for name in cfg.designs:
        for budget in cfg.checkpoints:
            for export in ("policy", "schedule"):
                sel = [r for r in rows if (r["design"], r["budget"], r["export"]) == (name, budget, export)]
                per_search = [float(np.mean([r["gain_vs_none"] for r in sel if r["seed"] == s])) for s in cfg.seeds]
                summary["points"].append(
                    {
                        "design": name,
                        "budget": budget,
                        "export": export,
                        "gain_mean": float(np.mean(per_search)),
                        "gain_ci95": ci95(per_search),
                        "searches_beating_none": int(sum(g > 0 for g in per_search)),
                        "searches": len(per_search),
                        "child_seconds_mean": float(np.mean([r["child_seconds"] for r in sel])),
                    }
                )
    return summary


def _plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, export in zip(axes, ("policy", "schedule")):
        for name in summary["designs"]:
            pts = [p for p in summary["points"] if p["design"] == name and p["export"] == export]
            x = [p["budget"] for p in pts]
            y = [100 * p["gain_mean"] for p in pts]
            err = [100 * (p["gain_ci95"] if math.isfinite(p["gain_ci95"]) else 0) for p in pts]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=name)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(f"frozen {'controller' if export == 'policy' else 'schedule'}", fontsize=10)
        ax.set_xlabel("search budget (child-run equivalents)")
    axes[0].set_ylabel("val accuracy vs none (points)")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"{summary['task']}: {summary['description']}"[:110], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser():
    from policy_search.config import dataclass_parser

    return dataclass_parser(
        CurveConfig,
        prog="python -m policy_search.search curve",
        description=__doc__.split("\n\n")[0],
        epilog="designs (design name -> train_agent fields) come from --config FILE.json, which is required.",
        skip=("designs",),
        choices={"device": ("auto", "cpu", "cuda")},
    )


def main(argv: list[str] | None = None) -> int:
    from policy_search.child.data import DatasetError
    from policy_search.config import parse_config
    from policy_search.threads import use_all_cores_unless_configured

    parser = build_parser()
    cfg = parse_config(CurveConfig, parser, argv)
    if not cfg.designs:
        parser.error("no designs: give --config FILE.json with 'designs' as {name: {train_agent field: value}}")
    use_all_cores_unless_configured()
    try:
        summary = run_curve(cfg)
    except (ValueError, TypeError, FileNotFoundError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for p in summary["points"]:
        print(
            f"{p['design']:>16} @{p['budget']:>3} {p['export']:>8}: {100 * p['gain_mean']:+.2f} "
            f"± {100 * p['gain_ci95']:.2f} points vs none ({p['searches_beating_none']}/{p['searches']} beat it)"
        )
    return 0
