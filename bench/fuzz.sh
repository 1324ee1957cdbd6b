#!/usr/bin/env bash
# Frame fuzzing bench (issue 9 item 17): malformed and valid frames generated with fast-check through
# the whole data path with every built-in extension enabled; prints frames/s, exceptions and the
# frame accounting, exits non-zero on any exception, extension fault or unbalanced count.
# No root, no network: the switch runs in-process on memory ports.
#
#   bash bench/fuzz.sh                      # 10 million frames
#   bash bench/fuzz.sh --frames 100000 --seed 7 --fresh 1
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/src/reliability/fuzz-bench.js ] || npx tsc -p .
exec node dist/src/reliability/fuzz-bench.js "$@"
