"""``python -m policy_search.generative train|evaluate``: train a generator into the cache, or report its quality."""

from __future__ import annotations

import argparse
import json
import sys

from policy_search.generative import train
from policy_search.generative.models import MODEL_KINDS
from policy_search.generative.quality import evaluate_to_folder
from policy_search.generative.train import DATASETS, SIZES, GeneratorCheckpointError, generator_dir, train_generator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m policy_search.generative", description=train.__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "evaluate"):
        p = sub.add_parser(name)
        p.add_argument("--dataset", required=True, choices=sorted(DATASETS), help="training split of this dataset")
        p.add_argument("--model", required=True, choices=MODEL_KINDS, help="class-conditional generator")
        p.add_argument("--size", default="proxy", choices=SIZES, help="proxy: CPU minutes; full: for a GPU")
        p.add_argument("--seed", type=int, default=0, help="seed of the generator's training (default 0)")
        p.add_argument("--data-dir", default=None, help="datasets folder (default $POLICY_SEARCH_DATA_DIR)")
        p.add_argument("--out", default=None, help="output folder (train: default the cache folder)")
    train_p, eval_p = sub.choices["train"], sub.choices["evaluate"]
    train_p.add_argument("--epochs", type=int, default=None, help="override the recipe (result is not cached)")
    train_p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    eval_p.add_argument(
        "--samples-per-class", type=int, default=200, help="generated images per class scored (default 200)"
    )
    args = parser.parse_args(argv)
    if args.command == "train":
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
        print(
            f"trained {gen}; checkpoint in {args.out or generator_dir(args.dataset, args.model, args.size, args.seed)}"
        )
        return 0
    if args.out is None:
        parser.error("evaluate needs --out DIR")
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
    print(json.dumps({k: quality[k] for k in ("classifier_accuracy_mean", "diversity_ratio_mean")}, indent=2))
    return 0
