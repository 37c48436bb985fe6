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
# --test-force-exit: a test file whose tests are done exits even if a handle (a daemon a failed
# hook did not stop) is still open; the helpers kill their daemons on exit. The watchdog bounds
# the whole run so that a hang fails with output instead of running into CI's time limit.
exec timeout --kill-after=30s "${BERTH_TEST_WATCHDOG:-60m}" \
  node --import tsx --test --test-force-exit --test-concurrency="${TEST_CONCURRENCY:-1}" "${files[@]}"
