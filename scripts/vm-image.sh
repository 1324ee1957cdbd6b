#!/usr/bin/env bash
# Build the xvs test-VM image: a Debian cloud kernel plus a busybox initramfs.
#
#   .lab/vm/vmlinuz     the kernel of the current linux-image-*-cloud-amd64 package
#   .lab/vm/initrd.gz   busybox-static + the virtio-net modules + vm/init + vm/scripts/*
#                       + the host's ethtool with its shared libraries (busybox has none: the guest
#                       multi-queue test sets channels with `ethtool -L` and reads `ethtool -S`)
#   .lab/vm/VERSION     the kernel package the image was built from
#
# Idempotent: does nothing when the outputs exist and are newer than their inputs
# (this script, scripts/vm/**). FORCE=1 rebuilds. Needs: apt-get, dpkg-deb, cpio,
# gzip, busybox-static, ethtool (Debian packages). Runs as a normal user too (no root needed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/scripts/vm"
OUT="${XVS_VM_DIR:-$ROOT/.lab/vm}"
WORK="$OUT/work"
META_PKG="linux-image-cloud-amd64"
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net"

log() { printf 'vm-image: %s\n' "$*"; }
die() { printf 'vm-image: ERROR: %s\n' "$*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg-deb cpio gzip find ldd ethtool; do
  command -v "$tool" >/dev/null 2>&1 || die "missing tool '$tool'"
done
BUSYBOX=""
for b in /usr/bin/busybox /bin/busybox; do
  if [ -x "$b" ]; then BUSYBOX="$b"; break; fi
done
[ -n "$BUSYBOX" ] || die "busybox not found: apt-get install busybox-static"
if command -v ldd >/dev/null 2>&1 && ldd "$BUSYBOX" >/dev/null 2>&1; then
  die "$BUSYBOX is dynamically linked: apt-get install busybox-static"
fi

mkdir -p "$OUT"

# --- up to date? -------------------------------------------------------------
newest_input="$(find "$0" "$SRC" -type f -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2-)"
if [ "${FORCE:-0}" != 1 ] && [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd.gz" ] \
   && [ "$OUT/initrd.gz" -nt "$newest_input" ] && [ "$OUT/vmlinuz" -nt "$newest_input" ]; then
  log "up to date: $OUT/vmlinuz $OUT/initrd.gz ($(cat "$OUT/VERSION" 2>/dev/null || echo '?'))"
  exit 0
fi

# --- kernel package ----------------------------------------------------------
PKG="$(apt-cache depends "$META_PKG" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
if [ -z "$PKG" ]; then
  log "package lists do not know $META_PKG; running apt-get update"
  apt-get update -qq || die "apt-get update failed (are you root?)"
  PKG="$(apt-cache depends "$META_PKG" | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
fi
[ -n "$PKG" ] || die "cannot resolve the versioned package behind $META_PKG"
KVER="${PKG#linux-image-}"
log "kernel package: $PKG (kernel $KVER)"

mkdir -p "$WORK"
DEB="$(ls "$WORK"/"${PKG}"_*.deb 2>/dev/null | head -1 || true)"
if [ -z "$DEB" ]; then
  log "apt-get download $PKG -> $WORK"
  # (as root apt warns that it downloads "unsandboxed" into a root-owned dir: harmless, filtered)
  (cd "$WORK" && apt-get download -q "$PKG" 2>&1 | grep -v 'unsandboxed' || true)
  DEB="$(ls "$WORK"/"${PKG}"_*.deb 2>/dev/null | head -1 || true)"
  [ -n "$DEB" ] || die "apt-get download $PKG produced no .deb"
else
  log "reusing $DEB"
fi

KX="$WORK/kernel-x"
if [ ! -d "$KX/lib/modules/$KVER" ] || [ "$KX" -ot "$DEB" ]; then
  log "dpkg-deb -x $(basename "$DEB")"
  rm -rf "$KX"
  mkdir -p "$KX"
  dpkg-deb -x "$DEB" "$KX"
  touch "$KX"
fi
[ -f "$KX/boot/vmlinuz-$KVER" ] || die "no boot/vmlinuz-$KVER in $DEB"

# --- initramfs tree ----------------------------------------------------------
TREE="$WORK/initramfs"
log "assembling initramfs tree in $TREE"
rm -rf "$TREE"
mkdir -p "$TREE"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,root,lib/modules,xvs/scripts,www}
cp "$BUSYBOX" "$TREE/bin/busybox"
chmod 0755 "$TREE/bin/busybox"
# The init script installs all applet links itself (busybox --install -s); sh is needed first.
ln -s busybox "$TREE/bin/sh"

MODDIR="$KX/lib/modules/$KVER"
for m in $MODULES; do
  f="$(find "$MODDIR/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -1)"
  [ -n "$f" ] || die "module $m not found under $MODDIR"
  case "$f" in
    *.ko.xz)  xz -dc "$f" >"$TREE/lib/modules/$m.ko" ;;
    *.ko.zst) command -v zstd >/dev/null || die "zstd needed to unpack $f (apt-get install zstd)"; zstd -qdc "$f" >"$TREE/lib/modules/$m.ko" ;;
    *.ko.gz)  gzip -dc "$f" >"$TREE/lib/modules/$m.ko" ;;
    *)        cp "$f" "$TREE/lib/modules/$m.ko" ;;
  esac
  log "  module $m <- ${f#"$MODDIR"/}"
done
echo "$MODULES" >"$TREE/lib/modules/ORDER"

# ethtool (dynamically linked) with the libraries ldd names, at the same paths: the guest's glibc
# loader finds them in its built-in directories (no ld.so.cache needed)
ETHTOOL="$(command -v ethtool)"
cp "$ETHTOOL" "$TREE/sbin/ethtool"
for lib in $(ldd "$ETHTOOL" | grep -o '/[^ ]*'); do
  mkdir -p "$TREE$(dirname "$lib")"
  cp -L "$lib" "$TREE$lib"
done
log "  ethtool $("$ETHTOOL" --version | awk '{print $3}') + $(ldd "$ETHTOOL" | grep -c '/') libraries"

cp "$SRC/init" "$TREE/init"
chmod 0755 "$TREE/init"
cp "$SRC/lib.sh" "$TREE/xvs/lib.sh"
for s in "$SRC"/scripts/*; do
  cp "$s" "$TREE/xvs/scripts/"
  chmod 0755 "$TREE/xvs/scripts/$(basename "$s")"
done
log "  scripts: $(ls "$TREE/xvs/scripts" | tr '\n' ' ')"
echo "root:x:0:0:root:/root:/bin/sh" >"$TREE/etc/passwd"
echo "root:x:0:" >"$TREE/etc/group"
echo "$PKG" >"$TREE/etc/xvs-kernel"

# --- outputs -----------------------------------------------------------------
log "writing $OUT/initrd.gz"
(cd "$TREE" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --quiet) | gzip -9 >"$OUT/initrd.gz.tmp"
mv "$OUT/initrd.gz.tmp" "$OUT/initrd.gz"
log "writing $OUT/vmlinuz"
cp "$KX/boot/vmlinuz-$KVER" "$OUT/vmlinuz.tmp"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
echo "$PKG" >"$OUT/VERSION"
rm -rf "$KX" "$TREE"   # keep only the .deb in $WORK (the unpacked kernel is ~100 MB)
log "done: $(du -h "$OUT/vmlinuz" | cut -f1) vmlinuz, $(du -h "$OUT/initrd.gz" | cut -f1) initrd.gz ($PKG)"
