"""``python -m policy_search.child``: one child training run with a progress bar, metrics written as JSON."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from policy_search.child.tasks import PRESETS
from policy_search.config import add_set_option, dataclass_parser, overrides_to_dict, parse_config
from policy_search.outputs import require_writable, write_json


@dataclass
class ChildConfig:
    """One child training run."""

    task: str = "cifar10-proxy"
    """Task preset (dataset, model, optimizer, budget; listed below); --preset is the same option."""
    policy: str | None = None
    """Augmentation: a policy file or a policy preset name (default: none)."""
    epochs: float | None = None
    """Override the preset's epochs."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Preset field overrides (``--set lr_schedule=cosine``, repeatable); ``--epochs`` wins over ``--set epochs=``."""
    seed: int = 0
    """Seed of model initialisation and batch order."""
    test: bool = True
    """Score the test split at the end; --no-test locks it (validation only, for design checks and choices)."""
    device: str = "auto"
    """auto, cpu or cuda."""
    data_dir: str | None = None
    """Folder holding datasets in the Hub layout (default: $POLICY_SEARCH_DATA_DIR, else the Hub)."""
    dataset: str | None = None
    """Run the preset's recipe on this dataset: a folder (Hub layout or imagefolder) or a Hub id; validation is
    10% of its training split."""
    out: str = "runs/child"
    """Output folder (metrics.json, config.json, command.txt)."""


def build_parser() -> argparse.ArgumentParser:
    parser = dataclass_parser(
        ChildConfig,
        prog="python -m policy_search.child",
        description="Train one child network on a task preset and write DIR/metrics.json.",
        epilog="presets:\n" + "\n".join(f"  {p.name:18s} {p.description}" for p in PRESETS.values()),
        flags={"task": ["--task", "--preset"]},
        choices={"device": ["auto", "cpu", "cuda"]},
        skip=["overrides"],
    )
    add_set_option(parser, "task preset field override, e.g. --set lr_schedule=cosine (repeatable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_config(ChildConfig, build_parser(), argv, convert=overrides_to_dict)
    from policy_search.threads import use_all_cores_unless_configured

    use_all_cores_unless_configured()
    from policy_search.child.data import DatasetError
    from policy_search.child.run import ChildDivergedError, run_child
    from policy_search.generative.train import GeneratorCheckpointError

    try:
        preset, policy, out = _prepare(args)
        run, metrics = run_child(
            preset,
            seed=args.seed,
            device=args.device,
            data_dir=args.data_dir,
            policy=policy,
            progress_bar=True,
            test=args.test,
        )
    except (DatasetError, ValueError, OSError, ChildDivergedError, GeneratorCheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)  # PolicyFileError is a ValueError; one line, exit 2
        return 2
    metrics["policy"] = args.policy or "none"
    metrics["command"] = " ".join(["python -m policy_search.child", *(argv if argv is not None else sys.argv[1:])])
    write_json(out / "metrics.json", metrics)
    recorded = asdict(args)
    if recorded.get("data_dir") is None and os.environ.get("POLICY_SEARCH_DATA_DIR"):
        recorded["data_dir"] = os.environ["POLICY_SEARCH_DATA_DIR"]  # the data folder used, not null
    write_json(out / "config.json", recorded)
    (out / "command.txt").write_text(metrics["command"] + "\n")
    _print_result(metrics, out)
    return 0


def _prepare(args: ChildConfig):
    """The task preset, the policy (None for none) and the output folder, each checked before any training, so a
    finished run is never lost to a bad flag or an unwritable folder (ValueError or OSError, one line)."""
    from policy_search.child.tasks import dataset_overrides, get_preset

    if args.policy is not None and not str(args.policy).strip():
        raise ValueError("--policy is empty; give a policy file or a preset name (none for no augmentation)")
    if not 0 <= args.seed < 2**63:
        raise ValueError(f"--seed must be from 0 to 2**63 - 1, got {args.seed}")
    overrides = {**args.overrides, **({"epochs": args.epochs} if args.epochs is not None else {})}
    preset = get_preset(args.task, **overrides, **dataset_overrides(args.dataset))
    policy = None
    if args.policy is not None:
        from policy_search.policy import load_policy

        policy = load_policy(args.policy)
    out = Path(args.out)
    require_writable(out)
    return preset, policy, out


def _print_result(metrics: dict, out: Path) -> None:
    t = metrics["test"] or metrics["val"]
    split = "test" if metrics["test"] else "val (test split locked)"
    if "entity_f1" in t:
        print(
            f"{split} entity F1 {t['entity_f1']:.4f}  precision {t['entity_precision']:.4f}  recall {t['entity_recall']:.4f}"
        )
    print(
        f"{split} accuracy {t['accuracy']:.4f}  macro-F1 {t['macro_f1']:.4f}  train {metrics['train_time_s']:.1f}s "
        f"({metrics['samples_per_s']:.0f} samples/s)  gap {metrics['generalization_gap']:+.3f}"
    )
    print(f"metrics written to {out / 'metrics.json'}")
