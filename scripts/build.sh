#!/usr/bin/env bash
# scripts/build.sh — `npm run build`: the native edge (when its sources changed) and TypeScript → dist/.
# Needs the packages setup.sh installs (g++, make, python3, libpcap-dev); does not install anything.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/Release/xvs_native.node ] || [ src/ports/native/xvs_native.c -nt build/Release/xvs_native.node ] || [ binding.gyp -nt build/Release/xvs_native.node ]; then
  bash scripts/build-native.sh
fi
rm -rf dist
npx tsc -p .
chmod +x dist/src/cli/main.js
