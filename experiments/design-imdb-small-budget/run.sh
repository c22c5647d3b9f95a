#!/bin/bash
# Design check for a next imdb-small design (validation only; not a search, picks no policy): does augmentation
# pay more when the child trains twice as long? Nine child runs, two at a time, one thread each.
#   bash experiments/design-imdb-small-budget/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export POLICY_SEARCH_THREADS=${POLICY_SEARCH_THREADS:-1}
for seed in 8000 8001 8002; do
    for policy in none eda experiments/search8-imdb-small/candidates/rd17.json; do
        name=$(basename "$policy" .json)
        echo "$policy $seed experiments/design-imdb-small-budget/runs/$name-e24-seed$seed"
    done
done | xargs -P 2 -L 1 bash -c 'test -f "$2/metrics.json" || python -m policy_search.child --task imdb-small --epochs 24 --policy "$0" --seed "$1" --out "$2" > /dev/null'
