"""Quality of the class-conditional text generator (issue 14, seed 002), the way the image generators are judged.

- label recognition: how often a classifier trained on real reviews (bag-of-words logistic regression on the
  training part of IMDB; its accuracy on the validation reviews is reported beside it) assigns a generated review
  the label it was conditioned on;
- diversity: distinct-1 and distinct-2 (Li et al. 2016) of generated reviews, beside the same numbers for as many
  real validation reviews.

    python experiments/generative-text-imdb/quality.py --size proxy --n 500
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch

from policy_search.generative.text_lm import TEXT_SIZES, _load_data, distinct_n, get_text_generator
from policy_search.ops.text import TokenBatch


def bag_of_words(tokens: TokenBatch, vocab_size: int) -> torch.Tensor:
    rows = torch.arange(len(tokens)).unsqueeze(1).expand_as(tokens.ids)
    real = torch.arange(tokens.ids.shape[1]).unsqueeze(0) < tokens.lengths.unsqueeze(1)
    x = torch.zeros(len(tokens), vocab_size)
    x.index_put_((rows[real], tokens.ids[real]), torch.ones(int(real.sum())), accumulate=True)
    return (x > 0).float()


def train_classifier(x: torch.Tensor, y: torch.Tensor, epochs: int = 30) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Linear(x.shape[1], 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-6)
    for _ in range(epochs):
        for idx in torch.randperm(len(y)).split(512):
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="proxy", choices=tuple(TEXT_SIZES))
    parser.add_argument("--n", type=int, default=500, help="generated reviews (half per class)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "quality.json"))
    parser.add_argument(
        "--filter",
        type=float,
        default=None,
        help="also judge the LAMBADA-style filter at this threshold (generative/text_filter.py): its acceptance rate "
        "and the accepted reviews' diversity; their label recognition by the reference classifier is high by "
        "construction (the filter's classifier is of the same kind, on the same reviews), so it is reported but "
        "says little: the ratio ablation is the test",
    )
    args = parser.parse_args()
    from policy_search.threads import configure_threads

    configure_threads()  # POLICY_SEARCH_THREADS, else every core
    t0 = time.perf_counter()
    data = _load_data("imdb", None)
    gen = get_text_generator("imdb", size=args.size, seed=0, progress=True)
    train_s = time.perf_counter() - t0
    v = data.vocab_size
    clf = train_classifier(bag_of_words(data.train.tokens, v), data.train.labels)
    with torch.no_grad():
        val_acc = float((clf(bag_of_words(data.val.tokens, v)).argmax(1) == data.val.labels).float().mean())
        labels = torch.arange(args.n) % 2
        t1 = time.perf_counter()
        fake = gen.sample(labels, torch.Generator().manual_seed(0))
        sample_s = time.perf_counter() - t1
        recognised = float((clf(bag_of_words(fake, v)).argmax(1) == labels).float().mean())
    real = data.val.tokens.index_select(torch.arange(args.n))
    result = {
        "size": args.size,
        "generator": gen.meta,
        "generated_reviews": args.n,
        "reference_classifier_val_accuracy": val_acc,
        "label_recognition": recognised,
        "distinct_1": {"generated": distinct_n(fake, 1), "real": distinct_n(real, 1)},
        "distinct_2": {"generated": distinct_n(fake, 2), "real": distinct_n(real, 2)},
        "mean_length": {"generated": float(fake.lengths.float().mean()), "real": float(real.lengths.float().mean())},
        "train_or_load_seconds": round(train_s, 1),
        "sample_seconds": round(sample_s, 1),
        "command": "python experiments/generative-text-imdb/quality.py " + " ".join(sys.argv[1:]),
    }
    if args.filter is not None:
        from policy_search.generative.text_filter import FilteredTextGenerator, train_word_presence_classifier

        filt = train_word_presence_classifier(data.train.tokens, data.train.labels, v, data.num_classes)
        filtered = FilteredTextGenerator(gen, filt, threshold=args.filter)
        t2 = time.perf_counter()
        kept, accepted = filtered.sample(labels, torch.Generator().manual_seed(1))
        kept = kept.index_select(torch.nonzero(accepted).flatten())
        with torch.no_grad():
            kept_recognised = float((clf(bag_of_words(kept, v)).argmax(1) == labels[accepted]).float().mean())
        result["filter"] = {
            "threshold": args.filter,
            "rounds": filtered.rounds,
            "acceptance_rate": filtered.acceptance_rate,
            "rows_filled": float(accepted.float().mean()),
            "label_recognition_by_construction": kept_recognised,
            "distinct_1": distinct_n(kept, 1),
            "distinct_2": distinct_n(kept, 2),
            "sample_seconds": round(time.perf_counter() - t2, 1),
        }
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "generator"}, indent=1))


if __name__ == "__main__":
    main()
