"""Write the candidate policy files of the attempt-9 race (issue 14; PLAN.md in ../final-imdb-small/).

    python experiments/search9-imdb-small/make_candidates.py

Attempts 5 to 8 raced deletion and swap on ``imdb-small`` (12 epochs); their winners tied EDA on test. Trained
twice as long (``imdb-small-long``, 24 epochs), EDA gained +1.2 points over no augmentation on validation and
deletion alone lost 0.6 (../design-imdb-small-budget/): at that length the ops that keep every word (synonym
replacement, insertion) look like the ones that pay. Attempt 9 races the EDA family itself, at the rates and op sets
EDA's authors did not tune for this task. Each candidate is EDA's form (per review, with probability 0.9, one op
drawn uniformly from its set, at rate alpha; ``policy.text.EDA``) with one thing changed:

- ``eda-a05``: alpha 0.05 (half EDA's);
- ``eda-a20``: alpha 0.2 (twice);
- ``eda-a30``: alpha 0.3;
- ``sr-ri``: synonym replacement and random insertion only (no word dropped or moved), alpha 0.1;
- ``eda-ramp``: none for the first third of training, EDA (alpha 0.1) for the second, alpha 0.2 for the last (the
  shape of race 8's winner, on EDA's ops).

EDA itself (the ``eda`` preset, the incumbent) joins on the race's command line. Deterministic; rerunning rewrites
identical files.
"""

from __future__ import annotations

from pathlib import Path

from policy_search.ops.text import MAX_RATE
from policy_search.policy.base import ImageSpec, Policy
from policy_search.policy.kinds import Schedule, Sequence
from policy_search.policy.text import EDA_KEEP_ORIGINAL, TextSubPolicies

HERE = Path(__file__).resolve().parent
SPEC = ImageSpec(1, 1, 128)  # what every text policy file of imdb-small records (its token length)
EDA_OPS = ("SynonymReplacement", "RandomInsertion", "RandomSwap", "RandomDeletion")


def eda_like(alpha: float, ops: tuple[str, ...] = EDA_OPS) -> TextSubPolicies:
    """EDA's form: per review one sub-policy of ``ops`` uniformly, firing with probability 0.9 at rate alpha."""
    rows = [[(op, 1 - EDA_KEEP_ORIGINAL, alpha / MAX_RATE[op])] for op in ops]
    return TextSubPolicies(rows, image_spec=SPEC)


def candidates() -> dict[str, Policy]:
    none = Sequence([], image_spec=SPEC)
    return {
        "eda-a05": eda_like(0.05),
        "eda-a20": eda_like(0.2),
        "eda-a30": eda_like(0.3),
        "sr-ri": eda_like(0.1, ("SynonymReplacement", "RandomInsertion")),
        "eda-ramp": Schedule([(1 / 3, none), (2 / 3, eda_like(0.1)), (1.0, eda_like(0.2))], image_spec=SPEC),
    }


def main() -> None:
    out = HERE / "candidates"
    out.mkdir(exist_ok=True)
    for name, policy in candidates().items():
        policy.save(
            out / f"{name}.json",
            provenance={"task": "imdb-small-long", "agent": "race candidate (EDA's form at other rates and op sets)"},
        )
    print("\n".join(sorted(p.name for p in out.iterdir())))


if __name__ == "__main__":
    main()
