#!/usr/bin/env bash
# Build the hedgerow binary and report the monitoring classifier's figures on the dev and
# test splits of eval/monitoring (see docs/monitoring-evaluation.md).
#
#   scripts/eval-monitoring.sh [--errors] [--json] [--age-band BAND]
#
# HEDGEROW_BIN=path skips the build and uses that binary; HEDGEROW_CLASSIFY_CMD runs a
# stand-in command instead (no build). Exit status is 0 whatever the figures are, and
# non-zero only when the build or the classifier fails.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

if [[ -z "${HEDGEROW_CLASSIFY_CMD:-}" && -z "${HEDGEROW_BIN:-}" ]]; then
    cargo build --release -p hedgerow
    HEDGEROW_BIN="${CARGO_TARGET_DIR:-$repo/target}/release/hedgerow"
    export HEDGEROW_BIN
fi

python3 eval/monitoring/split.py --check

for split in dev test eval/monitoring/holdout.tsv eval/monitoring/holdout2.tsv; do
    # The second hold-out set lands once the classifier tuned without it is in.
    [[ "$split" == *.tsv && ! -f "$split" ]] && continue
    python3 scripts/eval_monitoring.py --split "$split" "$@"
    echo
done
