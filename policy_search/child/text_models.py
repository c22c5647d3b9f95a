"""Text child models: the seed-003 BiLSTM classifier, a BERT-architecture classifier, a BiLSTM tagger.

Each takes a ``TokenBatch`` (padded long ids ``[B, L]`` and lengths ``[B]``) and returns logits: ``[B, classes]``
for classification, ``[B, L, tags]`` for tagging (positions past a sequence's length are ignored by the loss).

- ``bilstm``: seed experiment 003 (Keras): embedding 128, bidirectional LSTM 64 units (its final states), dense
  128 ReLU, dropout 0.5, one sigmoid output. The sigmoid output is returned as two-class logits ``[0, z]``, whose
  softmax is ``[1 - sigmoid(z), sigmoid(z)]``: cross-entropy on them is exactly binary cross-entropy on ``z``.
- ``bilstm-pool``: the same network read by the maximum of each output feature over the real positions instead of
  its final states (max pooling, the best BiLSTM readout in Conneau et al. 2017's comparison).
- ``bert-small``: ``transformers.BertForSequenceClassification`` built from a config (2 layers, hidden 128, 2
  heads, intermediate 512), trained from scratch: no weights are downloaded.
- ``bert-pretrained``: ``AutoModelForSequenceClassification`` from pretrained weights by Hub name
  (``bert-base-uncased``, the seed-001/002 recipe, for users who are online) or from a local ``save_pretrained``
  folder; offline without them it fails in one line naming what to do.
- ``bilstm-tagger``: embedding 100, bidirectional LSTM 100 units per direction, dropout 0.5, a linear layer per
  token (the standard BiLSTM tagger, Huang et al. 2015; with the preset's ``tag_decoding="crf"`` a CRF layer's
  transition scores are added to it and trained with it, ``child/text_run.py``).

The LSTM models take optional pretrained word vectors (``TaskPreset.embeddings``, ``child/word_vectors.py``): the
embedding starts from them, is fine-tuned, and takes their width (GloVe 6B: 50 instead of 128 / 100). With
``oov_vectors`` (tagging) the embedding is ``FrozenTailEmbedding``: trainable rows for the training words, frozen
GloVe rows for every other word, and a case-class embedding beside each token's vector. Written here rather than
with a library: the split between trained and frozen rows follows the tokenizer's vocabulary, and the case class
rides in the id so that the text ops, which move ids, keep it aligned for free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from policy_search.child.tasks import models_of
from policy_search.ops.text import TokenBatch


@dataclass(frozen=True)
class OOVRows:
    """How an ``oov_vectors`` dataset's ids read (``TextDataset.trained_vocab_size``): ids below ``trainable`` are
    the tokenizer's words (trainable rows; ``case_of`` long[trainable] their case classes); an id from it on is
    ``trainable + row * classes + case``, a frozen row of ``frozen`` [rows, d] and a case class."""

    trainable: int
    case_of: torch.Tensor
    classes: int
    frozen: torch.Tensor


class FrozenTailEmbedding(nn.Module):
    """The embedding of an ``oov_vectors`` dataset: a trainable row per training word (started from ``vectors``
    [trainable, d]), the pretrained vectors of every other word frozen (a non-persistent buffer: checkpoints hold
    only the trained rows; the 400,000 GloVe rows are rebuilt from the package), and beside each word's vector a
    learned ``case_dim``-wide embedding of its case class (GloVe's rows are lowercase)."""

    def __init__(self, vectors: torch.Tensor, oov: OOVRows, case_dim: int = 8):
        super().__init__()
        self.trained = nn.Embedding.from_pretrained(vectors.float(), freeze=False, padding_idx=0)
        self.register_buffer("frozen", oov.frozen.float().contiguous(), persistent=False)
        self.register_buffer("case_of", oov.case_of.long().clone(), persistent=False)
        self.case = nn.Embedding(oov.classes, case_dim)
        self.num_trained, self.classes = oov.trainable, oov.classes
        self.embedding_dim = int(vectors.shape[1]) + case_dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        tail = ids >= self.num_trained
        if not bool(tail.any()):  # every training batch (its words are all the tokenizer's): no frozen row to read
            return torch.cat([self.trained(ids), self.case(self.case_of[ids])], dim=-1)
        head = torch.where(tail, torch.zeros_like(ids), ids)
        rel = (ids - self.num_trained).clamp(min=0)
        word = torch.where(tail.unsqueeze(-1), self.frozen[rel // self.classes], self.trained(head))
        case = torch.where(tail, rel % self.classes, self.case_of[head])
        return torch.cat([word, self.case(case)], dim=-1)


def _embedding(
    vocab_size: int, embed: int, vectors: torch.Tensor | None, oov: OOVRows | None = None
) -> nn.Embedding | FrozenTailEmbedding:
    """The token embedding: random (``embed`` wide), or started from pretrained ``vectors`` [vocab, d] and
    fine-tuned (its width is then theirs); with ``oov``, ``vectors`` are the trainable rows only and the rest is
    ``FrozenTailEmbedding``'s."""
    if vectors is None:
        return nn.Embedding(vocab_size, embed, padding_idx=0)
    rows = oov.trainable if oov is not None else vocab_size
    if vectors.shape[0] != rows:
        raise ValueError(f"word vectors have {vectors.shape[0]} rows for a vocabulary of {rows}")
    if oov is not None:
        return FrozenTailEmbedding(vectors, oov)
    return nn.Embedding.from_pretrained(vectors.float(), freeze=False, padding_idx=0)


class BiLSTMClassifier(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        num_classes: int = 2,
        embed: int = 128,
        hidden: int = 64,
        dense: int = 128,
        vectors: torch.Tensor | None = None,
        oov: OOVRows | None = None,
        pooling: str = "last",
    ):
        super().__init__()
        if pooling not in ("last", "max"):
            raise ValueError(f"pooling must be 'last' or 'max', got {pooling!r}")
        self.pooling = pooling
        self.num_classes = num_classes
        self.embedding = _embedding(vocab_size, embed, vectors, oov)
        embed = self.embedding.embedding_dim
        self.lstm = nn.LSTM(embed, hidden, batch_first=True, bidirectional=True)
        self.dense = nn.Linear(2 * hidden, dense)
        self.dropout = nn.Dropout(0.5)
        self.out = nn.Linear(dense, 1 if num_classes == 2 else num_classes)

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        x = self.embedding(batch.ids)
        packed = pack_padded_sequence(x, batch.lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        out, (h, _) = self.lstm(packed)  # h: [2, B, hidden], the last state of each direction
        if self.pooling == "max":  # each feature's maximum over the real positions (InferSent's max pooling)
            out, _ = pad_packed_sequence(out, batch_first=True, padding_value=-torch.inf)
            feats = out.max(dim=1).values
        else:
            feats = torch.cat([h[0], h[1]], dim=1)
        z = self.out(self.dropout(torch.relu(self.dense(feats))))
        if self.num_classes == 2:  # one sigmoid output, as two-class logits [0, z]
            return torch.cat([torch.zeros_like(z), z], dim=1)
        return z


class BiLSTMTagger(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        num_tags: int,
        embed: int = 100,
        hidden: int = 100,
        vectors: torch.Tensor | None = None,
        oov: OOVRows | None = None,
    ):
        super().__init__()
        self.embedding = _embedding(vocab_size, embed, vectors, oov)
        embed = self.embedding.embedding_dim
        self.lstm = nn.LSTM(embed, hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(0.5)
        self.out = nn.Linear(2 * hidden, num_tags)

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        x = self.dropout(self.embedding(batch.ids))
        packed = pack_padded_sequence(x, batch.lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=batch.ids.shape[1])
        return self.out(self.dropout(out))


class BertClassifier(nn.Module):
    """A BERT encoder with a classification head, built from a ``transformers`` config (random init)."""

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        max_length: int = 512,
        hidden: int = 128,
        layers: int = 2,
        heads: int = 2,
        intermediate: int = 512,
    ):
        super().__init__()
        from transformers import BertConfig, BertForSequenceClassification

        config = BertConfig(
            vocab_size=vocab_size,
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=intermediate,
            max_position_embeddings=max(max_length, 8),
            num_labels=num_classes,
            pad_token_id=0,
        )
        self.bert = BertForSequenceClassification(config)

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        ids, mask = _within_positions(batch, self.bert.config.max_position_embeddings)
        return self.bert(input_ids=ids, attention_mask=mask).logits


class PretrainedClassifier(nn.Module):
    """A pretrained encoder with a fresh classification head (``transformers.AutoModelForSequenceClassification``)."""

    def __init__(self, name: str, num_classes: int):
        super().__init__()
        from transformers import AutoModelForSequenceClassification

        try:
            self.model = AutoModelForSequenceClassification.from_pretrained(name, num_labels=num_classes)
        except OSError as err:
            raise ValueError(
                f"pretrained weights {name!r} could not be loaded ({type(err).__name__}): not a local folder, not in "
                "the Hugging Face cache, and the Hub cannot be reached here. Run once online, pass a folder written "
                "by save_pretrained, or use a from-scratch preset (imdb-bert-small)."
            ) from None

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        config = self.model.config
        limit = getattr(config, "max_position_embeddings", None)
        if limit is not None and config.model_type in _OFFSET_POSITIONS:  # positions start after the padding id
            limit -= int(config.pad_token_id or 0) + 1
        ids, mask = _within_positions(batch, limit)
        return self.model(input_ids=ids, attention_mask=mask).logits


_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert")  # 514 position rows, 512 usable (pad_token_id + 1)


def _within_positions(batch: TokenBatch, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch's ids and attention mask, cut to the encoder's ``limit`` positions. Text ops that insert tokens
    (EDA's random insertion) can lengthen a review past the preset's max_length, which a BiLSTM reads whole but a
    position-embedding table cannot (imdb-bert-small with EDA stopped at 141 > 128 positions): the tail is cut, as
    the data pipeline cuts every review at max_length (a closing [SEP] goes with it)."""
    ids, mask = batch.ids, batch.real().long()
    if limit is not None and ids.shape[1] > limit:
        ids, mask = ids[:, :limit], mask[:, :limit]
    return ids, mask


def _pretrained(
    vocab_size: int, num_classes: int, max_length: int, pretrained: str | None = None, vectors=None, oov=None
) -> nn.Module:
    if not pretrained:
        raise ValueError("model bert-pretrained needs the preset field pretrained (a Hub name or a local folder)")
    return PretrainedClassifier(pretrained, num_classes)


TEXT_MODELS: dict[str, Callable[..., nn.Module]] = {
    "bert-pretrained": _pretrained,
    "bilstm": lambda vocab_size, num_classes, max_length, pretrained=None, vectors=None, oov=None: BiLSTMClassifier(
        vocab_size, num_classes, vectors=vectors, oov=oov
    ),
    # The seed recipe's BiLSTM read by max pooling over its outputs instead of its last states (Conneau et al. 2017,
    # InferSent: max pooling was the best BiLSTM readout they measured); a long review's early words then reach
    # the classifier without passing through 256 steps of one direction's memory.
    "bilstm-pool": lambda vocab_size, num_classes, max_length, pretrained=None, vectors=None, oov=None: (
        BiLSTMClassifier(vocab_size, num_classes, vectors=vectors, oov=oov, pooling="max")
    ),
    "bert-small": lambda vocab_size, num_classes, max_length, pretrained=None, vectors=None, oov=None: BertClassifier(
        vocab_size, num_classes, max_length
    ),
    "bilstm-tagger": lambda vocab_size, num_classes, max_length, pretrained=None, vectors=None, oov=None: BiLSTMTagger(
        vocab_size, num_classes, vectors=vectors, oov=oov
    ),
}
# The task presets decide a preset's modality and metric from the model table (child/tasks.py MODEL_TABLE, which
# must stay light to import); checked here, so a text model added to one place and not the other fails at import
# instead of silently becoming an image task.
if sorted(TEXT_MODELS) != sorted(models_of("text")):
    raise ImportError(
        f"child/tasks.py MODEL_TABLE text rows {models_of('text')} and text_models {sorted(TEXT_MODELS)} differ"
    )


def build_text_model(
    name: str,
    vocab_size: int,
    num_classes: int,
    max_length: int,
    pretrained: str | None = None,
    vectors: torch.Tensor | None = None,
    oov: OOVRows | None = None,
) -> nn.Module:
    """A text model by name; ``vectors`` ([vocab_size, d]) start the LSTM models' embeddings from word vectors;
    with ``oov`` (an ``oov_vectors`` dataset) they are the trainable rows only (``OOVRows``)."""
    if name not in TEXT_MODELS:
        raise ValueError(f"unknown text model {name!r}; choose one of {sorted(TEXT_MODELS)}")
    return TEXT_MODELS[name](vocab_size, num_classes, max_length, pretrained, vectors, oov)
