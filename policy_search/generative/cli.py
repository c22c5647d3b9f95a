"""``python -m policy_search.generative train|evaluate``: train a generator into the cache, or report its quality."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from policy_search.config import dataclass_parser, parse_config
from policy_search.generative import train
from policy_search.generative.models import MODEL_KINDS
from policy_search.generative.quality import evaluate_to_folder
from policy_search.generative.train import DATASETS, SIZES, GeneratorCheckpointError, generator_dir, train_generator

COMMANDS = ("train", "evaluate")


@dataclass
class GenerativeConfig:
    """What ``python -m policy_search.generative train|evaluate`` runs on."""

    command: str = "train"
    """train (a generator into the cache) or evaluate (its quality report)."""
    dataset: str | None = None
    """Training split of this dataset (required)."""
    model: str | None = None
    """Class-conditional generator (required)."""
    size: str = "proxy"
    """proxy: CPU minutes; full: for a GPU."""
    seed: int = 0
    """Seed of the generator's training."""
    data_dir: str | None = None
    """Datasets folder (default $POLICY_SEARCH_DATA_DIR)."""
    out: str | None = None
    """Output folder (train: default the cache folder; evaluate: required)."""
    epochs: int | None = None
    """train: override the recipe's epochs (the result is not cached)."""
    resume: bool = False
    """train: continue from OUT/checkpoint.pt (an error when there is none: drop --resume to start afresh)."""
    samples_per_class: int = 200
    """evaluate: generated images per class scored."""


def build_parser():
    parser = dataclass_parser(
        GenerativeConfig,
        prog="python -m policy_search.generative",
        description=train.__doc__.splitlines()[0],
        skip=("command",),
        choices={"dataset": sorted(DATASETS), "model": MODEL_KINDS, "size": SIZES},
    )
    parser.add_argument(
        "command", choices=COMMANDS, help="train (a generator into the cache) or evaluate (its quality)"
    )
    return parser


def _record(folder, cfg: GenerativeConfig, argv: list[str] | None) -> None:
    """The resolved options and the exact command beside the outputs (the generator's own config.json, which
    holds its training recipe, is left alone)."""
    import shlex
    from dataclasses import asdict
    from pathlib import Path

    from policy_search.outputs import atomic_write_text, write_json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "command_config.json", asdict(cfg))
    args = sys.argv[1:] if argv is None else argv
    atomic_write_text(folder / "command.txt", shlex.join(["python", "-m", "policy_search.generative", *args]) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_config(GenerativeConfig, parser, argv)
    folder = _checked_folder(parser, args)
    if args.command == "train":
        from policy_search.child.data import DatasetError
        from policy_search.threads import use_all_cores_unless_configured

        use_all_cores_unless_configured()  # POLICY_SEARCH_THREADS, as every single-run command

        try:  # a checkpoint saved each epoch is kept: rerunning with --resume continues from it
            gen = train_generator(
                args.dataset,
                args.model,
                args.out,
                size=args.size,
                seed=args.seed,
                epochs=args.epochs,
                data_dir=args.data_dir,
                resume=args.resume,
            )
        except (ValueError, GeneratorCheckpointError, DatasetError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        _record(folder, args, argv)
        print(f"trained {gen}; checkpoint in {folder}")
        return 0
    try:
        quality = evaluate_to_folder(
            args.dataset,
            args.model,
            args.out,
            size=args.size,
            seed=args.seed,
            samples_per_class=args.samples_per_class,
            data_dir=args.data_dir,
        )
    except GeneratorCheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _record(args.out, args, argv)
    print(json.dumps({k: quality[k] for k in ("classifier_accuracy_mean", "diversity_ratio_mean")}, indent=2))
    return 0


def _checked_folder(parser: argparse.ArgumentParser, args: GenerativeConfig):
    """The output folder, once the flags are checked and the folder is known to be writable (exits 2 with one line
    otherwise): checked before any training, so a trained generator is never lost to an unwritable folder."""
    for name in ("dataset", "model"):
        if getattr(args, name) is None:
            parser.error(f"{args.command} needs --{name}")
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    if not 0 <= args.seed < 2**31:
        parser.error(f"--seed must be from 0 to 2**31 - 1, got {args.seed}")
    if args.samples_per_class < 1:
        parser.error(f"--samples-per-class must be at least 1, got {args.samples_per_class}")
    if args.command == "evaluate" and args.out is None:
        parser.error("evaluate needs --out DIR")
    try:
        folder = args.out or generator_dir(args.dataset, args.model, args.size, args.seed)
    except ValueError as exc:  # a bad key from a caller that skipped the parser's choices
        parser.exit(2, f"error: {exc}\n")
    if args.command == "train" and args.resume and not (Path(folder) / "checkpoint.pt").is_file():
        parser.exit(
            2,
            f"error: --resume: {Path(folder) / 'checkpoint.pt'} does not exist, so there is no training to continue; "
            "drop --resume to train from scratch, or give the --out of the interrupted run\n",
        )
    try:
        from policy_search.outputs import check_writable

        check_writable(folder)
    except OSError as exc:
        parser.exit(
            2, f"error: --out {str(folder)!r} cannot hold the outputs ({exc.strerror or exc}); choose another\n"
        )
    return folder
