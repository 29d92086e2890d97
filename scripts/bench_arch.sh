#!/usr/bin/env bash
# `make bench-arch`: the full-size architectures (random weights) end to end, as one DVC experiment run in a
# temporary workspace. This workspace (params.yaml, dvc.lock, the default DAG's outputs, uncommitted edits) is
# never reset or checked out; only the new metrics/<variant>/, reports/<variant>/ and reports/op_profile.md
# are written into it.
#
#   bash scripts/bench_arch.sh [variant ...]     default: $BENCH_ARCH_VARIANTS or "sdxl-turbo-arch pixart-lcm-arch"
#
# `make reference` runs the trained reference model the same way (BENCH_ARCH_NAME=reference, no op profile).
#
# 1. `dvc exp run --temp` with enabled=[variants], benchmark.rounds=$BENCH_ARCH_ROUNDS (2), under a memory watchdog
#    that needs $BENCH_ARCH_REQUIRE_GB (20) GB free. The experiment starts from this workspace as it is
#    (uncommitted edits included) and is kept in DVC: `dvc exp show`, `dvc exp apply <name>`.
# 2. The op profile (scripts/op_profile.py -> reports/op_profile.md) from the experiment's models, checked out
#    into a scratch git worktree under .dvc/tmp that links DVC's cache (no copy of the models).
# 3. metrics/<variant>/ and reports/<variant>/ from the experiment's commit into this workspace; then
#    `dvc repro report` shows them in reports/summary.md as "(recorded)" columns.
set -euo pipefail
read -r -a VARIANTS <<< "${*:-${BENCH_ARCH_VARIANTS:-sdxl-turbo-arch pixart-lcm-arch}}"
ROUNDS=${BENCH_ARCH_ROUNDS:-2}
REQUIRE_GB=${BENCH_ARCH_REQUIRE_GB:-20}
DEVICE=CPU
NAME="${BENCH_ARCH_NAME:-bench-arch}-$(date +%Y%m%d-%H%M%S)"
PROFILE=${BENCH_ARCH_PROFILE:-1}
REPO=$(pwd)
started=$(date +%s)

echo "$NAME: experiment of ${VARIANTS[*]}, $ROUNDS benchmark rounds, in a temporary workspace" >&2
python scripts/watchdog.py --require-available-gb "$REQUIRE_GB" --min-available-gb 1.5 -- \
    dvc exp run --temp -n "$NAME" -S "enabled=[$(IFS=,; echo "${VARIANTS[*]}")]" -S "benchmark.rounds=$ROUNDS" \
    -S gate.allow_empty=true   # random weights: the arch variants are not gated (judged variants still are)
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

scratch="$REPO/.dvc/tmp/$NAME"
cache=$(dvc cache dir)
cleanup() { git -C "$REPO" worktree remove --force "$scratch" 2>/dev/null || true; git -C "$REPO" worktree prune; }
trap cleanup EXIT
git worktree add -q --detach "$scratch" "$ref"
profile=$(mktemp)
(
    cd "$scratch"
    dvc cache dir --local "$cache"
    for variant in "${VARIANTS[@]}"; do
        dvc checkout -q "export@$variant" "calibrate@$variant" "quantize@$variant-$DEVICE"
        python "$REPO/scripts/op_profile.py" "$variant" --device "$DEVICE" --markdown "$profile"
    done
)
{ echo "# Where the time goes (\`scripts/op_profile.py\`, run by \`make bench-arch\` $(date -u +%F), experiment $NAME)"
  echo; cat "$profile"; } > reports/op_profile.md
rm -f "$profile"
echo "$NAME done in $(( ($(date +%s) - started) / 60 )) min: metrics/<variant>/, reports/<variant>/," \
     "reports/op_profile.md; \`dvc repro report\` adds them to reports/summary.md" >&2
