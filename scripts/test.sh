#!/usr/bin/env bash
# scripts/test.sh — run every ava test (unit, integration on namespaces, QEMU VM) and end with
# one line "N passed, N failed" (ava's counts) so a run that executed nothing is visible.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
log=$(mktemp /tmp/xvs-test.XXXXXX)
npx ava "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
passed=$(grep -Eo '^ *[0-9]+ tests? passed' "$log" | grep -Eo '[0-9]+' | tail -1)
failed=$(grep -Eo '^ *[0-9]+ tests? failed' "$log" | grep -Eo '[0-9]+' | tail -1)
uncaught=$(grep -Eo '^ *[0-9]+ uncaught exceptions?' "$log" | grep -Eo '[0-9]+' | tail -1)
# ava prints only "N tests passed" when all pass, and "✔ …" lines per test; count those as a fallback
[ -n "$passed" ] || passed=$(grep -c '^ *✔' "$log")
[ -n "$failed" ] || failed=$(grep -c '^ *✘' "$log")
failed=$((failed + ${uncaught:-0}))
rm -f "$log"
[ "$rc" = 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "${passed} passed, ${failed} failed"
exit "$rc"
