#!/usr/bin/env bash
# scripts/build.sh — `npm run build`: the native edge (when its sources changed) and TypeScript → dist/.
# Needs the packages setup.sh installs (g++, make, python3, libpcap-dev); does not install anything.
set -euo pipefail
cd "$(dirname "$0")/.."
# rebuilt when the addon is missing or older than binding.gyp or any C source it lists
native_sources=$(grep -o '"src/[^"]*\.c"' binding.gyp | tr -d '"')
stale=no
[ -f build/Release/xvs_native.node ] || stale=yes
for f in binding.gyp $native_sources; do if [ "$f" -nt build/Release/xvs_native.node ]; then stale=yes; fi; done
if [ "$stale" = yes ]; then
  bash scripts/build-native.sh
fi
rm -rf dist
npx tsc -p .
chmod +x dist/src/cli/main.js
# `xvs --version` says which commit it was built from (a package built from a tarball has none: "unknown")
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && ! git diff --quiet HEAD -- src 2>/dev/null; then commit="$commit+modified"; fi
printf '{ "commit": "%s" }\n' "$commit" > dist/build-info.json
