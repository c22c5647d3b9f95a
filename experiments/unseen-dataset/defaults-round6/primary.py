"""The primary comparison of PLAN.md, as its words define it: the default `train_agent --dataset` policy (search
seed 0 on the new defaults, ``search-seed0/schedule.json``) against ``none`` and ``trivialaugment`` on test accuracy, paired by test seed,
Holm over those two; met if both differences are positive with Holm p < 0.05. Also prints the same rows for the
secondary policies (search seeds 1 and 2, not in the Holm family of the primary) and the seed-0 policy against the
old default's (``../search/schedule.json``). Written before any test run.

    python experiments/unseen-dataset/defaults-round6/primary.py
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

HERE = Path(__file__).resolve().parent
PRIMARY = "experiments/unseen-dataset/defaults-round6/search-seed0/schedule.json"
SECONDARY = [f"experiments/unseen-dataset/defaults-round6/search-seed{s}/schedule.json" for s in (1, 2)]
OLD = "experiments/unseen-dataset/search/schedule.json"  # the old default's policy (48 runs racing no augmentation)


def main() -> int:
    """The replication's analysis (../replication/primary.py), on this folder's results and policies."""
    spec = importlib.util.spec_from_file_location("replication_primary", HERE.parent / "replication" / "primary.py")
    assert spec is not None and spec.loader is not None
    replication = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(replication)
    return replication.main(HERE, PRIMARY, SECONDARY, (OLD,))


if __name__ == "__main__":
    raise SystemExit(main())
