#!/bin/bash
# `make kernels`: the qemu, busybox and cpio packages `handoff run --kernel` needs, and Debian's newest
# linux-image of each series in KERNEL_SERIES (default: 6.1 and 6.12), fetched with `apt-get download` and
# unpacked into KERNEL_DIR (default .build/kernels/<release>/): vmlinuz (the package's bzImage), config, and
# vmlinux, the uncompressed kernel cut out of the bzImage. qemu boots vmlinux through its PVH entry point
# and so skips the bzImage's self-decompression, which under TCG takes ~4 s (6.12, zstd) to ~30 s (6.1, xz).
# Modules are not extracted: the guest needs none (initramfs, 8250 serial ports, no disks, no network).
set -euo pipefail
DIR=${KERNEL_DIR:-.build/kernels}
SERIES=${KERNEL_SERIES:-6.1 6.12}

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v xz >/dev/null || need+=(xz-utils)
command -v zstd >/dev/null || need+=(zstd)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The newest signed image package of a series: linux-image-6.1.0-N-amd64, linux-image-6.12.N+deb12-amd64.
newest() {
  apt-cache search --names-only "^linux-image-$1[.][0-9.+a-z-]*-amd64\$" | awk '{print $1}' \
    | grep -v -e -dbg -e -unsigned -e -rt- -e -cloud- | sed 's/^linux-image-//' | sort -V | tail -1
}

# Cuts the kernel out of a bzImage: the payload starts at the first xz or zstd magic (Debian: 6.1 xz,
# 6.12 zstd); the decompressor ignores what follows it.
extract_vmlinux() {
  local image=$1 out=$2 offset
  offset=$(grep -abo $'\xfd7zXZ\x00' "$image" | head -1 | cut -d: -f1 || true)
  if [ -n "$offset" ]; then
    tail -c +$((offset + 1)) "$image" | xz -dc > "$out.tmp" 2>/dev/null || true
  else
    offset=$(grep -abo $'\x28\xb5\x2f\xfd' "$image" | head -1 | cut -d: -f1 || true)
    [ -n "$offset" ] && { tail -c +$((offset + 1)) "$image" | zstd -dc > "$out.tmp" 2>/dev/null || true; }
  fi
  # Only an ELF is worth keeping; otherwise qemu boots the bzImage.
  if [ -s "$out.tmp" ] && [ "$(head -c 4 "$out.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
    mv "$out.tmp" "$out"
  else
    rm -f "$out.tmp"; echo "  (no vmlinux cut out of $image: qemu will boot the bzImage, slower under TCG)"
  fi
}

mkdir -p "$DIR"
for series in $SERIES; do
  release=$(newest "$series")
  [ -n "$release" ] || { echo "no linux-image package for $series in the apt lists (apt-get update?)" >&2; exit 1; }
  target=$DIR/$release
  if [ -f "$target/vmlinuz" ]; then echo "$release: cached in $target"; continue; fi
  echo "$release: fetching linux-image-$release"
  work=$(mktemp -d "${TMPDIR:-/tmp}/handoff-kernel-XXXXXX")
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -q "linux-image-$release" >/dev/null 2>&1) \
    || { echo "apt-get download linux-image-$release failed" >&2; exit 1; }
  dpkg-deb --fsys-tarfile "$work"/linux-image-*.deb | tar -x -C "$work" ./boot
  mkdir -p "$target.tmp"
  cp "$work/boot/vmlinuz-$release" "$target.tmp/vmlinuz"
  cp "$work/boot/config-$release" "$target.tmp/config"
  extract_vmlinux "$target.tmp/vmlinuz" "$target.tmp/vmlinux"
  rm -rf "$target"; mv "$target.tmp" "$target"
  rm -rf "$work"; trap - EXIT
  echo "$release: $(du -sh "$target" | cut -f1) in $target"
done
