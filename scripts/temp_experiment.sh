#!/usr/bin/env bash
# Variants end to end as one DVC experiment in a temporary workspace (`dvc exp run --temp`), under a memory
# watchdog; only their metrics/<variant>/ and reports/<variant>/ (and, with --op-profile, reports/op_profile.md)
# come back into this workspace, which is never reset (params.yaml, dvc.lock, outputs and uncommitted edits stay).
# `make bench-arch`, `make reference` and `make search` are this script with their arguments.
#
#   bash scripts/temp_experiment.sh --name NAME --rounds N --require-gb GB [--op-profile] [-S key=value ...] VARIANT...
#
# 1. The experiment, from this workspace as it is (uncommitted edits included), with enabled=[VARIANT...] and
#    benchmark.rounds=N; kept in DVC (`dvc exp show`, `dvc exp apply <name>`).
#    -S: more overrides for the experiment, as `dvc exp run -S` takes them.
# 2. With --op-profile: scripts/op_profile_experiment.sh on the experiment's models, into
#    reports/<variant>/op_profile-<host class>.md (one per kind of CPU); reports/op_profile.md then gathers them all.
# 3. metrics/<variant>/ and reports/<variant>/ from the experiment's commit; judged variants print their adherence.
set -euo pipefail
usage() { echo "usage: $0 --name NAME --rounds N --require-gb GB [--op-profile] [-S key=value ...] VARIANT..." >&2; exit 2; }
NAME="" ROUNDS="" REQUIRE_GB="" PROFILE=0 VARIANTS=() OVERRIDES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --name) NAME=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --require-gb) REQUIRE_GB=$2; shift 2 ;;
        --op-profile) PROFILE=1; shift ;;
        -S) OVERRIDES+=(-S "$2"); shift 2 ;;
        -*) echo "error: unknown option $1" >&2; usage ;;
        *) VARIANTS+=("$1"); shift ;;
    esac
done
[ -n "$NAME" ] && [ -n "$ROUNDS" ] && [ -n "$REQUIRE_GB" ] && [ ${#VARIANTS[@]} -gt 0 ] || usage
DEVICE=CPU
NAME="$NAME-$(date +%Y%m%d-%H%M%S)"
REPO=$(pwd)
started=$(date +%s)

echo "$NAME: experiment of ${VARIANTS[*]}, $ROUNDS benchmark rounds, in a temporary workspace" >&2
python scripts/watchdog.py --require-available-gb "$REQUIRE_GB" --min-available-gb 1.5 -- \
    dvc exp run --temp -n "$NAME" -S "enabled=[$(IFS=,; echo "${VARIANTS[*]}")]" -S "benchmark.rounds=$ROUNDS" \
    -S gate.allow_empty=true "${OVERRIDES[@]}"  # random weights: arch variants are not gated (judged ones still are)
ref=$(git for-each-ref --format='%(refname)' refs/exps | grep "/$NAME\$")

for variant in "${VARIANTS[@]}"; do
    git restore --source="$ref" --worktree -- "metrics/$variant" "reports/$variant"
    python - "$variant" "$DEVICE" <<'PY' >&2   # judged variants: what the gate looked at
import json, pathlib, sys
evaluate = json.loads(pathlib.Path(f"metrics/{sys.argv[1]}/{sys.argv[2]}/evaluate.json").read_text())
if "adherence" in evaluate:
    a = evaluate["adherence"]
    print(f"{sys.argv[1]}: prompt adherence (mean attribute accuracy) FP {a['fp']['attributes']:.3f}, optimized "
          f"{a['optimized']['attributes']:.3f}; all five right FP {a['fp']['overall']:.2f}, optimized "
          f"{a['optimized']['overall']:.2f}; SSIM min {evaluate['text2image']['ssim']['min']:.3f}")
PY
done
if [ "$PROFILE" = 0 ]; then
    echo "$NAME done in $(( ($(date +%s) - started) / 60 )) min: metrics/<variant>/, reports/<variant>/" >&2
    exit 0
fi

bash scripts/op_profile_experiment.sh --exp "$NAME" --require-gb "$REQUIRE_GB" "${VARIANTS[@]}"
echo "$NAME done in $(( ($(date +%s) - started) / 60 )) min: metrics/<variant>/, reports/<variant>/," \
     "reports/op_profile.md; \`dvc repro report\` adds them to reports/summary.md" >&2
