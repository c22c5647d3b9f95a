#!/bin/bash
# Design check for a next imdb-small design (validation only; not a search, picks no policy): does augmentation
# pay more when the child trains twice as long (24 epochs), or when its learning rate decays to zero over the
# task's 12 epochs (cosine)? 36 child runs, two at a time, one thread each; finished runs are skipped.
#   bash experiments/design-imdb-small-budget/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export POLICY_SEARCH_THREADS=${POLICY_SEARCH_THREADS:-1}
for arm in "e24:--epochs 24" "cos12:--set lr_schedule=cosine"; do
    for seed in 8000 8001 8002 8003 8004 8005; do
        for policy in none eda experiments/search8-imdb-small/candidates/rd17.json; do
            name=$(basename "$policy" .json)
            echo "$policy $seed experiments/design-imdb-small-budget/runs/$name-${arm%%:*}-seed$seed ${arm#*:}"
        done
    done
done | xargs -P 2 -L 1 bash -c 'test -f "$2/metrics.json" || python -m policy_search.child --task imdb-small --policy "$0" --seed "$1" --out "$2" "${@:3}" > /dev/null'
