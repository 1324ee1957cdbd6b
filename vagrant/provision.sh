#!/usr/bin/env bash
# vagrant/provision.sh HOST_INDEX [UPLINK] — turns one Vagrant box into HNV host HOST_INDEX (0 or 1).
# Run by the Vagrantfile as root inside each box, with the repository rsynced to /xvs (XVS_DIR).
#   1. Node.js 20 from NodeSource (Debian 12's own nodejs is 18, too old for xvs: engines node >= 20),
#      configured as on the development machine (deb822 source node_20.x, pinned); the build tools
#   2. xvs from the repository: npm ci, scripts/build.sh, `npm install -g --prefix /usr` (/usr/bin/xvs)
#   3. the xvs service (systemd/xvs.service), started with an empty configuration
#   4. this host's HNV part, by the entry point the two-host lab runs for each of its namespace hosts
#      (src/lab/hnv-host.ts): namespace VMs, external switch "hnv" on the uplink, Provider Address,
#      VM ports with their VSIDs, the lookup records of both hosts; host 1 then pings host 0's VMs
# UPLINK defaults to the box's only NIC without the default route (the private network's, eth1).
set -euo pipefail
host=${1:?usage: provision.sh HOST_INDEX [UPLINK]}
uplink=${2:-}
xvs_dir=${XVS_DIR:-/xvs}
say() { printf '\n[provision host %s] %s\n' "$host" "$*"; }

case "$host" in
  0 | 1) ;;
  *) echo "provision.sh: HOST_INDEX must be 0 or 1, got '$host'" >&2; exit 2 ;;
esac
if [ "$(id -u)" != 0 ]; then
  echo "provision.sh: run as root (the Vagrantfile's shell provisioner does)" >&2
  exit 1
fi
cd "$xvs_dir"

say "packages: Node.js 20 (NodeSource) and the build tools"
nodesource_list=/etc/apt/sources.list.d/nodesource.sources
if [ ! -f "$nodesource_list" ]; then
  bash scripts/apt-install.sh ca-certificates curl gnupg
  curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key | gpg --dearmor --yes -o /usr/share/keyrings/nodesource.gpg
  cat > "$nodesource_list" <<SOURCES
Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
Architectures: $(dpkg --print-architecture)
Signed-By: /usr/share/keyrings/nodesource.gpg
SOURCES
  # NodeSource's nodejs (it carries npm and the headers node-gyp builds against) wins over Debian's
  printf 'Package: nodejs\nPin: origin deb.nodesource.com\nPin-Priority: 600\n' > /etc/apt/preferences.d/nodesource
  apt-get update -q
fi
bash scripts/apt-install.sh nodejs python3 make g++ libpcap-dev iproute2 iputils-ping procps
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "provision.sh: Node.js $(node --version) is too old (xvs needs >= 20; is Debian's nodejs installed instead of NodeSource's?)" >&2
  exit 1
fi

say "xvs from $xvs_dir: npm ci, build, npm install -g (Node.js $(node --version))"
npm ci --no-audit --no-fund
bash scripts/build.sh
npm install -g --prefix /usr --no-audit --no-fund "$xvs_dir"
xvs --version

say "the xvs service (systemd/xvs.service), from an empty configuration"
systemctl stop xvs.service 2>/dev/null || true
rm -f /var/lib/xvs/config.json
install -m 0644 systemd/xvs.service /etc/systemd/system/xvs.service
systemctl daemon-reload
systemctl enable --now xvs.service
xvs daemon status

if [ -z "$uplink" ]; then
  default_dev=$(ip -o route show default | awk '{ print $5; exit }')
  nics=()
  for dev in /sys/class/net/*; do
    name=${dev##*/}
    # a NIC has a device behind it (veths, TAPs and bridges have none)
    if [ -e "$dev/device" ] && [ "$name" != "$default_dev" ]; then nics+=("$name"); fi
  done
  if [ ${#nics[@]} -ne 1 ]; then
    echo "provision.sh: expected one NIC besides $default_dev for the uplink, found: ${nics[*]:-none}; pass UPLINK" >&2
    exit 1
  fi
  uplink=${nics[0]}
fi

say "HNV host $host on uplink $uplink (src/lab/hnv-host.ts, as the lab runs it)"
ping_args=()
# host 1 comes up second (or in parallel with libvirt): it waits for host 0's VMs to answer
if [ "$host" = 1 ]; then ping_args=(--ping 600); fi
node dist/src/lab/hnv-host.js --host "$host" --uplink "$uplink" "${ping_args[@]}"

say "xvs hnv show"
xvs hnv show
