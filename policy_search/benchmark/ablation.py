"""Ablations of a race's leader: the leader with one of its parts left out, raced beside it (issue 31).

Why: in the replicated comparisons (experiments/final-replicated-mnist-small, -cifar10-small) what separated a
method's good searches from its bad ones was one part of the policy, a full-strength pad-and-crop on every image,
that a search kept because it settled on it early: AugNet's `cifar10-small` search 1 tried crop in 8 of its 10
runs, so its shortlist held only policies with crop, and the race (two candidates on two seeds at 16 child runs)
could not ask whether the crop paid. An ablation slot asks it: the race's last ``ablate`` candidate slots go to the
leader with one part removed, on the same shared seeds, so a part that costs is dropped by the race itself.

Parts, read from the policy's file form (so any kind, image or text, is handled alike): each member of a Sequence
(a single-phase Schedule is unwrapped); within a member that is one sub-policy of several ops applied together
(flip and crop; image or text sub-policies alike), each op that does something (not Identity, probability above 0).
A part's label is its op name, or its kind for any other member (``randaugment``, ``text-randaugment``). Ablations that leave nothing (no augmentation, raced anyway as the reference) are skipped;
ops inside RandAugment's op set are parts only when asked (``ops``; ``search race --ablate-ops``): a text leader is
one TextRandAugment, whose ops are what a search over the text families action chose (experiments/
final-conll2003-small: the searched policy over four ops tied one of them alone), where on images with the compact
action every run draws from all 13 ops and the search says nothing about any of them.

Which part first: the one whose absence the search tried least (the fewest pooled runs of augmenting policies
without it; runs without augmentation are the race's reference, not evidence about one part), ties in the order
the parts appear. It is the part the search knows least about, which is what an extra paired
comparison buys most for (AugNet's search 1 above: crop was absent from 1 run, flip from 3, RandAugment from 3).
Without search runs (a race of listed policies) the parts go in order.

Written by hand: a few dict edits over the policy file format; no library ablates augmentation policies.
"""

from __future__ import annotations

import copy
import json
from typing import Any

__all__ = ["ablations", "part_labels"]


def _members(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The members of a policy's file form: a Sequence's policies, the one phase of a single-phase Schedule's,
    else the policy itself."""
    if doc.get("kind") == "schedule" and len(doc["body"]["phases"]) == 1:
        return _members(doc["body"]["phases"][0]["policy"])
    if doc.get("kind") == "sequence":
        return [m for d in doc["body"]["policies"] for m in ([d] if d.get("kind") != "sequence" else _members(d))]
    return [doc]


def _parts(members: list[dict[str, Any]], ops: bool = False) -> list[tuple[str, int, int | str | None]]:
    """(label, member index, what of it: an op index within its one sub-policy, an op name of its op set (with
    ``ops``), or None for the whole member)."""
    out: list[tuple[str, int, int | str | None]] = []
    for i, m in enumerate(members):
        rows = m["body"].get("subpolicies") if m.get("kind") in ("subpolicies", "text-subpolicies") else None
        drawn = [o for o in m["body"].get("ops") or [] if o != "Identity"] if ops else []
        if rows is not None and len(rows) == 1:  # an op that does nothing (Identity, probability 0) is no part
            out += [(e["op"], i, j) for j, e in enumerate(rows[0]) if e["op"] != "Identity" and e["probability"] > 0]
        elif len(drawn) > 1:  # with ``ops``: each op a RandAugment draws from (one is left at least)
            out += [(name, i, name) for name in drawn]
        else:
            out.append((str(m.get("kind")), i, None))
    return out


def key(policy: Any) -> str:
    """What a policy does, blind to how it is wrapped (a one-member Sequence or single-phase Schedule and its
    member are the same policy): for telling an ablation from a candidate."""
    return json.dumps(_members(policy.to_dict()), sort_keys=True)


def part_labels(policy: Any, ops: bool = False) -> set[str]:
    """The labels of a policy's parts (module docstring; ``ops``: the ops of its RandAugment op sets too)."""
    return {label for label, _, _ in _parts(_members(policy.to_dict()), ops)}


def _without(members: list[dict[str, Any]], i: int, j: int | str | None) -> list[dict[str, Any]]:
    kept = copy.deepcopy(members)
    if j is None:
        del kept[i]
        return kept
    if isinstance(j, str):  # one op out of the member's op set
        kept[i]["body"]["ops"] = [o for o in kept[i]["body"]["ops"] if o != j]
        return kept
    row = kept[i]["body"]["subpolicies"][0]
    del row[j]
    return kept if row else kept[:i] + kept[i + 1 :]


def ablations(policy: Any, evidence: list[tuple[Any, int]] | None = None, ops: bool = False) -> list[tuple[str, Any]]:
    """``(name, policy without that part)`` for each part of ``policy`` whose removal leaves some augmentation,
    the part whose absence ``evidence`` (``(policy, runs)`` pairs: the search's pooled runs) holds least first.
    Each ablation is a Sequence; ``name`` is the part's label, made unique where two parts share one. ``ops``: the
    ops a RandAugment (or TextRandAugment) draws from are parts too, each in place of the whole member."""
    from policy_search.policy.base import policy_from_dict

    doc = policy.to_dict()
    members = _members(doc)
    parts = _parts(members, ops)
    if len(parts) < 2:
        return []
    absent = {label: 0 for label, _, _ in parts}
    for other, runs in evidence or []:
        have = part_labels(other, ops)
        if not have:
            continue  # no augmentation: the race's reference, not evidence about one part
        for label in absent:
            absent[label] += runs * (label not in have)
    order = sorted(range(len(parts)), key=lambda k: (absent[parts[k][0]], k))
    out, seen, names = [], {key(policy)}, set()
    for k in order:
        label, i, j = parts[k]
        kept = _without(members, i, j)
        body = {"kind": "sequence", "magnitude_semantics": doc.get("magnitude_semantics"), "body": {"policies": kept}}
        ablated = policy_from_dict(body, policy.image_spec) if kept else None
        if ablated is not None and key(ablated) not in seen:
            seen.add(key(ablated))
            name = label if label not in names else f"{label}-{i}.{j if isinstance(j, int) else 0}"  # two alike
            names.add(name)
            out.append((name, ablated))
    return out
