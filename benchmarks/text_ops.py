"""Text-op throughput: our batched ops (policy_search.ops.text) vs nlpaug's per-sentence word augmenters.

Claim (issue 14, item 6; target >= 10x): reviews/s for random word deletion and random word swap at rate 0.1 on a
batch of 256 IMDB training reviews, ours on padded token ids ``[256, L]`` (one call per batch, draws included)
against ``nlpaug.augmenter.word.RandomWordAug(action="delete" | "swap", aug_p=0.1)`` called once per review (what a
per-sample text pipeline does), timed round-robin in one process, median of ``--repeats`` after a warm-up.

Fairness notes: ours starts from token ids (a text pipeline tokenizes once and caches the ids, as this library
caches decoded images); nlpaug starts from the string, tokenizes and joins inside each call, and its output is a
string. ``ours + ids->text`` adds turning every augmented row back into a string with a Python join, so that both
sides end with text. nlpaug caps each sentence's changes at ``aug_max`` (default 10 words); ours has no cap (at rate
0.1 a 230-word review loses ~23 words), so ours does more work per review.

Run: ``POLICY_SEARCH_DATA_DIR=/work/shared/data .venv/bin/python benchmarks/text_ops.py`` (nlpaug from the ``bench``
extra: ``pip install -e ".[bench]"``). Writes benchmarks/results/text_ops.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "benchmarks"))

from ops_throughput import time_interleaved  # noqa: E402
from policy_search.ops.text import Vocab, apply, sample_draws  # noqa: E402


def load_reviews(n: int) -> list[str]:
    import pyarrow.parquet as pq

    root = Path(os.environ.get("POLICY_SEARCH_DATA_DIR", REPO.parent / "shared" / "data")) / "imdb"
    files = sorted(root.rglob("train-*.parquet"))
    if not files:
        raise SystemExit(f"error: no IMDB training parquet under {root}; set POLICY_SEARCH_DATA_DIR")
    return [str(t) for t in pq.read_table(files[0], columns=["text"]).column("text").to_pylist()[:n]]


def encode(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Whitespace words -> ids (a vocabulary of these reviews; ids 0/1 are padding/mask)."""
    words = [t.split() for t in texts]
    vocab = {w: i + 2 for i, w in enumerate(sorted({w for ws in words for w in ws}))}
    lengths = torch.tensor([len(ws) for ws in words])
    ids = torch.zeros(len(words), int(lengths.max()), dtype=torch.long)
    for b, ws in enumerate(words):
        ids[b, : len(ws)] = torch.tensor([vocab[w] for w in ws])
    itos = ["<pad>", "<mask>", *sorted(vocab, key=vocab.get)]
    return ids, lengths, itos


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reviews", type=int, default=256, help="batch of IMDB training reviews (default 256)")
    parser.add_argument("--rate", type=float, default=0.1, help="EDA alpha: per-word rate (default 0.1)")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per implementation (median reported)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "text_ops.json"), help="JSON output")
    args = parser.parse_args(argv)
    try:
        import nlpaug
        import nlpaug.augmenter.word as naw
    except ImportError:
        raise SystemExit('error: nlpaug is not installed; pip install -e ".[bench]"') from None
    torch.set_num_threads(1)
    texts = load_reviews(args.reviews)
    ids, lengths, itos = encode(texts)
    vocab = Vocab(pad_id=0, mask_id=1, num_special=2)
    rate = torch.full((len(texts),), args.rate)
    g = torch.Generator().manual_seed(0)

    def ours(op: str) -> Callable[[], object]:
        return lambda: apply(op, ids, lengths, rate, sample_draws(ids, g), vocab)

    def ours_text(op: str) -> Callable[[], object]:
        def call() -> list[str]:
            out, out_len, _ = apply(op, ids, lengths, rate, sample_draws(ids, g), vocab)
            return [" ".join(itos[i] for i in row[:n]) for row, n in zip(out.tolist(), out_len.tolist())]

        return call

    rows = []
    for op, action in (("RandomDeletion", "delete"), ("RandomSwap", "swap")):
        aug = naw.RandomWordAug(action=action, aug_p=args.rate)
        seconds = time_interleaved(
            {
                "ours": ours(op),
                "ours + ids->text": ours_text(op),
                "nlpaug per review": lambda a=aug: [a.augment(t) for t in texts],
            },
            args.repeats,
        )
        per_s = {k: len(texts) / s for k, s in seconds.items()}
        rows.append(
            {
                "op": op,
                "nlpaug_action": action,
                "reviews_per_s": per_s,
                "speedup": per_s["ours"] / per_s["nlpaug per review"],
                "speedup_with_text": per_s["ours + ids->text"] / per_s["nlpaug per review"],
            }
        )
        print(
            f"{op:15s} " + "  ".join(f"{k}: {v:,.0f}/s" for k, v in per_s.items()) + f"  ({rows[-1]['speedup']:.0f}x)"
        )
    result = {
        "rows": rows,
        "target_speedup": 10,
        "reviews": len(texts),
        "mean_words": float(lengths.float().mean()),
        "rate": args.rate,
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": 1,
                    "nlpaug": nlpaug.__version__},
        "command": "python benchmarks/text_ops.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
