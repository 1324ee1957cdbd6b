#!/usr/bin/env bash
# Build the xvs native edge (N-API addon) into build/Release/xvs_native.node.
# --nodedir=/usr: Debian keeps Node's headers in /usr/include/node, so node-gyp needs no download.
set -e
cd "$(dirname "$0")/.."
echo "+ npx node-gyp rebuild --nodedir=/usr"
npx node-gyp rebuild --nodedir=/usr
echo "built: $(pwd)/build/Release/xvs_native.node"
