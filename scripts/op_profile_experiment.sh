#!/usr/bin/env bash
# The op profile (scripts/op_profile.py) of a DVC experiment's models, on this CPU or under an emulated smaller
# class (scripts/emulate_host.py), into reports/<variant>/op_profile-<host class>.md, then reports/op_profile.md
# (scripts/op_profile_report.sh). The models are checked out into a scratch worktree that links DVC's cache: nothing
# is copied, and this workspace is not touched otherwise. `temp_experiment.sh --op-profile` runs it on its experiment.
#
#   bash scripts/op_profile_experiment.sh --exp NAME [--emulate CLASS] [--require-gb GB] VARIANT...
set -euo pipefail
usage() { echo "usage: $0 --exp NAME [--emulate CLASS] [--require-gb GB] VARIANT..." >&2; exit 2; }
EXP="" EMULATE="" REQUIRE_GB=1 VARIANTS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --exp) EXP=$2; shift 2 ;;
        --emulate) EMULATE=$2; shift 2 ;;
        --require-gb) REQUIRE_GB=$2; shift 2 ;;
        -*) echo "error: unknown option $1" >&2; usage ;;
        *) VARIANTS+=("$1"); shift ;;
    esac
done
[ -n "$EXP" ] && [ ${#VARIANTS[@]} -gt 0 ] || usage
REPO=$(pwd)
ref=$(git for-each-ref --format='%(refname)' refs/exps | grep "/$EXP\$" | head -1 || true)
[ -n "$ref" ] || { echo "error: no DVC experiment named $EXP: see \`dvc exp list --all-commits --name-only\`" >&2; exit 2; }
emulate=()
[ -z "$EMULATE" ] || emulate=(python "$REPO/scripts/emulate_host.py" "$EMULATE" --)
label=$("${emulate[@]}" python -c "from ov_diffusion_quant.runtime.host_facts import host_label; print(host_label())")

source "$REPO/scripts/lib/scratch_worktree.sh"
scratch_worktree "profile-$EXP" "$ref"
for variant in "${VARIANTS[@]}"; do
    quantized_on=$(git show "$ref:metrics/$variant/CPU/quantize.json" |
                   python -c "import json, sys; print(json.load(sys.stdin)['host']['isa_class'])")
    profile=$(mktemp)
    (cd "$SCRATCH"
     dvc checkout -q "export@$variant" "calibrate@$variant" "quantize@$variant-CPU"
     "${emulate[@]}" python "$REPO/scripts/watchdog.py" --require-available-gb "$REQUIRE_GB" --min-available-gb 1.0 -- \
         python "$REPO/scripts/op_profile.py" "$variant" --device CPU --markdown "$profile")
    { echo "# Where the time goes (\`scripts/op_profile.py\`${EMULATE:+ under \`scripts/emulate_host.py $EMULATE\`}," \
           "$(date -u +%F), on the models of experiment $EXP, quantized on \`$quantized_on\`)"; echo
      cat "$profile"; } > "$REPO/reports/$variant/op_profile-$label.md"
    rm -f "$profile"
done
bash "$REPO/scripts/op_profile_report.sh"
