"""A class-conditional GPT-2-architecture language model for text datasets, and the ``synthetic-text`` op.

Seed experiment 002 generates IMDB reviews on the fly with GPT-2 small beside its DCGAN. Size ``gpt2`` does that
for users who are online: GPT-2 small by Hub name (or any ``save_pretrained`` folder of a causal LM), fine-tuned
with the class name as a text prefix, its samples re-tokenized into the child's vocabulary
(``PretrainedTextGenerator``). Offline that model is not available, so the other sizes train a small
GPT-2-architecture model (``transformers.GPT2Model`` built from a config, random init, under torch's adaptive softmax:
``AdaptiveLM``) on the training part of a text dataset (``load_text_dataset(...).train``: the validation reviews
carved out of it and the test split are never seen; the pretrained model is fine-tuned on the same reviews), in the
child's own word vocabulary, with the class as a prefix token (id ``vocab_size + label``; Keskar et al. 2019's control
codes). Sampling is ancestral with top-k truncation, token by token with the model's key/value cache, all
randomness from the caller's ``torch.Generator``, so a seeded draw replays.

    gen = get_text_generator("imdb", size="proxy", seed=0)          # trains once (minutes on a CPU), then cached
    tokens = gen.sample(labels, torch.Generator().manual_seed(0))    # TokenBatch in the child's vocabulary

``SyntheticText`` (kind ``synthetic-text``) is the text member of the synthetic-data family: a ``BatchTransform``
that replaces each sequence of a batch with probability ``ratio`` by one generated for its own label, exactly as
``Synthetic`` does for images. Checkpoints are cached under the image generators' root
(``generators_root()/<dataset>-gpt2v<version>-<size>-seed<seed>/``) and written atomically each epoch, so training resumes.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from policy_search.generative.train import check_labels, generators_root
from policy_search.ops.text import TokenBatch
from policy_search.policy.base import BatchTransform, ImageSpec, register_kind
from policy_search.policy.file import as_choice, as_int, as_number, as_object, get

__all__ = [
    "TEXT_SIZES",
    "PretrainedTextGenerator",
    "SyntheticText",
    "TextGenerator",
    "distinct_n",
    "get_text_generator",
    "train_text_generator",
]

FORMAT = "policy-search/text-generator"
TEXT_DATASETS = ("imdb",)


@dataclass(frozen=True)
class TextLMConfig:
    """Size and training budget of one text generator (``TEXT_SIZES``)."""

    layers: int
    hidden: int
    heads: int
    epochs: int
    train_size: int | None  # reviews of the training split used (None: all)
    max_length: int = 128  # tokens per review, as the imdb-small child sees them
    batch_size: int = 32
    lr: float = 1e-3
    top_k: int = 50
    pretrained: str | None = None  # a Hub name (gpt2) or a save_pretrained folder: fine-tuned, not built


TEXT_SIZES: dict[str, TextLMConfig] = {
    "tiny": TextLMConfig(layers=1, hidden=32, heads=2, epochs=1, train_size=256, max_length=32),
    # 5,000 reviews (sized when GPT-2's full 20k-word output layer made a batch cost ~1 s on two CPU cores; the
    # adaptive softmax of version 3 cuts that about 6x on one thread: benchmarks/text_generator_step.py)
    "proxy": TextLMConfig(layers=2, hidden=128, heads=2, epochs=2, train_size=5000),
    # the proxy architecture on every training review for 8 epochs (704 batches an epoch): issue 35's "trained long
    # enough to matter on the CPU", 18 times the proxy's review-epochs
    "long": TextLMConfig(layers=2, hidden=128, heads=2, epochs=8, train_size=None),
    "full": TextLMConfig(layers=6, hidden=384, heads=6, epochs=10, train_size=None),
    # LAMBADA's setting (Anaby-Tavor et al. 2020: the generator learns from the small training set itself): the proxy
    # architecture on exactly the 1,000 reviews `imdb-small` / `imdb-small-long` train on (the same seeded draw,
    # `training_reviews`), 24 epochs as `imdb-small-long` passes over them; no review the child lacks is seen
    "small": TextLMConfig(layers=2, hidden=128, heads=2, epochs=24, train_size=1000),
    # seed 002's generator: GPT-2 small by Hub name (online; the weights are downloaded once by transformers),
    # fine-tuned with the class name as a text prefix (PretrainedTextGenerator)
    "gpt2": TextLMConfig(
        layers=12, hidden=768, heads=12, epochs=1, train_size=5000, batch_size=8, lr=5e-5, pretrained="gpt2"
    ),
}


# 2: trained to predict the end of a review ([PAD] after its last token); version-1 checkpoints never learned it.
# 3: an adaptive softmax over the words by training frequency (AdaptiveLM) instead of GPT-2's full output layer.
GENERATOR_VERSION = 3


def text_generator_dir(dataset: str, size: str = "proxy", seed: int = 0) -> Path:
    return generators_root() / f"{dataset}-gpt2v{GENERATOR_VERSION}-{size}-seed{int(seed)}"


def _cutoffs(vocab_size: int) -> list[int]:
    """Adaptive-softmax cluster bounds over frequency ranks: the 2,000 most frequent words (87.8% of the IMDB
    training targets, 97.7% with the next 8,000) in the head, the next 8,000 and the rest in two tail clusters;
    fewer clusters for small vocabularies."""
    return [c for c in (2000, 10000) if c < vocab_size - 1] or [max(1, vocab_size // 2)]


def gpt2_config(vocab_size: int, num_classes: int, cfg: TextLMConfig) -> Any:
    """The ``transformers.GPT2Config`` of a built generator: the child's words plus one prefix token per class."""
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=vocab_size + num_classes,  # the label prefix tokens follow the child's vocabulary
        n_positions=cfg.max_length + 1,
        n_embd=cfg.hidden,
        n_layer=cfg.layers,
        n_head=cfg.heads,
        bos_token_id=0,
        eos_token_id=0,
    )


class AdaptiveLM(torch.nn.Module):
    """A GPT-2 body (``transformers.GPT2Model``: the child's words plus one prefix token per class) with an adaptive
    softmax (Grave et al. 2017, ``torch.nn.AdaptiveLogSoftmaxWithLoss``) over the child's words ranked by their
    training frequency. The full 20k-word output layer made a training batch cost about 6 times as much on one CPU thread
    (benchmarks/text_generator_step.py); frequent
    words keep the full width, rare ones share smaller projections. ``rank_to_id`` (a buffer, saved with the
    weights) maps a word's frequency rank to its id."""

    def __init__(self, vocab_size: int, num_classes: int, cfg: TextLMConfig, counts: Tensor) -> None:
        from transformers import GPT2Model

        super().__init__()
        self.body = GPT2Model(gpt2_config(vocab_size, num_classes, cfg))
        self.head = torch.nn.AdaptiveLogSoftmaxWithLoss(cfg.hidden, vocab_size, _cutoffs(vocab_size), div_value=4.0)
        rank_to_id = torch.argsort(counts[:vocab_size].double(), descending=True, stable=True)
        self.register_buffer("rank_to_id", rank_to_id)
        self.register_buffer("id_to_rank", torch.argsort(rank_to_id))

    def loss(self, x: Tensor, real: Tensor, target: Tensor) -> Tensor:
        """Mean negative log-likelihood of ``target`` (``lm_batch``: aligned with ``x``, -100 ignored): position t
        predicts the target at t + 1, as ``GPT2LMHeadModel`` shifts its labels."""
        hidden = self.body(input_ids=x, attention_mask=real.long()).last_hidden_state[:, :-1]
        following = target[:, 1:]
        keep = following != -100
        return self.head(hidden[keep], self.id_to_rank[following[keep]]).loss

    def step(self, tokens: Tensor, past: Any = None) -> tuple[Tensor, Any]:
        """Log-probabilities of the next word (float[B, vocab], by word id) after ``tokens``, and the key/value cache."""
        with warnings.catch_warnings():  # transformers 5 renames past_key_values; 4.x knows only this name
            warnings.simplefilter("ignore", FutureWarning)
            out = self.body(input_ids=tokens, past_key_values=past, use_cache=True)
        by_rank = self.head.log_prob(out.last_hidden_state[:, -1])
        return by_rank[:, self.id_to_rank], out.past_key_values


class TextGenerator:
    """A trained class-conditional LM. ``sample(labels int64[B], generator) -> TokenBatch`` (child vocabulary)."""

    def __init__(self, net: torch.nn.Module, meta: dict[str, Any]) -> None:
        self.net = net.eval()
        self.meta = meta
        self.vocab_size: int = meta["vocab_size"]
        self.num_classes: int = meta["num_classes"]
        self.cfg = TextLMConfig(**meta["config"])

    @torch.no_grad()
    def sample(
        self, labels: Tensor, generator: torch.Generator | None = None, max_length: int | None = None
    ) -> TokenBatch:
        """Reviews for ``labels``: token ids in the child's vocabulary (no special ids but padding), padded."""
        check_labels(labels, self.num_classes, self.meta["dataset"])
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        length = min(max_length or self.cfg.max_length, self.cfg.max_length)
        b = labels.shape[0]
        tokens = (self.vocab_size + labels).view(b, 1)
        out = torch.zeros(b, length, dtype=torch.long)
        past = None
        for t in range(length):
            logits, past = self.net.step(tokens, past)
            logits = logits.float()
            logits[:, 1:5] = -math.inf  # never [UNK], [CLS], [SEP], [MASK]; id 0 ([PAD]) ends a review
            top = torch.topk(logits, self.cfg.top_k, dim=-1)
            choice = torch.multinomial(torch.softmax(top.values, -1), 1, generator=g)
            tokens = top.indices.gather(1, choice)
            out[:, t] = tokens[:, 0]
        ended = (out == 0).long().cumsum(1) > 0
        out = out.masked_fill(ended, 0)
        lengths = (~ended).sum(1).clamp(min=1)
        out[:, 0] = torch.where(out[:, 0] == 0, torch.full_like(out[:, 0], 5), out[:, 0])  # never empty
        return TokenBatch(out.to(labels.device), lengths.to(labels.device))


def _load_data(dataset: str, data_dir: str | None):
    from policy_search.child.text_data import load_text_dataset

    return load_text_dataset(dataset, data_dir, tokenizer="word", vocab_size=20000, max_length=128, val_size=2500)


def training_reviews(cfg: TextLMConfig, data):
    """The training reviews a generator of size ``cfg`` learns from: all of ``data.train``, or the seeded draw of
    ``cfg.train_size`` that a child preset with that ``train_size`` and data seed 0 trains on (``TextSplit.subset``)."""
    return data.train if cfg.train_size is None else data.train.subset(cfg.train_size, seed=0)


def lm_batch(prefix: Tensor, ids: Tensor, lengths: Tensor, max_length: int) -> tuple[Tensor, Tensor, Tensor]:
    """One training batch of the class-conditional LM: inputs ``[prefix, tokens..., (end)]``, their attention mask
    (prefix and real tokens) and the targets (every real token, then [PAD] (id 0) as the end of a review that ended
    before ``max_length``: a truncated one has no end to learn; -100 elsewhere, the prefix included: it is given)."""
    width = int(lengths.max())
    pad = int(width < max_length)  # one column for the end of the longest review, if it ended
    x = torch.cat([prefix.view(-1, 1), ids[:, :width], ids.new_zeros(len(ids), pad)], 1)
    position = torch.arange(width + 1 + pad).unsqueeze(0)
    real = position <= lengths.unsqueeze(1)
    ends = (position == lengths.unsqueeze(1) + 1) & (lengths < max_length).unsqueeze(1)
    target = x.masked_fill(~(real | ends), -100)
    target[:, 0] = -100
    return x, real, target


def train_text_generator(
    dataset: str = "imdb", size: str = "proxy", seed: int = 0, *, data_dir: str | None = None, progress: bool = False
) -> TextGenerator:
    """Train (or resume) and cache the generator; returns it. The validation and test reviews are never used."""
    as_choice(dataset, "dataset", TEXT_DATASETS, "text generator dataset")
    cfg = TEXT_SIZES[as_choice(size, "size", tuple(TEXT_SIZES), "size")]
    data = _load_data(dataset, data_dir)
    train = training_reviews(cfg, data)
    ids, lengths, labels = train.tokens.ids[:, : cfg.max_length], train.tokens.lengths, train.labels
    lengths = lengths.clamp(max=cfg.max_length)
    folder = text_generator_dir(dataset, size, seed)
    torch.manual_seed(seed)
    net, tokenizer, batch_loss = _model_and_loss(cfg, data, ids, lengths, labels)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    losses = _fit(net, batch_loss, cfg, len(labels), seed, folder / "checkpoint.pt", progress)
    meta = {
        "format": FORMAT,
        "dataset": dataset,
        "version": GENERATOR_VERSION,
        "size": size,
        "seed": seed,
        "config": asdict(cfg),
        "vocab_size": data.vocab_size,
        "num_classes": data.num_classes,
        "tokenizer": data.tokenizer_path,
        "class_names": list(data.class_names),
        "train_reviews": len(labels),
        "epoch_losses": losses,
        "train_seconds_this_call": round(time.perf_counter() - t0, 1),
    }
    (folder / "config.json").write_text(json.dumps(meta, indent=1))
    return TextGenerator(net, meta) if tokenizer is None else PretrainedTextGenerator(net, tokenizer, meta)


def _model_and_loss(cfg: TextLMConfig, data, ids: Tensor, lengths: Tensor, labels: Tensor):
    """The language model (a pretrained one fine-tuned on label-prefixed texts, or one built from ``cfg`` over the
    task's word ids, conditioned by a label token), its tokenizer (None for the built one) and the loss of a batch
    of training indices."""
    tokenizer = None
    if cfg.pretrained:
        net, tokenizer = _pretrained_lm(cfg.pretrained)
        texts = _prefixed_texts(data, ids, lengths, labels, tokenizer.eos_token)

        def batch_loss(index: Tensor) -> Tensor:
            enc = tokenizer(
                [texts[i] for i in index.tolist()],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=2 * cfg.max_length,  # BPE pieces: about 1.3 per word
            )
            return net(**enc, labels=enc.input_ids.masked_fill(enc.attention_mask == 0, -100)).loss

    else:
        net = AdaptiveLM(data.vocab_size, data.num_classes, cfg, _target_counts(ids, lengths, cfg, data.vocab_size))

        def batch_loss(index: Tensor) -> Tensor:
            x, real, target = lm_batch(data.vocab_size + labels[index], ids[index], lengths[index], cfg.max_length)
            return net.loss(x, real, target)

    return net, tokenizer, batch_loss


def _target_counts(ids: Tensor, lengths: Tensor, cfg: TextLMConfig, vocab_size: int) -> Tensor:
    """How often each word id is a training target: every real token, and [PAD] (id 0) once per review that ends
    before ``max_length`` (``lm_batch``'s targets), so the end of a review ranks as the frequent word it is."""
    real = torch.arange(ids.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    counts = torch.bincount(ids[real], minlength=vocab_size)[:vocab_size]
    counts[0] += int((lengths < cfg.max_length).sum())
    return counts


def _fit(net, batch_loss, cfg: TextLMConfig, n: int, seed: int, ckpt: Path, progress: bool) -> list[float]:
    """Train to ``cfg.epochs`` epochs over ``n`` examples, checkpointing after each (a resumed run replays the
    batch order of the epochs done, so it is the same run); returns the mean loss of every epoch."""
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr)
    epoch, losses = 0, []
    if ckpt.exists():
        try:  # tensors and plain containers only: a planted checkpoint must not run code (nothing here unpickles)
            state = torch.load(ckpt, weights_only=True)
        except Exception as exc:  # noqa: BLE001  # pickle, zip and shape errors all mean "not ours"
            raise ValueError(
                f"the text generator checkpoint {ckpt} is not a plain-tensor checkpoint ({type(exc).__name__}); "
                f"delete {ckpt.parent} to train the generator again"
            ) from None
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        epoch, losses = state["epoch"], state["losses"]
    g = torch.Generator().manual_seed(seed)
    for _ in range(epoch):  # the batch order of the epochs already done
        torch.randperm(n, generator=g)
    while epoch < cfg.epochs:
        net.train()
        order = torch.randperm(n, generator=g)
        total, count = 0.0, 0
        for start in range(0, len(order), cfg.batch_size):
            loss = batch_loss(order[start : start + cfg.batch_size])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, count = total + float(loss.detach()), count + 1
            if progress and count % 100 == 0:
                print(f"epoch {epoch + 1} batch {count}: loss {total / count:.3f}", flush=True)
        epoch += 1
        losses.append(total / max(count, 1))
        tmp = ckpt.with_name(f"checkpoint.pt.tmp{os.getpid()}")
        torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch, "losses": losses}, tmp)
        os.replace(tmp, ckpt)
    return losses


def _pretrained_lm(name: str):
    """A pretrained causal LM and its tokenizer by Hub name or from a ``save_pretrained`` folder (one-line error)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        net = AutoModelForCausalLM.from_pretrained(name)
    except (OSError, ValueError) as err:
        raise ValueError(
            f"pretrained text generator {name!r} could not be loaded ({type(err).__name__}): not a local folder, not "
            "in the Hugging Face cache, and no network. Run once online, pass a folder written by save_pretrained, "
            "or use size proxy (trained from scratch offline)."
        ) from err
    if tokenizer.eos_token is None:
        raise ValueError(f"pretrained text generator {name!r} has no end-of-text token; use a causal LM such as gpt2")
    tokenizer.pad_token = tokenizer.eos_token  # GPT-2 has none; padded positions are masked out of the loss
    return net, tokenizer


def _prompt(class_name: str) -> str:
    return f"{class_name} review:"


def _prefixed_texts(data, ids: Tensor, lengths: Tensor, labels: Tensor, eos: str) -> list[str]:
    """The training reviews as text for a pretrained LM: the class prompt, the review decoded from the child's word
    ids (lowercased words; [UNK] dropped), the end-of-text token."""
    from tokenizers import Tokenizer

    words = Tokenizer.from_file(data.tokenizer_path)
    rows = words.decode_batch([row[:n] for row, n in zip(ids.tolist(), lengths.tolist())])
    return [f"{_prompt(data.class_names[int(c)])} {text}{eos}" for text, c in zip(rows, labels.tolist())]


class PretrainedTextGenerator(TextGenerator):
    """A pretrained causal LM (GPT-2 small by name, seed 002's generator) fine-tuned with each review's class name
    as a text prefix (``"pos review: ..."``, Keskar et al.'s control codes in words). It samples in its own BPE
    vocabulary with the caller's generator; the text is re-tokenized with the child's word tokenizer, so ``sample``
    returns ids of the child's vocabulary exactly as ``TextGenerator`` does."""

    def __init__(self, net: torch.nn.Module, tokenizer: Any, meta: dict[str, Any]) -> None:
        from tokenizers import Tokenizer

        super().__init__(net, meta)
        self.tokenizer = tokenizer
        self.words = Tokenizer.from_file(meta["tokenizer"])
        self.class_names: list[str] = meta["class_names"]

    @torch.no_grad()
    def sample(
        self, labels: Tensor, generator: torch.Generator | None = None, max_length: int | None = None
    ) -> TokenBatch:
        check_labels(labels, self.num_classes, self.meta["dataset"])
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        length = min(max_length or self.cfg.max_length, self.cfg.max_length)
        eos = int(self.tokenizer.eos_token_id)
        out = torch.zeros(len(labels), length, dtype=torch.long)
        lengths = torch.ones(len(labels), dtype=torch.long)
        for c in sorted(set(labels.tolist())):  # one prompt per class, so a class's rows decode side by side
            rows = torch.nonzero(labels.cpu() == c).flatten()
            tokens = self.tokenizer(_prompt(self.class_names[c]), return_tensors="pt").input_ids.repeat(len(rows), 1)
            past, done, pieces = None, torch.zeros(len(rows), dtype=torch.bool), []
            for _ in range(2 * length):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)
                    result = self.net(input_ids=tokens, past_key_values=past, use_cache=True)
                past = result.past_key_values
                top = torch.topk(result.logits[:, -1].float(), self.cfg.top_k, dim=-1)
                tokens = top.indices.gather(1, torch.multinomial(torch.softmax(top.values, -1), 1, generator=g))
                pieces.append(tokens[:, 0].masked_fill(done, eos))
                done |= tokens[:, 0] == eos
                if bool(done.all()):
                    break
            for row, seq in zip(rows.tolist(), torch.stack(pieces, 1).tolist()):
                text = self.tokenizer.decode(seq[: seq.index(eos)] if eos in seq else seq, skip_special_tokens=True)
                word_ids = self.words.encode(text, add_special_tokens=False).ids[:length] or [5]
                out[row, : len(word_ids)] = torch.tensor(word_ids)
                lengths[row] = len(word_ids)
        return TokenBatch(out.to(labels.device), lengths.to(labels.device))


def get_text_generator(dataset: str = "imdb", size: str = "proxy", seed: int = 0, **kw: Any) -> TextGenerator:
    """The cached generator (trained and cached on first use; a finished checkpoint just loads)."""
    return train_text_generator(dataset, size, seed, **kw)


def distinct_n(tokens: TokenBatch, n: int) -> float:
    """Distinct-n (Li et al. 2016): unique n-grams over all n-grams of the batch's sequences, in [0, 1]."""
    grams: set[tuple[int, ...]] = set()
    total = 0
    for row, length in zip(tokens.ids.tolist(), tokens.lengths.tolist()):
        seq = row[:length]
        for i in range(len(seq) - n + 1):
            grams.add(tuple(seq[i : i + n]))
            total += 1
    return len(grams) / total if total else 0.0


class SyntheticText(BatchTransform):
    """Replace each sequence with probability ``ratio`` by a generated one of its own class (``TextGenerator``)."""

    modality = "text"

    def __init__(
        self, ratio: float = 0.2, *, dataset: str = "imdb", size: str = "proxy", seed: int = 0,
        filter_threshold: float | None = None, image_spec: ImageSpec | None = None,
    ) -> None:  # fmt: skip
        super().__init__(space="text", image_spec=image_spec)
        self.ratio = as_number(ratio, "ratio", 0.0, 1.0)
        self.dataset = as_choice(dataset, "dataset", TEXT_DATASETS, "text generator dataset")
        self.size = as_choice(size, "size", tuple(TEXT_SIZES), "size")
        self.seed = as_int(seed, "seed", low=0)
        # LAMBADA-style filter (generative/text_filter.py): keep a generated review only if a classifier of the real
        # reviews the generator learned from gives its label this probability; rows without an accepted review stay real
        self.filter_threshold = (
            None if filter_threshold is None else as_number(filter_threshold, "filter_threshold", 0.5, 1.0)
        )
        self._gen: TextGenerator | None = None
        self._filtered: Any = None

    @classmethod
    def allowed_spaces(cls) -> tuple[str, ...]:
        return ("text",)

    def generator_model(self) -> TextGenerator:
        if self._gen is None:
            self._gen = get_text_generator(self.dataset, self.size, self.seed)
        return self._gen

    def filtered_model(self):
        """The generator behind the label filter (``FilteredTextGenerator``; its classifier is trained once on the
        real reviews the generator learned from, ``training_reviews``, and cached per dataset and training set: a
        generator of a small set is filtered by a classifier of that set, never of reviews it did not see)."""
        if self._filtered is None:
            from policy_search.generative.text_filter import FilteredTextGenerator, cached_classifier

            data = _load_data(self.dataset, None)
            cfg = TEXT_SIZES[self.size]
            train = training_reviews(cfg, data)
            suffix = "" if cfg.train_size is None else f"-{len(train)}"
            clf = cached_classifier(
                generators_root() / f"{self.dataset}-label-filter{suffix}",
                train.tokens,
                train.labels,
                data.vocab_size,
                data.num_classes,
            )
            self._filtered = FilteredTextGenerator(self.generator_model(), clf, float(self.filter_threshold or 0.9))
        return self._filtered

    def forward(  # type: ignore[override]
        self, tokens: TokenBatch, labels: Tensor, *, generator: torch.Generator | None = None, progress=None
    ) -> tuple[TokenBatch, Tensor]:
        g = generator if generator is not None else self.default_generator()
        lm = self.generator_model()  # before the draw, as the image Synthetic: a missing model shows on batch one
        replace = torch.rand(len(tokens), generator=g, device=g.device).to(tokens.device) < self.ratio
        if not bool(replace.any()):
            return tokens, labels
        rows = torch.nonzero(replace).flatten()
        if self.filter_threshold is None:
            fake = lm.sample(labels[replace].cpu(), g, max_length=int(tokens.ids.shape[1]))
        else:
            fake, accepted = self.filtered_model().sample(labels[replace].cpu(), g, max_length=int(tokens.ids.shape[1]))
            rows, fake = rows[accepted.to(rows.device)], TokenBatch(fake.ids[accepted], fake.lengths[accepted])
            if not len(rows):
                return tokens, labels
        ids, lengths = tokens.ids.clone(), tokens.lengths.clone()
        width = min(ids.shape[1], fake.ids.shape[1])
        ids[rows] = 0
        ids[rows, :width] = fake.ids[:, :width].to(ids.device)
        lengths[rows] = fake.lengths.clamp(max=width).to(ids.device)
        return TokenBatch(ids, lengths, tokens.tags, tokens.vocab), labels

    def op_distribution(self, progress: float | None = None) -> dict[str, float]:
        return {"synthetic-text": self.ratio}

    def expected_cost(self, progress: float | None = None) -> float:
        # Not yet measured (benchmarks/generator_costs.py covers the image generators): generating a review is one
        # LM step per token, counted here as one text-op unit (ops.text.OP_COST) per token.
        return self.ratio * TEXT_SIZES[self.size].max_length

    def body(self) -> dict[str, Any]:
        body = {"ratio": self.ratio, "dataset": self.dataset, "size": self.size, "seed": self.seed}
        if self.filter_threshold is not None:  # left out otherwise: files written before the filter read the same
            body["filter_threshold"] = self.filter_threshold
        return body

    @classmethod
    def from_body(cls, body: dict[str, Any], semantics: dict[str, Any], image_spec: ImageSpec, where: str):
        as_object(body, where, allowed=("ratio", "dataset", "size", "seed", "filter_threshold"))
        return cls(
            get(body, "ratio", where),
            dataset=get(body, "dataset", where),
            size=get(body, "size", where),
            seed=get(body, "seed", where),
            filter_threshold=body.get("filter_threshold"),
            image_spec=image_spec,
        )

    def describe(self, indent: str = "") -> str:
        kept = "" if self.filter_threshold is None else f", filter_threshold={self.filter_threshold}"
        return f"{indent}SyntheticText(ratio={self.ratio}, dataset={self.dataset!r}, size={self.size!r}{kept})"


register_kind("synthetic-text", SyntheticText)
