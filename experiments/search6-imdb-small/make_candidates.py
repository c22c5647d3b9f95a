"""Write the candidate policy files of the attempt-6 race (issue 14; PLAN.md in ../final-imdb-small/).

    python experiments/search6-imdb-small/make_candidates.py

The neighbourhood of attempt 5's race winner (TextRandAugment: one op per review drawn from the six text ops, bin 3
of 10, rate 0.17): each op alone, at that bin (rate 0.17) and at twice it (bin 6, rate 0.33), and the winner
itself. EDA (a preset) joins on the race's command line. Deterministic; rerunning rewrites identical files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from policy_search.policy.base import ImageSpec
from policy_search.policy.text import TEXT_OPS, TextRandAugment

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SPEC = ImageSpec(1, 1, 128)  # what every text policy file of imdb-small records (its token length)


def main() -> None:
    out = HERE / "candidates"
    out.mkdir(exist_ok=True)
    for op in TEXT_OPS:
        for magnitude in (3, 6):
            policy = TextRandAugment(num_ops=1, magnitude=magnitude, num_bins=10, ops=[op], image_spec=SPEC)
            policy.save(
                out / f"{op}-b{magnitude}.json",
                provenance={"task": "imdb-small", "agent": "race candidate (attempt-5 winner's neighbourhood)"},
            )
    shutil.copyfile(ROOT / "experiments/search5-imdb-small/race/schedule.json", out / "attempt5-winner.json")
    print("\n".join(sorted(p.name for p in out.iterdir())))


if __name__ == "__main__":
    main()
