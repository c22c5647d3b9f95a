"""Training-step time of the text generator: version 3's adaptive softmax against GPT-2's full output layer.

Claims header (airbench style): the "about 6 times cheaper a batch" of docs/GENERATIVE.md and
policy_search/generative/text_lm.py comes from this script, run as
`.venv/bin/python benchmarks/text_generator_step.py` on the CPU named in benchmarks/results/text_generator_step.json
(machine, versions, threads, size and repeats are recorded there). Both models are freshly initialised at the same
size (`TEXT_SIZES[--size]`: the same GPT-2 body, the children's 20,000-word vocabulary plus one prefix token per
class): the reference is `transformers.GPT2LMHeadModel` (version 2 of the generator: a tied 20k-word output layer and
a full softmax), the candidate `text_lm.AdaptiveLM` (version 3). One step is what `text_lm._fit` does per batch: the
loss of one batch of `lm_batch` inputs (32 reviews of 64-128 tokens by default, word ids drawn from a Zipf law as in
real text, so the adaptive softmax's head cluster sees the share of tokens it would), backward, an AdamW step. The
figure is the median over `--repeats` rounds of the ratio of the two models' times within the round (the reference
and the candidate alternate), so load from other processes shifts both alike.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from datetime import date
from pathlib import Path

import torch

from generator_costs import _timed  # benchmarks/: the same timing loop
from policy_search.generative.text_lm import TEXT_SIZES, AdaptiveLM, gpt2_config, lm_batch

RESULTS = Path(__file__).resolve().parent / "results" / "text_generator_step.json"
VOCAB, CLASSES = 20000, 2


def _reference(cfg) -> torch.nn.Module:
    """Version 2's model: GPT-2 with its tied full-vocabulary output layer."""
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel(gpt2_config(VOCAB, CLASSES, cfg))


def _batch(cfg, batch: int, g: torch.Generator):
    """A batch of Zipf-distributed word ids (ids 5..VOCAB-1, rank = id order) with review lengths up to max_length."""
    ranks = torch.arange(1, VOCAB - 4, dtype=torch.float64)
    ids = 5 + torch.multinomial(1.0 / ranks, batch * cfg.max_length, replacement=True, generator=g)
    ids = ids.view(batch, cfg.max_length)
    lengths = torch.randint(cfg.max_length // 2, cfg.max_length + 1, (batch,), generator=g)
    return ids, lengths, torch.randint(0, CLASSES, (batch,), generator=g)


def _stepper(model, loss_of):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        loss = loss_of()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="proxy", choices=[k for k, v in TEXT_SIZES.items() if not v.pretrained])
    parser.add_argument("--batch", type=int, default=32, help="reviews per step (the generators' batch)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds; the median ratio is reported")
    parser.add_argument("--inner", type=int, default=2, help="steps per timed run")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: stable on a shared machine)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = TEXT_SIZES[args.size]
    ids, lengths, labels = _batch(cfg, args.batch, torch.Generator().manual_seed(0))
    x, real, target = lm_batch(VOCAB + labels, ids, lengths, cfg.max_length)
    counts = torch.bincount(ids.flatten(), minlength=VOCAB)
    full = _reference(cfg)
    adaptive = AdaptiveLM(VOCAB, CLASSES, cfg, counts)
    steps = {
        "full_softmax": _stepper(full, lambda: full(input_ids=x, attention_mask=real.long(), labels=target).loss),
        "adaptive_softmax": _stepper(adaptive, lambda: adaptive.loss(x, real, target)),
    }
    for step in steps.values():  # warm-up
        step()
    seconds: dict[str, list[float]] = {k: [] for k in steps}
    ratios: list[float] = []
    for _ in range(args.repeats):
        for key, step in steps.items():
            seconds[key].append(_timed(step, args.inner))
        ratios.append(seconds["full_softmax"][-1] / seconds["adaptive_softmax"][-1])
    result = {
        "claim": "training-step time of the text generator, GPT-2's full softmax over adaptive softmax; median of "
        "per-round ratios",
        "command": "python benchmarks/text_generator_step.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": date.today().isoformat(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
        },
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "size": args.size,
        "batch": args.batch,
        "repeats": args.repeats,
        "inner": args.inner,
        "seconds_per_step": {k: round(statistics.median(v), 3) for k, v in seconds.items()},
        "speedup": round(statistics.median(ratios), 2),
        "speedup_range": [round(min(ratios), 2), round(max(ratios), 2)],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("seconds_per_step", "speedup", "speedup_range")}))
    return result


if __name__ == "__main__":
    main()
