#!/usr/bin/env bash
# Calibration and quantization of one variant at growing calibration sizes: the records behind
# docs/full-size.md#calibration-at-scale (issue: NNCF statistics in at most two passes).
#
#   bash scripts/calibration_scaling.sh --variant V --precision auto|f32 --require-gb GB N [N ...]
#
# In a scratch git worktree of HEAD under .dvc/tmp that shares this workspace's DVC cache, each size is one
# `dvc exp run` of quantize@V-CPU (export once, then calibrate and quantize at N samples) under
# scripts/watchdog.py; its calibrate.json and quantize.json are copied to reports/scaling/V/<precision>/N/.
# scripts/scaling_report.py then tabulates and plots them. This workspace is not touched otherwise.
set -euo pipefail
usage() { echo "usage: $0 --variant V --precision auto|f32 --require-gb GB N [N ...]" >&2; exit 2; }
VARIANT="" PRECISION="" REQUIRE_GB="" SIZES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --variant) VARIANT=$2; shift 2 ;;
        --precision) PRECISION=$2; shift 2 ;;
        --require-gb) REQUIRE_GB=$2; shift 2 ;;
        -*) echo "error: unknown option $1" >&2; usage ;;
        *) SIZES+=("$1"); shift ;;
    esac
done
[ -n "$VARIANT" ] && [ -n "$PRECISION" ] && [ -n "$REQUIRE_GB" ] && [ ${#SIZES[@]} -gt 0 ] || usage
REPO=$(pwd)
source "$REPO/scripts/lib/scratch_worktree.sh"
scratch_worktree "scaling-$VARIANT" HEAD
cd "$SCRATCH"
for size in "${SIZES[@]}"; do
    started=$(date +%s)
    echo "$VARIANT, $size samples, precision $PRECISION" >&2
    python "$REPO/scripts/watchdog.py" --require-available-gb "$REQUIRE_GB" --min-available-gb 1.0 -- \
        dvc exp run -S "enabled=[$VARIANT]" -S "variants.$VARIANT.calibrate.subset_size=$size" \
        -S "host.precision=$PRECISION" "quantize@$VARIANT-CPU"
    out="$REPO/reports/scaling/$VARIANT/$PRECISION/$size"
    mkdir -p "$out"
    cp "metrics/$VARIANT/calibrate.json" "metrics/$VARIANT/CPU/quantize.json" "$out/"
    echo "$VARIANT, $size samples: $(( $(date +%s) - started )) s, records in $out" >&2
done
