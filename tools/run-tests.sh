#!/usr/bin/env bash
# Runs test files with Node's test runner through tsx (no build step needed).
# Usage: tools/run-tests.sh [dir-or-file ...]   (default: the whole test/ tree)
set -euo pipefail
cd "$(dirname "$0")/.."
roots=("$@"); [ ${#roots[@]} -gt 0 ] || roots=(test)
mapfile -t files < <(find "${roots[@]}" -name '*.test.ts' | sort)
[ ${#files[@]} -gt 0 ] || { echo "no test files under ${roots[*]}"; exit 1; }
exec node --import tsx --test --test-concurrency="${TEST_CONCURRENCY:-1}" "${files[@]}"
