"""Batched text ops (issue 14, first part): what each op does to ids, lengths and tags, exact replay, specials."""

from __future__ import annotations

import pytest
import torch

from policy_search.ops.text import OPS, TEXT_OP_NAMES, Vocab, apply, magnitude_to_rate, sample_draws

VOCAB = Vocab(pad_id=0, mask_id=1, num_special=3)  # 2: a class token that must never move


def batch(seed: int = 0, b: int = 64, width: int = 30):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, width + 1, (b,), generator=g)
    ids = torch.randint(3, 500, (b, width), generator=g)
    ids[:, 0] = 2
    ids = ids.masked_fill(torch.arange(width) >= lengths[:, None], 0)
    tags = torch.randint(0, 9, (b, width), generator=g).masked_fill(ids == 0, 0)
    return ids, lengths, tags


def rows(ids, lengths):
    return [ids[b, : int(lengths[b])].tolist() for b in range(len(lengths))]


def is_subsequence(small, big):
    it = iter(big)
    return all(x in it for x in small)


@pytest.mark.parametrize("op", TEXT_OP_NAMES)
def test_rate_zero_changes_nothing_and_same_draws_replay(op):
    ids, lengths, tags = batch()
    draws = sample_draws(ids, torch.Generator().manual_seed(1))
    out = apply(op, ids, lengths, torch.zeros(len(ids)), draws, VOCAB, tags)
    assert rows(out[0], out[1]) == rows(ids, lengths) and torch.equal(out[2][:, : ids.shape[1]], tags)
    rate = torch.full((len(ids),), 0.3)
    first = apply(op, ids, lengths, rate, draws, VOCAB, tags)
    again = apply(op, ids, lengths, rate, draws.clone(), VOCAB, tags)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    out_ids, out_len, _ = first
    assert bool((out_ids[torch.arange(out_ids.shape[1]) >= out_len[:, None]] == 0).all()), "padding after lengths"
    assert bool((out_ids[:, 0] == 2).all()), "the special class token stays first"


def test_deletion_keeps_an_ordered_subsequence_and_at_least_one_token():
    ids, lengths, tags = batch()
    draws = sample_draws(ids, torch.Generator().manual_seed(2))
    out, new_len, new_tags = apply("RandomDeletion", ids, lengths, torch.full((len(ids),), 1.0), draws, VOCAB, tags)
    assert bool((new_len >= 1).all())
    for before, after in zip(rows(ids, lengths), rows(out, new_len)):
        assert is_subsequence(after, before) and after[0] == 2  # specials survive any rate
    half = apply("RandomDeletion", ids, lengths, torch.full((len(ids),), 0.5), draws, VOCAB, tags)
    removed = (lengths - half[1]).sum() / (lengths - 1).sum()
    assert 0.4 < float(removed) < 0.6


def test_tags_move_with_their_tokens():
    ids, lengths, _ = batch()
    tags = ids % 7  # a tag determined by the token: it must still be after any move
    for op in ("RandomDeletion", "RandomSwap", "SpanCutout"):
        draws = sample_draws(ids, torch.Generator().manual_seed(3))
        out, new_len, out_tags = apply(op, ids, lengths, torch.full((len(ids),), 0.4), draws, VOCAB, tags)
        inside = torch.arange(out.shape[1]) < new_len[:, None]
        assert torch.equal(out_tags[inside], out[inside] % 7), op


def test_swap_permutes_each_sentence():
    ids, lengths, _ = batch()
    draws = sample_draws(ids, torch.Generator().manual_seed(4))
    out, new_len, _ = apply("RandomSwap", ids, lengths, torch.full((len(ids),), 0.5), draws, VOCAB)
    assert torch.equal(new_len, lengths)
    changed = 0
    for before, after in zip(rows(ids, lengths), rows(out, new_len)):
        assert sorted(before) == sorted(after)
        changed += before != after
    assert changed > len(ids) // 2


def test_insertion_adds_round_rate_times_length_tokens_from_the_sentence():
    ids, lengths, tags = batch()
    draws = sample_draws(ids, torch.Generator().manual_seed(5))
    rate = torch.full((len(ids),), 0.2)
    out, new_len, out_tags = apply("RandomInsertion", ids, lengths, rate, draws, VOCAB, tags)
    assert bool((new_len <= lengths + torch.round(rate * lengths).long()).all()) and bool((new_len > lengths).any())
    for before, after in zip(rows(ids, lengths), rows(out, new_len)):
        assert is_subsequence(before, after) and set(after) <= set(before)
    assert int((out_tags == VOCAB.outside_tag).sum()) >= int((new_len - lengths).sum())


def test_synonym_replacement_draws_from_the_table_and_mask_uses_the_mask_id():
    synonyms = torch.full((500, 2), -1, dtype=torch.long)
    synonyms[3:, 0] = torch.arange(3, 500).flip(0)  # every word has one synonym
    vocab = Vocab(pad_id=0, mask_id=1, num_special=3, synonyms=synonyms)
    ids, lengths, _ = batch()
    draws = sample_draws(ids, torch.Generator().manual_seed(6))
    out, _, _ = apply("SynonymReplacement", ids, lengths, torch.full((len(ids),), 1.0), draws, vocab)
    inside = (torch.arange(ids.shape[1]) < lengths[:, None]) & (ids >= 3)
    assert torch.equal(out[inside], synonyms[ids[inside], 0])
    masked, _, _ = apply("TokenMask", ids, lengths, torch.full((len(ids),), 0.5), draws, vocab)
    share = float((masked[inside] == 1).float().mean())
    assert 0.4 < share < 0.6 and bool((masked[~inside & (ids > 0)] == ids[~inside & (ids > 0)]).all())


def test_span_cutout_removes_one_contiguous_span():
    ids, lengths, _ = batch()
    draws = sample_draws(ids, torch.Generator().manual_seed(7))
    rate = torch.full((len(ids),), 0.3)
    out, new_len, _ = apply("SpanCutout", ids, lengths, rate, draws, VOCAB)
    for before, after, n in zip(rows(ids, lengths), rows(out, new_len), torch.round(rate * lengths).long()):
        n = min(int(n), len(before) - 1)
        assert len(after) == len(before) - n or before[0] == 2
        assert any(before[:s] + before[s + n :] == after for s in range(len(before) - n + 1)) or n == 0


def test_bad_inputs_are_one_line_errors():
    ids, lengths, _ = batch()
    draws = sample_draws(ids)
    with pytest.raises(ValueError, match="rate"):
        apply("TokenMask", ids, lengths, torch.full((len(ids),), 1.5), draws, VOCAB)
    with pytest.raises(ValueError, match="lengths"):
        apply("TokenMask", ids, lengths + 100, torch.zeros(len(ids)), draws, VOCAB)
    with pytest.raises(ValueError, match="unknown text op"):
        apply("Translate", ids, lengths, torch.zeros(len(ids)), draws, VOCAB)
    assert torch.allclose(magnitude_to_rate("RandomSwap", torch.tensor([0.0, 1.0])), torch.tensor([0.0, 0.5]))
    assert set(OPS) == set(TEXT_OP_NAMES)
