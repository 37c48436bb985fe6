#!/usr/bin/env bash
# Runs test files with Node's test runner through tsx (no build step needed).
# Usage: tools/run-tests.sh [dir-or-file ...]   (default: the whole test/ tree)
set -euo pipefail
cd "$(dirname "$0")/.."
# A CI run must never rewrite golden files (test/helpers/golden.ts refuses too, per test).
case "${CI:-}" in ''|0|false) ;; *)
  case "${UPDATE_GOLDEN:-}" in ''|0|false) ;; *)
    echo "UPDATE_GOLDEN is refused under CI (CI=$CI): update goldens on a developer machine" >&2; exit 2 ;;
  esac ;;
esac
roots=("$@"); [ ${#roots[@]} -gt 0 ] || roots=(test)
mapfile -t files < <(find "${roots[@]}" -name '*.test.ts' | sort)
[ ${#files[@]} -gt 0 ] || { echo "no test files under ${roots[*]}"; exit 1; }
exec node --import tsx --test --test-concurrency="${TEST_CONCURRENCY:-1}" "${files[@]}"
