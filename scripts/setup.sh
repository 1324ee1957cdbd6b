#!/usr/bin/env bash
# scripts/setup.sh — everything xvs needs on a fresh Debian 12 machine, idempotent.
# Called by both README commands (`npm test`, `npm run lab`). Run as root (CI runs as root, no sudo).
#   1. apt packages (only when one is missing)   2. npm ci (native install scripts allowed in package.json)
#   3. the native edge (node-gyp)                4. TypeScript → dist/      5. the lab VM image
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n[setup] %s\n' "$*"; }

APT_PACKAGES=(
  libpcap-dev          # libpcap for the npm package cap (tests inject malformed frames with it)
  iproute2 ethtool kmod procps iputils-ping   # namespaces, veths, offload settings, sysctl, ping
  iperf3               # TCP through the switch (tests, lab)
  socat                # byte-exact TCP transfers in the native-edge GSO test
  tshark               # third-party decoder: pcapng, sFlow, DHCP, packet builder checks
  pmacct               # sfacctd, the sFlow collector the sflow extension is checked against
  qemu-system-x86      # the lab's and the tests' VMs
  busybox-static cpio  # the VM's initramfs
  xz-utils zstd        # the VM kernel's modules when they come compressed (.ko.xz, .ko.zst)
  python3 make g++ gcc # node-gyp; gcc also builds bench/floor (bench/sw-floor.sh, bench/hnv.sh -c floor)
  git                  # the commit `xvs --version` names (scripts/build.sh), the benches' meta data
  man-db               # man renders the generated man page (man/xvs.8) in a test
  systemd util-linux   # systemd-analyze (the unit is verified and rated), setpriv (the daemon under the unit's capabilities)
  etcd-server etcd-client   # HNV policy shared between hosts (--etcd); tests run their own etcd (etcdctl too)
  prometheus           # promtool: the metrics test checks the exposition format (xvs daemon --metrics)
  tmux                 # the `xvs top` test drives the live view in a real terminal
  vagrant shellcheck   # test/vagrant.test.ts: `vagrant validate` of vagrant/Vagrantfile, shellcheck of the scripts
  chromium             # test/dashboard.test.ts: headless Chromium (driven by playwright-core) loads the dashboard
  libvirt-daemon libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients   # test/libvirt.test.ts: Debian's libvirtd (QEMU driver) runs a domain on an xvs port; virsh
)

if [ "$(id -u)" != 0 ]; then
  echo "[setup] must run as root (it installs packages and the tests create namespaces): sudo npm test" >&2
  exit 1
fi

etcd_was_installed=no
dpkg-query -W -f='${Status}' etcd-server 2>/dev/null | grep -q 'install ok installed' && etcd_was_installed=yes
prometheus_was_installed=no
dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q 'install ok installed' && prometheus_was_installed=yes

bash scripts/apt-install.sh "${APT_PACKAGES[@]}"

# etcd-server's package enables and starts the system etcd (127.0.0.1:2379, /var/lib/etcd). xvs does
# not use it: tests start their own on free ports with a temporary data dir, and a daemon is pointed at
# a cluster with --etcd. Stop and disable it once, right after the first install (an operator who
# enables it later keeps it). invoke-rc.d and update-rc.d go through systemctl when systemd runs, and
# through the init script otherwise; either may find nothing to do (policy-rc.d denied the start).
if [ "$etcd_was_installed" = no ]; then
  say "etcd-server installed: stopping and disabling the system etcd service (xvs runs its own in tests)"
  invoke-rc.d etcd stop >/dev/null 2>&1 || true
  update-rc.d etcd disable >/dev/null 2>&1 || true
fi
# the same for the prometheus package: xvs needs only its promtool, not a Prometheus server on :9090
if [ "$prometheus_was_installed" = no ]; then
  say "prometheus installed: stopping and disabling the system Prometheus service (tests use promtool only)"
  invoke-rc.d prometheus stop >/dev/null 2>&1 || true
  update-rc.d prometheus disable >/dev/null 2>&1 || true
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci (install scripts allowed for: cap — see allowScripts in package.json)"
  npm ci --no-audit --no-fund
else
  say "node_modules up to date"
fi

say "building: native edge and TypeScript → dist/ (scripts/build.sh)"
bash scripts/build.sh

say "lab VM image (scripts/vm-image.sh)"
bash scripts/vm-image.sh

say "done"
