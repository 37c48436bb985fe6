#!/usr/bin/env bash
# Mutation testing of the pure core, one module after another (see stryker.config.mjs, docs/testing.md).
# Usage: tools/mutation.sh [module ...]   (default: every module)
#   STRYKER_CONCURRENCY=1|2   test processes in parallel (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f src/shared/datamodel/generated/model.ts ] || npm run --silent generate
mods=("$@")
[ ${#mods[@]} -gt 0 ] || mods=(wire rbac lifecycle sessions generator cli-args)
for m in "${mods[@]}"; do
  echo "== mutation: $m"
  STRYKER_MODULE="$m" npx stryker run stryker.config.mjs
done
