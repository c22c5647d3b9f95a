"""Candidates of a validation probe on `conll2003-small` (README.md; issue 35's next design, not run yet):
label-wise token replacement (LwTR) at other rates than the baselines' 0.3, LwTR with mention replacement, and the
final's searched policy without synonym replacement (the op that costs alone).

    python experiments/probe-conll2003-small-lwtr/make_policies.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from policy_search.ops.text import MAX_RATE  # noqa: E402
from policy_search.policy import Sequence  # noqa: E402
from policy_search.policy.text import TextRandAugment, TextSubPolicies  # noqa: E402

LWTR, MR = "LabelwiseTokenReplacement", "MentionReplacement"


def main() -> None:
    out = Path(__file__).resolve().parent / "policies"
    out.mkdir(exist_ok=True)
    for rate in (0.15, 0.4, 0.5):  # MAX_RATE of label-wise token replacement is 0.5
        TextSubPolicies([[(LWTR, 1.0, rate / MAX_RATE[LWTR])]]).save(out / f"lwtr-{rate:g}.json")
    TextSubPolicies([[(LWTR, 1.0, 0.3 / MAX_RATE[LWTR]), (MR, 1.0, 0.3 / MAX_RATE[MR])]]).save(out / "lwtr-mr.json")
    ops = ("RandomDeletion", MR, LWTR)  # the searched policy (N=2, M=4) without synonym replacement
    Sequence([TextRandAugment(num_ops=2, magnitude=4, ops=ops)]).save(out / "searched-without-sr.json")


if __name__ == "__main__":
    main()
