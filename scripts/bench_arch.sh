#!/usr/bin/env bash
# `make bench-arch`: the full-size architectures (random weights) end to end, as one DVC experiment.
#
# Runs sdxl-turbo-arch and pixart-lcm-arch through every stage under a memory watchdog, profiles where
# their time goes (reports/op_profile.md), then puts the workspace back on the default DAG (params,
# dvc.lock, the tiny variants' outputs) while keeping the new metrics/<arch>/ and reports/<arch>/ files,
# and brings the default DAG up to date (gate, report): reports/summary.md then shows the arch runs as
# "recorded" columns. The experiment itself stays in DVC (`dvc exp show`, `dvc exp apply <name>` brings its models back).
set -euo pipefail
ARCH=(sdxl-turbo-arch pixart-lcm-arch)
NAME="bench-arch-$(date +%Y%m%d-%H%M%S)"
started=$(date +%s)

python scripts/watchdog.py --require-available-gb 20 --min-available-gb 1.5 -- \
    dvc exp run -n "$NAME" -S "enabled=[$(IFS=,; echo "${ARCH[*]}")]" -S benchmark.rounds=2 \
    -S gate.allow_empty=true   # random weights: the arch variants are not gated

profile=$(mktemp)
for variant in "${ARCH[@]}"; do
    python scripts/op_profile.py "$variant" --markdown "$profile"
done

keep=$(mktemp -d)
for variant in "${ARCH[@]}"; do
    mkdir -p "$keep/metrics" "$keep/reports"
    cp -r "metrics/$variant" "$keep/metrics/"
    cp -r "reports/$variant" "$keep/reports/"
done
git checkout -- params.yaml dvc.lock
dvc checkout -q                       # the default DAG's outputs back; DVC drops the experiment's from the workspace
deleted=$(git ls-files --deleted)
[ -z "$deleted" ] || git checkout -- $deleted
cp -r "$keep/metrics/." metrics/
cp -r "$keep/reports/." reports/
{ echo "# Where the time goes (\`scripts/op_profile.py\`, run by \`make bench-arch\` $(date -u +%F))"; echo;
  cat "$profile"; } > reports/op_profile.md
dvc repro                             # the default DAG: stale stages (gate, report) re-run
echo "bench-arch: $NAME done in $(( ($(date +%s) - started) / 60 )) min; metrics/<arch>/, reports/summary.md, reports/op_profile.md"
