"""The text child: ``ChildRun`` on tokenized text (IMDB classification, CoNLL-2003 tagging).

``ChildRun(preset)`` builds this class for any preset whose model is a text model, so everything that drives a
child (``run_child``, the env, population segments, search objectives, the benchmark) drives this one unchanged:
the stepping, features, cost accounting and checkpoints are ChildRun's. What differs is here: the data (a
``TokenBatch`` per batch, trimmed to its longest sequence), the models (``child/text_models.py``), the loss (per
token for tagging, padding ignored) and the metrics (accuracy; for tagging token accuracy plus entity-level
precision / recall / F1 from ``seqeval``, the CoNLL scoring).

Policies see a ``TokenBatch`` where image policies see uint8 images: ``policy(tokens, generator, progress) ->
tokens``, tags moving with their tokens.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from policy_search.child.metrics import classification_report
from policy_search.child.run import ChildRun
from policy_search.child.text_data import TextDataset, TextSplit, load_text_dataset
from policy_search.child.text_models import build_text_model
from policy_search.ops.text import TokenBatch


@lru_cache(maxsize=4)
def _cached_text(
    name: str,
    data_dir: str | None,
    tokenizer: str,
    vocab_size: int,
    max_length: int,
    val_size: int | float,
    seed: int,
    pretrained: str | None,
    oov_vectors: str | None = None,
    truncation: str = "head",
) -> TextDataset:
    return load_text_dataset(
        name,
        data_dir,
        tokenizer=tokenizer,
        vocab_size=vocab_size,
        max_length=max_length,
        val_size=val_size,
        seed=seed,
        pretrained=pretrained,
        oov_vectors=oov_vectors,
        truncation=truncation,
    )


def iob_transitions(names: list[str]) -> torch.Tensor:
    """bool[C + 1, C]: whether tag j may follow tag i under IOB2 (row C: the sequence start). An ``I-X`` may only
    follow ``B-X`` or ``I-X``; every other tag may follow anything."""
    allowed = torch.ones(len(names) + 1, len(names), dtype=torch.bool)
    for j, name in enumerate(names):
        if name.startswith("I-"):
            kind = name[2:]
            allowed[:, j] = False
            for i, prev in enumerate(names):
                allowed[i, j] = prev in (f"B-{kind}", f"I-{kind}")
    return allowed


def iob_decode(
    logits: torch.Tensor, lengths: torch.Tensor, allowed: torch.Tensor, crf: torch.Tensor | None = None
) -> torch.Tensor:
    """long[B, L]: per sequence the tag path of highest summed log-probability among those ``allowed`` permits
    (Viterbi; positions past a sequence's length are 0). A softmax tagger's argmax may emit I-X after O, which
    entity F1 scores as a broken entity; this keeps its per-token scores and returns only valid paths. With ``crf``
    (transition scores [C + 1, C], row C the start) the path score is the CRF's: raw emissions plus transitions."""
    logp = logits.float() if crf is not None else F.log_softmax(logits.float(), -1)
    batch, length, tags = logp.shape
    if length == 0:
        return torch.zeros(batch, 0, dtype=torch.long, device=logits.device)
    block = torch.zeros(allowed.shape, device=logits.device).masked_fill(~allowed.to(logits.device), -1e9)
    if crf is not None:
        block = block + crf.detach().float().to(logits.device)
    score = logp[:, 0] + block[-1]
    back = torch.zeros(batch, length, tags, dtype=torch.long, device=logits.device)
    for t in range(1, length):
        cand = score[:, :, None] + block[None, :-1]  # [B, from, to]
        best, arg = cand.max(1)
        live = (t < lengths.to(logits.device))[:, None]
        score = torch.where(live, best + logp[:, t], score)
        back[:, t] = torch.where(live, arg, torch.arange(tags, device=logits.device).expand(batch, tags))
    path = torch.zeros(batch, length, dtype=torch.long, device=logits.device)
    cur = score.argmax(-1)
    for t in range(length - 1, -1, -1):
        path[:, t] = cur
        if t:
            cur = back[:, t].gather(1, cur[:, None]).squeeze(1)
    real = torch.arange(length, device=logits.device)[None] < lengths.to(logits.device)[:, None]
    return path * real


def crf_nll(emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor, crf: torch.Tensor) -> torch.Tensor:
    """float[B]: each sequence's negative log-likelihood under a linear-chain CRF (emissions [B, L, C] plus
    transition scores ``crf`` [C + 1, C], row C the start): log of the sum over every tag path (forward algorithm)
    minus the gold path's score. Positions at or past ``lengths`` are ignored."""
    batch, length, _ = emissions.shape
    live = torch.arange(length, device=emissions.device)[None] < lengths.to(emissions.device)[:, None]
    start, move = crf[-1], crf[:-1]
    first = tags[:, 0]
    gold = start[first] + emissions[:, 0].gather(1, first[:, None]).squeeze(1)
    alpha = start[None] + emissions[:, 0]
    for t in range(1, length):
        step = move[tags[:, t - 1], tags[:, t]] + emissions[:, t].gather(1, tags[:, t, None]).squeeze(1)
        gold = gold + step * live[:, t]
        nxt = torch.logsumexp(alpha[:, :, None] + move[None], dim=1) + emissions[:, t]
        alpha = torch.where(live[:, t, None], nxt, alpha)
    return torch.logsumexp(alpha, dim=-1) - gold


def entity_report(preds: list[list[str]], labels: list[list[str]]) -> dict:
    """Entity-level micro precision / recall / F1 (seqeval, CoNLL-2000 rules on IOB2 tags) and per-type F1."""
    from seqeval.metrics import classification_report as seq_report
    from seqeval.metrics import f1_score, precision_score, recall_score

    per_type = seq_report(labels, preds, output_dict=True, zero_division=0)
    return {
        "entity_f1": float(f1_score(labels, preds, zero_division=0)),
        "entity_precision": float(precision_score(labels, preds, zero_division=0)),
        "entity_recall": float(recall_score(labels, preds, zero_division=0)),
        "entity_f1_by_type": {
            k: float(v["f1-score"]) for k, v in per_type.items() if not k.endswith("avg") and isinstance(v, dict)
        },
    }


def entity_spans(tags: list[int], names: list[str]) -> set[tuple[str, int, int]]:
    """The entity mentions ``(type, first, last)`` of one IOB2 tag sequence under the CoNLL-2000 rules that seqeval
    applies by default (an ``I-X`` after ``O`` or after another type opens a mention): the spans its entity F1
    counts, at a hundredth of its cost (a validation pass scores 1,000 sentences several times a run)."""
    spans, start, kind = set(), -1, ""
    for i, name in enumerate([*(names[t] for t in tags), "O"]):
        prefix, here = (name[0], name[2:]) if name != "O" else ("O", "")
        if start >= 0 and (prefix in ("B", "O") or here != kind):
            spans.add((kind, start, i - 1))
            start = -1
        if prefix == "B" or (prefix == "I" and start < 0):
            start, kind = i, here
    return spans


def entity_f1(preds: list[torch.Tensor], gold: list[torch.Tensor], names: list[str]) -> float:
    """Micro entity F1 over sentences (per-sentence tag-id tensors), equal to seqeval's ``f1_score`` (which counts
    it when a tag is not ``O``, ``B-X`` or ``I-X``: IOBES tags, say)."""
    if not all(n == "O" or (n[:2] in ("B-", "I-") and len(n) > 2) for n in names):
        from seqeval.metrics import f1_score

        as_names = [[[names[t] for t in x.tolist()] for x in seqs] for seqs in (gold, preds)]
        return float(f1_score(*as_names, zero_division=0))
    hits = found = true = 0
    for p, g in zip(preds, gold):
        guessed, real = entity_spans(p.tolist(), names), entity_spans(g.tolist(), names)
        hits, found, true = hits + len(guessed & real), found + len(guessed), true + len(real)
    return 2 * hits / (found + true) if hits else 0.0


@lru_cache(maxsize=1)
def _frozen_rows(embeddings: str) -> torch.Tensor:
    """The vectors' rows and a zero row after them (words in neither vocabulary), built once per process and shared
    by every child's ``FrozenTailEmbedding``, which never writes to it (80 MB for GloVe 6B 50-d)."""
    from policy_search.child.word_vectors import vector_matrix

    matrix = vector_matrix(embeddings)
    return torch.cat([matrix, torch.zeros(1, matrix.shape[1])])


def _oov_rows(embeddings: str, vocab: dict[str, int], trained: int):
    """How an ``oov_vectors`` dataset's ids read (``text_models.OOVRows``): each tokenizer word's case class, and the
    frozen rows (``_frozen_rows``)."""
    from policy_search.child.text_data import CASE_CLASSES, NUM_SPECIAL, case_class
    from policy_search.child.text_models import OOVRows

    case_of = torch.full((trained,), CASE_CLASSES.index("special"), dtype=torch.long)
    for word, i in vocab.items():
        if NUM_SPECIAL <= i < trained:
            case_of[i] = case_class(word)
    return OOVRows(trained, case_of, len(CASE_CLASSES), _frozen_rows(embeddings))


class TextChildRun(ChildRun):
    """A text child network on a text task preset (built by ``ChildRun(preset)``; see the module docstring)."""

    data: TextDataset
    robustness_inputs = False  # image corruptions and pixel FGSM do not apply to token ids

    def _setup_data(self, data_dir: str | None, dataset: TextDataset | None) -> None:  # type: ignore[override]
        p = self.preset
        oov = p.embeddings if p.oov_vectors else None
        data = dataset or _cached_text(
            p.dataset,
            data_dir,
            p.tokenizer,
            p.vocab_size,
            p.max_length,
            p.val_size,
            p.data_seed,
            p.pretrained,
            oov,
            p.truncation,
        )
        train = (
            data.train.subset(p.train_size, seed=p.data_seed)
            if p.train_size and p.train_size < len(data.train)
            else data.train
        )
        self.data = data
        self.tagging = data.task == "tagging"
        self._transitions = iob_transitions(list(data.class_names)) if self.tagging else None
        self.num_classes = data.num_classes
        self.class_names = data.class_names
        self.vocab = data.vocab("unk" if p.tokenizer == "word" else "mask")
        self.splits = {"train": self._on_device(train), "val": self._on_device(data.val)}  # type: ignore[dict-item]
        self._test = data.test  # type: ignore[assignment]
        self.image_shape = (1, 1, p.max_length)  # informational in policy files (ImageSpec)

    def _on_device(self, split: TextSplit) -> TextSplit:
        tokens = split.tokens.to(self.device)
        tokens = TokenBatch(tokens.ids, tokens.lengths, tokens.tags, self.vocab)
        return TextSplit(tokens, tokens.tags if tokens.tags is not None else split.labels.to(self.device))

    def _build_model(self) -> torch.nn.Module:
        p = self.preset
        vectors, oov = None, None
        if p.embeddings:
            from tokenizers import Tokenizer

            from policy_search.child.word_vectors import embedding_matrix

            vocab = Tokenizer.from_file(self.data.tokenizer_path).get_vocab()
            trained = self.data.trained_vocab_size or self.data.vocab_size
            vectors, _ = embedding_matrix(p.embeddings, vocab, trained, seed=self.seed)
            oov = _oov_rows(p.embeddings, vocab, trained) if self.data.trained_vocab_size is not None else None
        model = build_text_model(
            p.model, self.data.vocab_size, self.num_classes, p.max_length, p.pretrained, vectors, oov=oov
        )
        if p.tag_decoding == "crf":  # the CRF's transitions are the model's: trained, checkpointed, resumed with it
            model.crf = torch.nn.Parameter(torch.zeros(self.num_classes + 1, self.num_classes))
        return model

    def normalize(self, images):  # text has nothing to standardize
        return images

    def _batch(self, index: torch.Tensor, split: str = "train") -> tuple:
        data = self.splits[split].select(index)  # type: ignore[attr-defined]
        return data.tokens, data.labels

    def _outputs(self, inputs: TokenBatch, labels: torch.Tensor):  # type: ignore[override]
        logits = self.model(inputs)
        if not self.tagging:
            return logits, labels, None
        # after augmentation the tags moved with their tokens; padding is not scored
        return logits, inputs.tags, inputs.real()

    def _scored(self, logits, targets, mask):  # type: ignore[override]
        crf = getattr(self.model, "crf", None)
        if crf is None or mask is None:
            return super()._scored(logits, targets, mask)
        loss = crf_nll(logits, targets, mask.sum(1), crf).sum() / mask.sum().clamp(min=1)  # per token, as softmax's
        real = targets[mask]
        hits = (logits.detach()[mask].argmax(-1) == real).sum()
        return loss, hits, int(real.shape[0])

    @torch.no_grad()
    def _predict_rows(self, split: str, max_samples: int | None) -> tuple[list, torch.Tensor, float, int]:
        """Per-chunk predictions (class ids [n], or for tagging a list of per-sequence tag-id tensors) and labels."""
        data = self._split(split)
        n = len(data) if max_samples is None else min(max_samples, len(data))
        self.model.eval()
        preds: list = []
        loss_sum, count = torch.zeros((), device=self.device), 0
        chunk = 256
        for start in range(0, n, chunk):
            index = torch.arange(start, min(start + chunk, n))
            part = data.select(index)  # type: ignore[attr-defined]
            tokens = TokenBatch(
                part.tokens.ids.to(self.device), part.tokens.lengths.to(self.device), part.tokens.tags, self.vocab
            )
            logits = self.model(tokens)
            labels = part.labels.to(self.device)
            if self.tagging:
                real, crf = tokens.real(), getattr(self.model, "crf", None)
                if crf is not None:
                    loss_sum += crf_nll(logits, labels, tokens.lengths, crf).sum()
                else:
                    loss_sum += F.cross_entropy(logits[real], labels[real], reduction="sum")
                count += int(real.sum())
                best = (
                    iob_decode(logits, tokens.lengths, self._transitions, crf)
                    if self.preset.tag_decoding in ("iob", "crf")
                    else logits.argmax(-1)
                )
                preds.extend(best[b, : int(tokens.lengths[b])] for b in range(len(best)))
            else:
                loss_sum += F.cross_entropy(logits, labels, reduction="sum")
                count += len(labels)
                preds.append(logits.argmax(1))
        self.model.train()
        return preds, data.labels[:n], float(loss_sum) / max(count, 1), n

    def _score(self, split: str, preds: torch.Tensor, labels: torch.Tensor) -> float | None:
        """Entity F1 for tagging (the headline metric, what searches maximise): ``preds`` and ``labels`` are the
        real tokens of the split's first sentences, in order (``predict``), cut back into sentences here."""
        if not self.tagging:
            return None
        lengths = self._split(split).tokens.lengths
        sizes = lengths[: int((lengths.cumsum(0) <= len(preds)).sum())].tolist()
        names = list(self.class_names)
        return entity_f1(list(torch.split(preds, sizes)), list(torch.split(labels, sizes)), names)

    def predict(self, split: str, max_samples: int | None = None) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Predictions, labels (per real token for tagging) and mean loss on ``split``."""
        preds, labels, loss, n = self._predict_rows(split, max_samples)
        if not self.tagging:
            return torch.cat(preds), labels.to(self.device), loss
        lengths = self._split(split).tokens.lengths[:n]
        flat_labels = torch.cat([labels[b, : int(lengths[b])] for b in range(n)]).to(self.device)
        return torch.cat(preds), flat_labels, loss

    def evaluate_full(self, split: str = "test") -> dict:
        """Accuracy (per token for tagging), loss, macro P/R/F1, confusion; for tagging, entity-level P/R/F1."""
        if not self.tagging:
            return super().evaluate_full(split)
        preds, labels, loss, n = self._predict_rows(split, None)
        lengths = self._split(split).tokens.lengths[:n]
        gold = [labels[b, : int(lengths[b])] for b in range(n)]
        report = classification_report(torch.cat(preds).cpu(), torch.cat(gold).cpu(), self.num_classes)
        names = self.class_names
        entities = entity_report(
            [[names[t] for t in p.tolist()] for p in preds], [[names[t] for t in g.tolist()] for g in gold]
        )
        return {"loss": loss, "samples": n, **report, **entities}
