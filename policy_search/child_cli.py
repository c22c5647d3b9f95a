"""``python -m policy_search.child``: one child training run with a progress bar, metrics written as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from policy_search.presets import PRESETS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m policy_search.child",
        description="Train one child network on a task preset and write DIR/metrics.json.",
        epilog="presets:\n" + "\n".join(f"  {p.name:18s} {p.description}" for p in PRESETS.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--preset", default="cifar10-proxy", help="task preset (default: %(default)s)")
    parser.add_argument("--policy", default=None, help="augmentation: a policy file or preset name (default none)")
    parser.add_argument("--epochs", type=float, default=None, help="override the preset's epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed of model init and batch order")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding datasets in the Hub layout (default: $POLICY_SEARCH_DATA_DIR, else Hub)")
    parser.add_argument("--dataset", default=None,
                        help="run the preset's recipe on this dataset: a folder (Hub layout or imagefolder) or a "
                             "Hub id; validation is 10%% of its training split")
    parser.add_argument("--out", default="runs/child", help="output folder (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from policy_search import use_all_cores_unless_configured

    use_all_cores_unless_configured()
    from policy_search.child import run_child
    from policy_search.presets import dataset_overrides, get_preset

    try:
        preset = get_preset(args.preset, epochs=args.epochs, **dataset_overrides(args.dataset))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    policy = None
    if args.policy:
        from policy_search.policy import load_policy

        policy = load_policy(args.policy)
    from policy_search.data import DatasetError

    try:
        run, metrics = run_child(preset, seed=args.seed, device=args.device, data_dir=args.data_dir,
                                 policy=policy, progress_bar=True)
    except (DatasetError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    metrics["policy"] = args.policy or "none"
    metrics["command"] = " ".join(["python -m policy_search.child", *(argv if argv is not None else sys.argv[1:])])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    t = metrics["test"]
    print(f"test accuracy {t['accuracy']:.4f}  macro-F1 {t['macro_f1']:.4f}  train {metrics['train_time_s']:.1f}s "
          f"({metrics['samples_per_s']:.0f} samples/s)  gap {metrics['generalization_gap']:+.3f}")
    print(f"metrics written to {out / 'metrics.json'}")
    return 0
