"""A LAMBADA-style filter for generated reviews: keep only those a classifier of real reviews labels as conditioned.

LAMBADA (Anaby-Tavor et al., AAAI 2020, "Do Not Have Enough Data? Deep Learning to the Rescue!") conditions a
language model on the label and keeps a generated example only if a classifier trained on the real data gives it
the intended label with high confidence. Here the classifier is a bag-of-words logistic regression (binary word
presence, one weight per word and class; the reference classifier of experiments/generative-text-imdb) trained on
the generator's own training reviews (``text_lm.training_reviews``: all of ``load_text_dataset(...).train`` or
the subset a `proxy` / `gpt2` / `small` generator learned from; the validation reviews carved out of it and the test split are never
seen), cached beside the generator. ``FilteredTextGenerator.sample`` draws reviews
for the requested labels, keeps those whose conditioned label gets probability >= ``threshold``, and draws again
for the rest, up to ``rounds`` draws; rows never accepted are returned as not accepted (``accepted`` mask), and
``SyntheticText`` then leaves those samples real. The acceptance rate (accepted / drawn) is counted, so a report
can say what the filter cost.

Why by hand: the classifier is 20,000 x 2 weights trained in seconds, and a dependency (scikit-learn) for it would
be the library's only use of one; sparse word presence as sorted unique ids keeps it a few lines of torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from policy_search.ops.text import TokenBatch

__all__ = ["FilteredTextGenerator", "WordPresenceClassifier", "train_word_presence_classifier"]

FILTER_FILE = "label_filter.pt"


def _presence(tokens: TokenBatch) -> tuple[Tensor, Tensor]:
    """Each row's distinct real token ids as (ids long[B, L], mask bool[B, L]): duplicates and padding masked."""
    width = tokens.ids.shape[1]
    real = torch.arange(width, device=tokens.ids.device)[None] < tokens.lengths[:, None]
    ids = torch.where(real, tokens.ids, torch.full_like(tokens.ids, -1))
    ids, _ = ids.sort(1)
    first = torch.ones_like(real)
    first[:, 1:] = ids[:, 1:] != ids[:, :-1]
    keep = first & (ids >= 0)
    return ids.clamp(min=0), keep


class WordPresenceClassifier(torch.nn.Module):
    """Logistic regression on binary word presence: logits[b, c] = bias[c] + sum over distinct words w of b of
    weight[w, c]."""

    def __init__(self, vocab_size: int, num_classes: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(vocab_size, num_classes))
        self.bias = torch.nn.Parameter(torch.zeros(num_classes))

    def forward(self, tokens: TokenBatch) -> Tensor:
        ids, keep = _presence(tokens)
        return (self.weight[ids] * keep[..., None]).sum(1) + self.bias


def train_word_presence_classifier(
    tokens: TokenBatch, labels: Tensor, vocab_size: int, num_classes: int, *, epochs: int = 10, seed: int = 0
) -> WordPresenceClassifier:
    """Adam on minibatches of 256 (lr 1e-2, a little weight decay), ``epochs`` passes in a seeded order."""
    model = WordPresenceClassifier(vocab_size, num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-6)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for index in torch.randperm(len(labels), generator=g).split(256):
            batch = TokenBatch(tokens.ids[index], tokens.lengths[index])
            loss = torch.nn.functional.cross_entropy(model(batch), labels[index])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


def cached_classifier(
    folder: Path, tokens: TokenBatch, labels: Tensor, vocab_size: int, num_classes: int
) -> WordPresenceClassifier:
    """The classifier cached in ``folder`` (plain tensors, loaded with weights_only), trained and saved on first use."""
    path = folder / FILTER_FILE
    model = WordPresenceClassifier(vocab_size, num_classes)
    if path.is_file():
        try:
            model.load_state_dict(torch.load(path, weights_only=True))
            return model.eval()
        except Exception:  # noqa: BLE001 - not ours (another size, an edited file): train it again
            pass
    model = train_word_presence_classifier(tokens, labels, vocab_size, num_classes)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{FILTER_FILE}.tmp{os.getpid()}")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    return model


@dataclass
class FilteredTextGenerator:
    """``generator``'s reviews that ``classifier`` gives their conditioned label with probability >= ``threshold``
    (module docstring). ``drawn`` / ``accepted`` count every review drawn and kept, for the acceptance rate."""

    generator: object  # a TextGenerator: sample(labels, g, max_length) -> TokenBatch
    classifier: WordPresenceClassifier
    threshold: float = 0.9
    rounds: int = 8
    drawn: int = field(default=0)
    accepted: int = field(default=0)

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.drawn if self.drawn else float("nan")

    @torch.no_grad()
    def sample(
        self, labels: Tensor, generator: torch.Generator | None = None, max_length: int | None = None
    ) -> tuple[TokenBatch, Tensor]:
        """(reviews, accepted bool[B]): row b holds an accepted review for ``labels[b]`` where ``accepted[b]``."""
        n = int(labels.shape[0])
        ids: Tensor | None = None
        lengths = torch.ones(n, dtype=torch.long)
        done = torch.zeros(n, dtype=torch.bool)
        for _ in range(self.rounds):
            todo = torch.nonzero(~done).flatten()
            if not len(todo):
                break
            fake = self.generator.sample(labels[todo], generator, max_length=max_length)  # type: ignore[attr-defined]
            if ids is None:
                ids = torch.zeros(n, fake.ids.shape[1], dtype=torch.long)
            probs = torch.softmax(self.classifier(TokenBatch(fake.ids.cpu(), fake.lengths.cpu())), -1)
            keep = probs[torch.arange(len(todo)), labels[todo].cpu()] >= self.threshold
            self.drawn += len(todo)
            self.accepted += int(keep.sum())
            rows = todo[keep]
            width = min(ids.shape[1], fake.ids.shape[1])
            ids[rows, :width] = fake.ids[keep, :width].cpu()
            lengths[rows] = fake.lengths[keep].cpu().clamp(max=width)
            done[rows] = True
        assert ids is not None or n == 0
        out = TokenBatch(ids if ids is not None else torch.zeros(0, 1, dtype=torch.long), lengths)
        return out, done
