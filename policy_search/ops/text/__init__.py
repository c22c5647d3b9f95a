"""Batched text ops over padded token ids: the EDA family (Wei & Zou, 2019) and masking, for many sentences at once.

Every op has one signature and no randomness of its own::

    ids, lengths, tags = OPS["RandomDeletion"](ids, lengths, rate, draws, vocab, tags=None)

- ``ids`` long[B, L]: token ids, padded with ``vocab.pad_id`` after ``lengths[b]`` tokens; ``lengths`` long[B].
- ``rate`` float32[B] in [0, 1]: the op's rate per sample (below; ``magnitude_to_rate`` maps a policy magnitude m
  in [0, 1] to ``MAX_RATE[op] * m``).
- ``draws`` float32[B, L, 3], uniform in [0, 1), drawn by the caller from its ``torch.Generator`` (``sample_draws``):
  the only randomness, so the same draws replay the same output exactly.
- ``tags`` long[B, L] or None: per-token labels (NER tags) that move with their tokens; inserted tokens get
  ``vocab.outside_tag``. Ids below ``vocab.num_special`` (padding, unknown, mask, class tokens) are never chosen,
  moved or replaced.

Ops and what the rate means (n = round(rate * length), as EDA's alpha):
- ``RandomDeletion``: each token is deleted with probability ``rate``; at least one token stays.
- ``RandomSwap``: n swaps of two random positions.
- ``RandomInsertion``: n insertions, each of a synonym of a random token of the sentence (the token itself when it
  has none, or when no synonym table is given) at a random position (a special token picked is not inserted).
- ``SynonymReplacement``: each token with synonyms is replaced with probability ``rate`` by one of them, uniformly.
- ``TokenMask``: each token is replaced with probability ``rate`` by ``vocab.mask_id`` (UNK-style dropout).
- ``SpanCutout``: one contiguous span of n tokens, at a uniform start, is deleted.
- ``MentionReplacement`` (tagging; Dai & Adel, 2020, restricted to same-length mentions so tags stay put): each
  entity mention (``B-X I-X ...`` in IOB2 tags) is replaced with probability ``rate`` by a mention of the same
  type and length from the training split (``Vocab.mentions``); a no-op without tags.
- ``LabelwiseTokenReplacement`` (tagging; Dai & Adel): each token is replaced with probability ``rate`` by a
  training-split token of the same tag, drawn by frequency.
- ``SegmentShuffle`` (tagging; Dai & Adel): each segment of one label (a mention, a run of ``O``) has its tokens
  shuffled with probability ``rate``; tags stay in place. (Their fourth op, synonym replacement, is
  ``SynonymReplacement`` above.)

Every op is a handful of tensor ops on the whole batch (loops run over swap or insertion counts, never over
sentences): an op computes, per output position, the source position it copies (or -1 for a new token and the id
to write there), and one gather applies it to ids and tags alike. Written here rather than taken from ``nlpaug``,
whose augmenters work on one Python string at a time (tens of microseconds per word) and own their randomness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Tensor = torch.Tensor

DRAWS = 3  # uniform draws per position that an op may read


@dataclass(frozen=True)
class Vocab:
    """What the ops need to know about the token ids."""

    pad_id: int = 0
    mask_id: int = 1
    num_special: int = 2
    """Ids below this are special (padding, unknown, mask, ...): never chosen, moved onto or replaced."""
    synonyms: Tensor | None = None
    """long[V, K]: up to K synonym ids per token id, -1 where there are fewer (None: no synonyms)."""
    outside_tag: int = 0
    """The tag of an inserted token (``O`` in IOB2)."""
    mentions: Mentions | None = None
    """Entity mentions of the training split by (type, length), for ``MentionReplacement`` (None: no-op)."""


@dataclass(frozen=True)
class Mentions:
    """The entity mentions of a tagged training split, sorted by (begin tag, length), for ``MentionReplacement``.

    ``ids`` long[M, W]: each mention's token ids (padded); ``offset`` / ``count`` long[T, W + 1]: where the
    mentions whose begin tag is t and whose length is n start in ``ids`` and how many there are; ``begin_of``
    long[T]: for each tag its mention's begin tag (itself for ``B-X``, ``B-X`` for ``I-X``, -1 for ``O``).
    """

    ids: Tensor
    offset: Tensor
    count: Tensor
    begin_of: Tensor
    tag_tokens: Tensor | None = None
    """long[N]: every token of the training split sorted by its tag (``LabelwiseTokenReplacement`` draws from it,
    so by frequency); ``tag_offset`` / ``tag_count`` long[T] say where tag t's tokens start and how many there are."""
    tag_offset: Tensor | None = None
    tag_count: Tensor | None = None

    @classmethod
    def from_split(cls, ids: Tensor, lengths: Tensor, tags: Tensor, tag_names: list[str], max_len: int = 8) -> Mentions:
        """Collect every mention (a ``B-X`` followed by its ``I-X`` tokens, IOB2) of up to ``max_len`` tokens."""
        begin_of = torch.full((len(tag_names),), -1, dtype=torch.long)
        for t, name in enumerate(tag_names):
            if name.startswith("B-"):
                begin_of[t] = t
            elif name.startswith("I-") and f"B-{name[2:]}" in tag_names:
                begin_of[t] = tag_names.index(f"B-{name[2:]}")
        start, inside, length = _mention_spans(tags, lengths, begin_of)
        rows = torch.nonzero((start == torch.arange(tags.shape[1])) & inside & (length <= max_len))
        found: dict[tuple[int, int], list[list[int]]] = {}
        for b, s in rows.tolist():
            n = int(length[b, s])
            found.setdefault((int(tags[b, s]), n), []).append(ids[b, s : s + n].tolist())
        keys = sorted(found)
        table = torch.zeros(max(1, sum(len(v) for v in found.values())), max_len, dtype=torch.long)
        offset = torch.zeros(len(tag_names), max_len + 1, dtype=torch.long)
        count = torch.zeros_like(offset)
        row = 0
        for t, n in keys:
            offset[t, n], count[t, n] = row, len(found[(t, n)])
            for mention in found[(t, n)]:
                table[row, :n] = torch.tensor(mention)
                row += 1
        real = torch.arange(tags.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
        flat_tags, flat_ids = tags[real], ids[real]
        order = torch.argsort(flat_tags, stable=True)
        tag_count = torch.bincount(flat_tags, minlength=len(tag_names))[: len(tag_names)]
        tag_offset = torch.cumsum(tag_count, 0) - tag_count
        return cls(table, offset, count, begin_of, flat_ids[order], tag_offset, tag_count)


@dataclass(frozen=True)
class TokenBatch:
    """A batch of token-id sequences: what text policies take and return, and what text children train on.

    ``ids`` long[B, L] padded with ``vocab.pad_id`` after ``lengths[b]`` tokens; ``lengths`` long[B]; ``tags``
    long[B, L] per-token labels (tagging tasks) that move with their tokens, or None; ``vocab`` says which ids
    are special and which are synonyms. Unlike a bare tensor it carries its lengths and tags, so an op that
    deletes or inserts tokens keeps them aligned.
    """

    ids: Tensor
    lengths: Tensor
    tags: Tensor | None = None
    vocab: Vocab = Vocab()

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def device(self) -> torch.device:
        return self.ids.device

    def to(self, device: torch.device | str) -> TokenBatch:
        tags = None if self.tags is None else self.tags.to(device)
        return TokenBatch(self.ids.to(device), self.lengths.to(device), tags, self.vocab)

    def index_select(self, index: Tensor) -> TokenBatch:
        """Rows ``index``, trimmed to the longest of them (padding past every length is dropped)."""
        lengths = self.lengths.index_select(0, index)
        width = max(1, int(lengths.max())) if len(index) else 1
        ids = self.ids.index_select(0, index)[:, :width]
        tags = None if self.tags is None else self.tags.index_select(0, index)[:, :width]
        return TokenBatch(ids, lengths, tags, self.vocab)

    def real(self) -> Tensor:
        """bool[B, L]: True at real tokens, False at padding."""
        return _positions(self.ids, self.lengths)[1]

    def with_ids(self, ids: Tensor, lengths: Tensor, tags: Tensor | None) -> TokenBatch:
        return TokenBatch(ids, lengths, tags, self.vocab)


def magnitude_to_rate(op: str, magnitude: Tensor) -> Tensor:
    """The op's rate for a normalized magnitude in [0, 1] (float32[B])."""
    return magnitude.clamp(0, 1) * MAX_RATE[op]


def sample_draws(ids: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """float32[B, L, DRAWS] uniform draws for ``ids`` (on the generator's device, moved to the ids' device)."""
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.rand((*ids.shape, DRAWS), generator=generator, device=device).to(ids.device)


def check(ids: Tensor, lengths: Tensor, rate: Tensor, draws: Tensor) -> None:
    if not isinstance(ids, Tensor) or ids.ndim != 2 or ids.dtype != torch.long:
        raise ValueError(f"ids must be long[B, L], got {getattr(ids, 'dtype', type(ids).__name__)} "
                         f"{tuple(getattr(ids, 'shape', ()))}")  # fmt: skip
    batch, width = ids.shape
    if lengths.shape != (batch,) or (batch and (int(lengths.min()) < 0 or int(lengths.max()) > width)):
        raise ValueError(f"lengths must be long[{batch}] in [0, {width}], got {lengths.tolist()[:8]}")
    if rate.shape != (batch,) or not bool(torch.isfinite(rate).all()) or bool((rate < 0).any() | (rate > 1).any()):
        raise ValueError(f"rate must be float32[{batch}] in [0, 1], got {rate.tolist()[:8]}")
    if draws.shape != (batch, width, DRAWS):
        raise ValueError(f"draws must be float32[{batch}, {width}, {DRAWS}] (sample_draws), got {tuple(draws.shape)}")


def _positions(ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """[1, L] positions and the bool[B, L] mask of real (non-padding) tokens."""
    pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
    return pos, pos < lengths.unsqueeze(1)


def _apply(ids: Tensor, tags: Tensor | None, source: Tensor, new: Tensor, lengths: Tensor, vocab: Vocab):
    """Output position p copies ``source[:, p]`` (or writes ``new[:, p]`` where the source is -1); past ``lengths``
    it is padding."""
    pos = torch.arange(source.shape[1], device=ids.device).unsqueeze(0)
    inside = pos < lengths.unsqueeze(1)
    copied = ids.gather(1, source.clamp(min=0))
    out = torch.where(source >= 0, copied, new).masked_fill(~inside, vocab.pad_id)
    if tags is None:
        return out, lengths, None
    tag_out = torch.where(source >= 0, tags.gather(1, source.clamp(min=0)), vocab.outside_tag).masked_fill(~inside, 0)
    return out, lengths, tag_out


def _leading_special(ids: Tensor, lengths: Tensor, vocab: Vocab) -> Tensor:
    """long[B]: how many special tokens open each sentence (a class token): spans and insertions start after."""
    _, real = _positions(ids, lengths)
    return ((ids < vocab.num_special) & real).long().cumprod(1).sum(1)


def _compact(ids, tags, keep: Tensor, vocab: Vocab):
    """Keep the tokens where ``keep`` (in order), packed to the left."""
    lengths = keep.sum(1)
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)  # kept positions first, in order
    return _apply(ids, tags, order, ids, lengths, vocab)


def _mention_spans(tags: Tensor, lengths: Tensor, begin_of: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per position: the start of the mention it may belong to (long[B, L], -1 before any), whether it is inside
    that mention (bool[B, L]), and at each start the mention's length (long[B, L])."""
    pos = torch.arange(tags.shape[1], device=tags.device).unsqueeze(0).expand_as(tags)
    real = pos < lengths.unsqueeze(1)
    table = begin_of.to(tags.device)
    own = table[tags.clamp(0, len(table) - 1)]
    is_begin = real & (own == tags) & (own >= 0)
    start = torch.where(is_begin, pos, -1).cummax(1).values
    begin_tag = tags.gather(1, start.clamp(min=0))
    follows = real & ~is_begin & (start >= 0) & (own == begin_tag) & (own >= 0)
    broken = torch.where(real & ~is_begin & ~follows, pos, -1).cummax(1).values
    inside = is_begin | (follows & (broken < start))
    length = torch.zeros_like(tags).scatter_add_(1, start.clamp(min=0), inside.long())
    return start, inside, length


def mention_replacement(ids, lengths, rate, draws, vocab: Vocab, tags=None):
    """Each entity mention (IOB2 tags) is replaced with probability ``rate`` by a training-split mention of the same
    type and the same length (so every tag stays where it is); no-op without tags or a mention table."""
    m = vocab.mentions
    if tags is None or m is None:
        return identity(ids, lengths, rate, draws, vocab, tags)
    start, inside, length = _mention_spans(tags, lengths, m.begin_of)
    s = start.clamp(min=0)
    width = m.ids.shape[1]
    t, n = tags.gather(1, s), length.gather(1, s).clamp(max=width)
    count = m.count.to(ids.device)[t, n]
    pick = m.offset.to(ids.device)[t, n] + torch.floor(draws.gather(1, s.unsqueeze(-1).expand(-1, -1, DRAWS))[..., 1]
                                                       * count).long().clamp(min=0)  # fmt: skip
    fires = draws[..., 0].gather(1, s) < rate.unsqueeze(1)
    replace = inside & (count > 0) & fires & (length.gather(1, s) <= width)
    offset_in = (torch.arange(ids.shape[1], device=ids.device).unsqueeze(0) - s).clamp(0, width - 1)
    new = m.ids.to(ids.device)[pick.clamp(max=m.ids.shape[0] - 1), offset_in]
    return torch.where(replace, new, ids), lengths.clone(), tags.clone()


def labelwise_token_replacement(ids, lengths, rate, draws, vocab: Vocab, tags=None):
    """Dai & Adel (2020): each token is replaced with probability ``rate`` by a token drawn from the training split's
    tokens of the same tag (by frequency); tags stay. A no-op without tags or the table (``Mentions.tag_tokens``)."""
    m = vocab.mentions
    if tags is None or m is None or m.tag_tokens is None or m.tag_offset is None or m.tag_count is None:
        return identity(ids, lengths, rate, draws, vocab, tags)
    _, real = _positions(ids, lengths)
    t = tags.clamp(0, len(m.tag_count) - 1)
    count = m.tag_count.to(ids.device)[t]
    pick = m.tag_offset.to(ids.device)[t] + torch.floor(draws[..., 1] * count).long().clamp(min=0)
    new = m.tag_tokens.to(ids.device)[pick.clamp(0, max(len(m.tag_tokens) - 1, 0))]
    replace = real & (ids >= vocab.num_special) & (count > 0) & (draws[..., 0] < rate.unsqueeze(1))
    return torch.where(replace, new, ids), lengths.clone(), tags.clone()


def segment_shuffle(ids, lengths, rate, draws, vocab: Vocab, tags=None):
    """Dai & Adel (2020), shuffle within segments: the sentence is cut into segments of one label (each entity
    mention, each run of ``O`` tokens), and each segment's tokens are shuffled with probability ``rate``; tags stay
    where they are (a mention keeps its ``B-X I-X`` order). Special tokens stay put. A no-op without tags or the
    mention table (which knows each tag's mention type)."""
    m = vocab.mentions
    if tags is None or m is None:
        return identity(ids, lengths, rate, draws, vocab, tags)
    pos, real = _positions(ids, lengths)
    table = m.begin_of.to(ids.device)
    kind = table[tags.clamp(0, len(table) - 1)]  # the mention's B tag, -1 for O
    special = (ids < vocab.num_special) | ~real
    prev_kind = torch.cat([torch.full_like(kind[:, :1], -2), kind[:, :-1]], 1)
    prev_special = torch.cat([torch.ones_like(special[:, :1]), special[:, :-1]], 1)
    starts = (kind != prev_kind) | (kind == tags) | special | prev_special
    segment = starts.long().cumsum(1)  # segment id per position, increasing along the sentence
    first = torch.where(starts, pos.expand_as(ids), 0).cummax(1).values  # each position's segment start
    fires = draws[..., 0].gather(1, first) < rate.unsqueeze(1)
    shuffled = fires & ~special
    key = segment.double() * 2 + torch.where(
        shuffled, draws[..., 2].double(), (pos.double() + 0.5) / (ids.shape[1] + 1)
    )
    order = torch.argsort(key, dim=1, stable=True)  # within a segment: random if it fires, else in place
    return ids.gather(1, order), lengths.clone(), tags.clone()


def identity(ids, lengths, rate, draws, vocab: Vocab, tags=None):
    return ids.clone(), lengths.clone(), None if tags is None else tags.clone()


def random_deletion(ids, lengths, rate, draws, vocab: Vocab, tags=None):
    pos, real = _positions(ids, lengths)
    special = ids < vocab.num_special
    keep = real & ((draws[..., 0] >= rate.unsqueeze(1)) | special)
    # at least one token stays: the one with the highest draw (EDA returns a random word of the sentence)
    empty = (keep.sum(1) == 0) & (lengths > 0)
    survivor = torch.where(real, draws[..., 0], -1.0).argmax(1)
    keep |= empty.unsqueeze(1) & (pos == survivor.unsqueeze(1))
    return _compact(ids, tags, keep, vocab)


def span_cutout(ids, lengths, rate, draws, vocab: Vocab, tags=None):
    pos, real = _positions(ids, lengths)
    lead = _leading_special(ids, lengths, vocab)
    span = torch.round(rate * lengths).long()
    span = torch.minimum(span, torch.minimum(lengths - lead, lengths - 1)).clamp(min=0)  # one token stays
    start = lead + torch.floor(draws[:, 0, 1] * (lengths - lead - span + 1)).long().clamp(min=0)
    inside = (pos >= start.unsqueeze(1)) & (pos < (start + span).unsqueeze(1))
    keep = real & (~inside | (ids < vocab.num_special))
    return _compact(ids, tags, keep, vocab)


def random_swap(ids, lengths, rate, draws, vocab: Vocab, tags=None):
    batch, width = ids.shape
    n = torch.round(rate * lengths).long()
    source = torch.arange(width, device=ids.device).expand(batch, width).clone()
    rows = torch.arange(batch, device=ids.device)
    movable = ids >= vocab.num_special
    for k in range(int(n.max()) if batch else 0):  # over swap counts, never over sentences
        i = torch.floor(draws[:, k, 1] * lengths).long().clamp(max=width - 1)
        j = torch.floor(draws[:, k, 2] * lengths).long().clamp(max=width - 1)
        active = (k < n) & movable[rows, source[rows, i]] & movable[rows, source[rows, j]]
        si, sj = source[rows, i], source[rows, j]
        source[rows, i] = torch.where(active, sj, si)
        source[rows, j] = torch.where(active, si, sj)
    return _apply(ids, tags, source, ids, lengths, vocab)


def _synonym(ids: Tensor, choice: Tensor, vocab: Vocab) -> tuple[Tensor, Tensor]:
    """A synonym of each id picked by ``choice`` in [0, 1), and whether the id has any."""
    if vocab.synonyms is None:
        return ids, torch.zeros_like(ids, dtype=torch.bool)
    table = vocab.synonyms.to(ids.device)
    rows = table[ids.clamp(0, table.shape[0] - 1)]  # [B, L, K]
    count = (rows >= 0).sum(-1)
    pick = torch.floor(choice * count).long().clamp(min=0, max=table.shape[1] - 1)
    has = (count > 0) & (ids >= vocab.num_special) & (ids < table.shape[0])
    return torch.where(has, rows.gather(-1, pick.unsqueeze(-1)).squeeze(-1), ids), has


def synonym_replacement(ids, lengths, rate, draws, vocab: Vocab, tags=None):
    _, real = _positions(ids, lengths)
    synonym, has = _synonym(ids, draws[..., 1], vocab)
    replace = real & has & (draws[..., 0] < rate.unsqueeze(1))
    return torch.where(replace, synonym, ids), lengths.clone(), None if tags is None else tags.clone()


def token_mask(ids, lengths, rate, draws, vocab: Vocab, tags=None):
    _, real = _positions(ids, lengths)
    replace = real & (ids >= vocab.num_special) & (draws[..., 0] < rate.unsqueeze(1))
    return ids.masked_fill(replace, vocab.mask_id), lengths.clone(), None if tags is None else tags.clone()


def random_insertion(ids, lengths, rate, draws, vocab: Vocab, tags=None):
    batch, width = ids.shape
    n = torch.round(rate * lengths).long()
    extra = int(n.max()) if batch else 0
    if extra == 0:
        return identity(ids, lengths, rate, draws, vocab, tags)
    k = torch.arange(extra, device=ids.device).unsqueeze(0)
    # each insertion copies a random token of the sentence (its synonym when it has one; none if it is special) ...
    pick = torch.floor(draws[:, :extra, 1] * lengths.unsqueeze(1)).long().clamp(min=0, max=width - 1)
    picked = ids.gather(1, pick)
    active = (k < n.unsqueeze(1)) & (picked >= vocab.num_special)  # [B, extra]
    word, _ = _synonym(picked, draws[:, :extra, 2], vocab)
    # ... before a random position after any leading special tokens: sort old tokens (key = position) and new ones
    # (key = slot - 0.5) together
    lead = _leading_special(ids, lengths, vocab).unsqueeze(1)
    slot = (lead + torch.floor(draws[:, :extra, 0] * (lengths.unsqueeze(1) - lead + 1))).float()
    keys = torch.cat([torch.arange(width, device=ids.device).float().expand(batch, width), slot - 0.5], 1)
    _, real = _positions(ids, lengths)
    keys = keys.masked_fill(~torch.cat([real, active], 1), float("inf"))  # padding and unused slots last
    order = torch.argsort(keys, dim=1, stable=True)
    source = torch.where(order < width, order, -1)
    new = torch.cat([ids, word], 1).gather(1, order)
    out_ids = torch.cat([ids, torch.full((batch, extra), vocab.pad_id, device=ids.device, dtype=ids.dtype)], 1)
    out_tags = None if tags is None else torch.cat([tags, torch.zeros_like(tags[:, :extra])], 1)
    return _apply(out_ids, out_tags, source, new, lengths + active.sum(1), vocab)


@dataclass(frozen=True)
class TextOp:
    """Everything the library knows about one text op; every other text-op structure derives from ``OP_TABLE``
    (as ``ops.image.OP_TABLE`` for images): adding an op is one row plus its kernel."""

    name: str
    kernel: Callable[..., tuple[Tensor, Tensor, Tensor | None]]
    max_rate: float
    """The rate at magnitude 1 (EDA's recommended alpha is 0.05-0.1 for every op; their Fig. 3 tried up to 0.5)."""
    cost: float = 1.0
    """Relative cost per sequence, in the units of the image ops' OP_COST (one Brightness on a 32x32 image): a text
    op on a 128-token review costs about as much (benchmarks/text_ops.py: ~10^4 reviews/s per op on one core), so
    every op counts 1 and Identity 0. The reward's cost term (lambda) uses these."""
    tagging: bool = False
    """An op for tagging tasks only (it reads the tags; a no-op without them): left out of the ops every text task
    uses (``policy.text.TEXT_OPS``), added for taggers (``TAGGING_OPS``)."""


# The op index is the row's position (files and sampled params store it): append new ops at the end.
OP_TABLE: tuple[TextOp, ...] = (
    TextOp("Identity", identity, 0.0, 0.0),
    TextOp("RandomDeletion", random_deletion, 0.5),
    TextOp("RandomSwap", random_swap, 0.5),
    TextOp("RandomInsertion", random_insertion, 0.5),
    TextOp("SynonymReplacement", synonym_replacement, 0.5),
    TextOp("TokenMask", token_mask, 0.5),
    TextOp("SpanCutout", span_cutout, 0.5),
    TextOp("MentionReplacement", mention_replacement, 1.0, tagging=True),
    TextOp("LabelwiseTokenReplacement", labelwise_token_replacement, 0.5, tagging=True),
    TextOp("SegmentShuffle", segment_shuffle, 1.0, tagging=True),
)
TEXT_OP_NAMES: tuple[str, ...] = tuple(op.name for op in OP_TABLE)
MAX_RATE: dict[str, float] = {op.name: op.max_rate for op in OP_TABLE}
OPS: dict[str, Callable[..., tuple[Tensor, Tensor, Tensor | None]]] = {op.name: op.kernel for op in OP_TABLE}
OP_COST: dict[str, float] = {op.name: op.cost for op in OP_TABLE}


def apply(op: str, ids: Tensor, lengths: Tensor, rate: Tensor, draws: Tensor, vocab: Vocab, tags: Tensor | None = None):
    """Check the inputs, then run ``OPS[op]``; returns ``(ids, lengths, tags)`` (tags None when not given)."""
    if op not in OPS:
        raise ValueError(f"unknown text op {op!r}; choose one of {', '.join(TEXT_OP_NAMES)}")
    check(ids, lengths, rate, draws)
    if tags is not None and tags.shape != ids.shape:
        raise ValueError(f"tags must have the shape of ids {tuple(ids.shape)}, got {tuple(tags.shape)}")
    return OPS[op](ids, lengths.to(ids.device), rate.to(ids.device), draws, vocab, tags)


def apply_slots(tokens: TokenBatch, op_index: Tensor, rate: Tensor, seed: Tensor, mask: Tensor) -> TokenBatch:
    """Apply S slots of per-sample ops to ``tokens``: slot s applies op ``TEXT_OP_NAMES[op_index[s, b]]`` at
    ``rate[s, b]`` to sample b where ``mask[s, b]``. The uniform draws of slot s come from a generator seeded with
    ``seed[s]``, drawn afresh (at the current width) before each op present in the slot, in op-table order, so
    the same arguments replay the same output exactly. Loops run over slots and ops, never over samples."""
    ids, lengths, tags = tokens.ids, tokens.lengths, tokens.tags
    for s in range(int(op_index.shape[0])):
        active = mask[s] & (op_index[s] != 0)  # index 0 is Identity
        if not bool(active.any()):
            continue
        g = torch.Generator().manual_seed(int(seed[s]))
        for k in sorted(set(op_index[s][active].tolist())):
            chosen = active & (op_index[s] == k)
            op_rate = torch.where(chosen, rate[s], torch.zeros_like(rate[s])).to(ids.device)
            draws = sample_draws(ids, g)
            ids, lengths, tags = OPS[TEXT_OP_NAMES[k]](ids, lengths, op_rate, draws, tokens.vocab, tags)
    return tokens.with_ids(ids, lengths, tags)
