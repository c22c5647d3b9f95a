"""Policy files of the conll2003-small baselines (issue 35): Dai & Adel's (2020) four label-preserving NER
augmentations, each alone and all four, at rate 0.3 (a fraction of tokens, mentions or segments changed per
sentence; the paper's operations, our on-the-fly form: every training sentence is augmented when drawn).

    python experiments/baselines-conll2003-small/make_policies.py

Writes policies/*.json beside this script; config.json lists them with the presets none, eda and
mention-replacement (which is Dai & Adel's MR at 0.3 already).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from policy_search.ops.text import MAX_RATE  # noqa: E402
from policy_search.policy.text import TextSubPolicies  # noqa: E402

RATE = 0.3
OPS = {  # file name: Dai & Adel's operation
    "lwtr": "LabelwiseTokenReplacement",  # label-wise token replacement
    "sr": "SynonymReplacement",  # synonym replacement (tags kept: a replaced token keeps its tag)
    "sis": "SegmentShuffle",  # shuffle within segments
}


def main() -> None:
    out = Path(__file__).resolve().parent / "policies"
    out.mkdir(exist_ok=True)
    for name, op in OPS.items():
        TextSubPolicies([[(op, 1.0, RATE / MAX_RATE[op])]]).save(
            out / f"{name}.json", provenance={"recipe": f"Dai & Adel 2020 {op} at rate {RATE}"}
        )
    every = [*OPS.values(), "MentionReplacement"]
    TextSubPolicies([[(op, 1.0, RATE / MAX_RATE[op])] for op in every]).save(
        out / "dai-adel-all.json",
        provenance={"recipe": f"one of Dai & Adel's four operations per sentence, uniformly, at rate {RATE}"},
    )


if __name__ == "__main__":
    main()
