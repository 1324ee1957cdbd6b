#!/usr/bin/env bash
# scripts/apt-install.sh PACKAGE... — install those Debian packages that are not installed yet,
# non-interactively. Run as root. Used by scripts/setup.sh (what xvs needs) and bench/run.sh (the
# benchmark peers' tools).
set -euo pipefail
say() { printf '\n[setup] %s\n' "$*"; }
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  say "apt packages present ($#)"
  exit 0
fi
say "apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer "no" without a prompt
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
