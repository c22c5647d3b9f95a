"""Write the candidate policy files of the attempt-8 race (issue 14; PLAN.md in ../final-imdb-small/).

    python experiments/search8-imdb-small/make_candidates.py

Attempt 6's race (../search6-imdb-small/) found that the ops which move or drop words (random deletion, random swap)
carry the gain on imdb-small, each alone at a constant rate. Attempt 8 races what a constant single-op policy cannot
express: the two ops together, and schedules over training (the product's point: what to apply as the child
trains). Every candidate is built from those two ops at the rates race 6 tried (bin 3 of 10 = rate 0.17, bin 6 =
rate 0.33):

- ``rd17``: random deletion 0.17, constant (attempt 7's exported schedule, the incumbent);
- ``rs17``: random swap 0.17, constant (race 6's runner-up by mean);
- ``rd17+rs17``: both, in that order, on every review;
- ``rd17-clean-end``: random deletion 0.17 for the first 75% of training, then none (the last three of 12 epochs
  on clean text: the child is still learning at epoch 12, validation rising about a point an epoch);
- ``rd33-decay``: deletion 0.33 for the first half, 0.17 to 75%, then none (strong early, clean end);
- ``rd-ramp``: none for the first third, deletion 0.17 for the second, 0.33 for the last (augmentation that grows
  as the child fits its 1,000 reviews, the shape PBA's schedules took);
- ``rd17+rs17-clean-end``: both ops for the first 75%, then none.

EDA (a preset) joins on the race's command line. Deterministic; rerunning rewrites identical files.
"""

from __future__ import annotations

from pathlib import Path

from policy_search.policy.base import ImageSpec, Policy
from policy_search.policy.kinds import Schedule, Sequence
from policy_search.policy.text import TextRandAugment

HERE = Path(__file__).resolve().parent
SPEC = ImageSpec(1, 1, 128)  # what every text policy file of imdb-small records (its token length)


def _op(name: str, magnitude: int) -> TextRandAugment:
    return TextRandAugment(num_ops=1, magnitude=magnitude, num_bins=10, ops=[name], image_spec=SPEC)


def candidates() -> dict[str, Policy]:
    rd17, rd33, rs17 = _op("RandomDeletion", 3), _op("RandomDeletion", 6), _op("RandomSwap", 3)
    both = Sequence([rd17, rs17], image_spec=SPEC)
    none = Sequence([], image_spec=SPEC)
    return {
        "rd17": rd17,
        "rs17": rs17,
        "rd17+rs17": both,
        "rd17-clean-end": Schedule([(0.75, rd17), (1.0, none)], image_spec=SPEC),
        "rd33-decay": Schedule([(0.5, rd33), (0.75, rd17), (1.0, none)], image_spec=SPEC),
        "rd-ramp": Schedule([(1 / 3, none), (2 / 3, rd17), (1.0, rd33)], image_spec=SPEC),
        "rd17+rs17-clean-end": Schedule([(0.75, both), (1.0, none)], image_spec=SPEC),
    }


def main() -> None:
    out = HERE / "candidates"
    out.mkdir(exist_ok=True)
    for name, policy in candidates().items():
        policy.save(
            out / f"{name}.json",
            provenance={"task": "imdb-small", "agent": "race candidate (ops and schedules of race 6's best ops)"},
        )
    print("\n".join(sorted(p.name for p in out.iterdir())))


if __name__ == "__main__":
    main()
