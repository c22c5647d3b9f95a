"""Text child models: the seed-003 BiLSTM classifier, a BERT-architecture classifier, a BiLSTM tagger.

Each takes a ``TokenBatch`` (padded long ids ``[B, L]`` and lengths ``[B]``) and returns logits: ``[B, classes]``
for classification, ``[B, L, tags]`` for tagging (positions past a sequence's length are ignored by the loss).

- ``bilstm``: seed experiment 003 (Keras): embedding 128, bidirectional LSTM 64 units (its final states), dense
  128 ReLU, dropout 0.5, one sigmoid output. The sigmoid output is returned as two-class logits ``[0, z]``, whose
  softmax is ``[1 - sigmoid(z), sigmoid(z)]``: cross-entropy on them is exactly binary cross-entropy on ``z``.
- ``bert-small``: ``transformers.BertForSequenceClassification`` built from a config (2 layers, hidden 128, 2
  heads, intermediate 512), trained from scratch: no weights are downloaded.
- ``bert-pretrained``: ``AutoModelForSequenceClassification`` from pretrained weights by Hub name
  (``bert-base-uncased``, the seed-001/002 recipe, for users who are online) or from a local ``save_pretrained``
  folder; offline without them it fails in one line naming what to do.
- ``bilstm-tagger``: embedding 100, bidirectional LSTM 100 units per direction, dropout 0.5, a linear layer per
  token (the standard BiLSTM tagger without the CRF, Huang et al. 2015).

The LSTM models take optional pretrained word vectors (``TaskPreset.embeddings``, ``child/word_vectors.py``): the
embedding starts from them, is fine-tuned, and takes their width (GloVe 6B: 50 instead of 128 / 100).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from policy_search.child.tasks import models_of
from policy_search.ops.text import TokenBatch


class FrozenTailEmbedding(nn.Module):
    """An embedding whose first ``trainable`` rows train and whose other rows (pretrained vectors of words outside
    the training vocabulary: preset field ``oov_vectors``) stay as they are. The frozen rows are a non-persistent
    buffer: checkpoints hold only the trained rows (the 400,000 GloVe rows are rebuilt from the package)."""

    def __init__(self, vectors: torch.Tensor, trainable: int):
        super().__init__()
        self.trained = nn.Embedding.from_pretrained(vectors[:trainable].float(), freeze=False, padding_idx=0)
        self.register_buffer("frozen", vectors[trainable:].float().contiguous(), persistent=False)
        self.num_trained = trainable
        self.embedding_dim = int(vectors.shape[1])

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        tail = ids >= self.num_trained
        out = self.trained(torch.where(tail, torch.zeros_like(ids), ids))
        if bool(tail.any()):
            out = torch.where(tail.unsqueeze(-1), self.frozen[(ids - self.num_trained).clamp(min=0)], out)
        return out


def _embedding(
    vocab_size: int, embed: int, vectors: torch.Tensor | None, trainable: int | None = None
) -> nn.Embedding | FrozenTailEmbedding:
    """The token embedding: random (``embed`` wide), or started from pretrained ``vectors`` [vocab, d] and
    fine-tuned (its width is then theirs); with ``trainable`` < vocab, rows from it on stay frozen."""
    if vectors is None:
        return nn.Embedding(vocab_size, embed, padding_idx=0)
    if vectors.shape[0] != vocab_size:
        raise ValueError(f"word vectors have {vectors.shape[0]} rows for a vocabulary of {vocab_size}")
    if trainable is not None and trainable < vocab_size:
        return FrozenTailEmbedding(vectors, trainable)
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
        trainable: int | None = None,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.embedding = _embedding(vocab_size, embed, vectors, trainable)
        embed = self.embedding.embedding_dim
        self.lstm = nn.LSTM(embed, hidden, batch_first=True, bidirectional=True)
        self.dense = nn.Linear(2 * hidden, dense)
        self.dropout = nn.Dropout(0.5)
        self.out = nn.Linear(dense, 1 if num_classes == 2 else num_classes)

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        x = self.embedding(batch.ids)
        packed = pack_padded_sequence(x, batch.lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)  # h: [2, B, hidden], the last state of each direction
        z = self.out(self.dropout(torch.relu(self.dense(torch.cat([h[0], h[1]], dim=1)))))
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
        trainable: int | None = None,
    ):
        super().__init__()
        self.embedding = _embedding(vocab_size, embed, vectors, trainable)
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
        return self.bert(input_ids=batch.ids, attention_mask=batch.real().long()).logits


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
        return self.model(input_ids=batch.ids, attention_mask=batch.real().long()).logits


def _pretrained(
    vocab_size: int, num_classes: int, max_length: int, pretrained: str | None = None, vectors=None, trainable=None
) -> nn.Module:
    if not pretrained:
        raise ValueError("model bert-pretrained needs the preset field pretrained (a Hub name or a local folder)")
    return PretrainedClassifier(pretrained, num_classes)


TEXT_MODELS: dict[str, Callable[..., nn.Module]] = {
    "bert-pretrained": _pretrained,
    "bilstm": lambda vocab_size, num_classes, max_length, pretrained=None, vectors=None, trainable=None: (
        BiLSTMClassifier(vocab_size, num_classes, vectors=vectors, trainable=trainable)
    ),
    "bert-small": lambda vocab_size, num_classes, max_length, pretrained=None, vectors=None, trainable=None: (
        BertClassifier(vocab_size, num_classes, max_length)
    ),
    "bilstm-tagger": lambda vocab_size, num_classes, max_length, pretrained=None, vectors=None, trainable=None: (
        BiLSTMTagger(vocab_size, num_classes, vectors=vectors, trainable=trainable)
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
    trainable: int | None = None,
) -> nn.Module:
    """A text model by name; ``vectors`` ([vocab_size, d]) start the LSTM models' embeddings from word vectors;
    with ``trainable`` (< vocab_size) only their first ``trainable`` rows train (``oov_vectors``)."""
    if name not in TEXT_MODELS:
        raise ValueError(f"unknown text model {name!r}; choose one of {sorted(TEXT_MODELS)}")
    return TEXT_MODELS[name](vocab_size, num_classes, max_length, pretrained, vectors, trainable)
