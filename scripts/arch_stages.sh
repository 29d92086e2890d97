#!/usr/bin/env bash
# One variant's stages one after another, each committed back as it finishes: for runs too long for one sitting
# (PixArt at 1024² with the full T5-XXL). In a scratch git worktree of HEAD under .dvc/tmp that shares this
# workspace's DVC cache, each STAGE is one `dvc exp run` of STAGE@VARIANT (or STAGE@VARIANT-CPU) with the
# overrides, under scripts/watchdog.py; after each, metrics/VARIANT/ and reports/VARIANT/ are copied back here.
# An earlier stage already run with the same inputs comes from DVC's run-cache, so the script can be re-run to go on.
#
#   bash scripts/arch_stages.sh --variant V --require-gb GB [-S key=value ...] STAGE [STAGE ...]
set -euo pipefail
usage() { echo "usage: $0 --variant V --require-gb GB [-S key=value ...] STAGE [STAGE ...]" >&2; exit 2; }
VARIANT="" REQUIRE_GB="" OVERRIDES=() STAGES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --variant) VARIANT=$2; shift 2 ;;
        --require-gb) REQUIRE_GB=$2; shift 2 ;;
        -S) OVERRIDES+=(-S "$2"); shift 2 ;;
        -*) echo "error: unknown option $1" >&2; usage ;;
        *) STAGES+=("$1"); shift ;;
    esac
done
[ -n "$VARIANT" ] && [ -n "$REQUIRE_GB" ] && [ ${#STAGES[@]} -gt 0 ] || usage
REPO=$(pwd)
source "$REPO/scripts/lib/scratch_worktree.sh"
scratch_worktree "stages-$VARIANT" HEAD
cd "$SCRATCH"
for stage in "${STAGES[@]}"; do
    case "$stage" in
        export|calibrate) target="$stage@$VARIANT" ;;
        quantize|evaluate|benchmark) target="$stage@$VARIANT-CPU" ;;
        *) echo "error: unknown stage $stage: export, calibrate, quantize, evaluate or benchmark" >&2; exit 2 ;;
    esac
    started=$(date +%s)
    echo "$(date -u +%FT%TZ) $target ${OVERRIDES[*]}" >&2
    python "$REPO/scripts/watchdog.py" --require-available-gb "$REQUIRE_GB" --min-available-gb 1.0 -- \
        dvc exp run -S "enabled=[$VARIANT]" "${OVERRIDES[@]}" "$target"
    for kind in metrics reports; do
        [ -d "$kind/$VARIANT" ] && mkdir -p "$REPO/$kind/$VARIANT" && cp -r "$kind/$VARIANT/." "$REPO/$kind/$VARIANT/"
    done
    echo "$(date -u +%FT%TZ) $target done in $(( $(date +%s) - started )) s: metrics/$VARIANT/ copied back" >&2
done
