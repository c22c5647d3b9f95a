"""Candidates of the validation probe in README.md (issue 35, after CoNLL round 3): the per-sample controllers
(`online-augnet` and the entropy rule, `entropy-adaptive`) drawing label-wise token replacement and mention
replacement, the two ops that pay on `conll2003-small`.

    python experiments/probe-conll2003-small-online/make_policies.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from policy_search.policy.online import EntropyAdaptive, OnlineAugNet  # noqa: E402

OPS = ["LabelwiseTokenReplacement", "MentionReplacement"]


def main() -> None:
    out = Path(__file__).resolve().parent / "policies"
    out.mkdir(exist_ok=True)
    OnlineAugNet(ops=OPS).save(out / "online-lwtr-mr.json")  # the preset's settings otherwise (2 ops per text sample)
    # amendment (thirty-fourth session, before any run): affinity read on the entity tokens, not every token
    OnlineAugNet(ops=OPS, tag_affinity="entities").save(out / "online-entities-lwtr-mr.json")
    EntropyAdaptive(ops=OPS, ops_per_sample=2).save(out / "entropy-lwtr-mr.json")  # the same draws, no learning


if __name__ == "__main__":
    main()
