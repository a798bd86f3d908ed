#!/usr/bin/env bash
# Runs every ava test and ends with one plain summary line (`ava: N passed, N failed, N skipped`)
# that CI logs can be read by. Extra arguments go to ava (e.g. a file glob).
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
ava --tap "$@" | tee "$out"
status=${PIPESTATUS[0]}
pass=$(grep -Ec '^ok ' "$out" || true)
fail=$(grep -Ec '^not ok ' "$out" || true)
skip=$(grep -Ec '^ok .*# SKIP' "$out" || true)
rm -f "$out"
# A crash or a timeout can leave no "not ok" line: count it as a failure all the same.
if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; echo "ava exited with status $status"; fi
echo "ava: $((pass - skip)) passed, $fail failed, $skip skipped"
if [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then echo "ava ran no test"; exit 1; fi
exit "$status"
