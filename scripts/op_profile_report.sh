#!/usr/bin/env bash
# reports/op_profile.md: every variant's op profile on every kind of CPU measured (reports/<variant>/op_profile-*.md,
# written by scripts/temp_experiment.sh --op-profile or by hand with scripts/op_profile.py --markdown).
set -euo pipefail
{ echo "# Where the time goes (\`scripts/op_profile.py\`): each variant's latest profile per kind of CPU, from reports/<variant>/"
  for file in reports/*/op_profile-*.md; do
      label=$(basename "$file" .md); label=${label#op_profile-}
      echo; echo "## $(dirname "$file" | xargs basename) on \`$label\`: $(head -1 "$file" | sed 's/^# //')"
      tail -n +2 "$file"
  done; } > reports/op_profile.md
