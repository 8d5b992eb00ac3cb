#!/usr/bin/env bash
# mkinitramfs.sh KERNEL_VERSION OUT.cpio.gz — a small initramfs for the
# real-guest test (tests/arm/guest.sh): Debian's busybox-static, mke2fs with its
# libraries, the kernel modules for virtio disks and ext4 (Debian's kernel has
# them as modules), and tests/guest/init as /init.
set -euo pipefail
kver=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d "${TMPDIR:-/tmp}/vmrp-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,mnt,lib/modules,lib64,lib/x86_64-linux-gnu}
cp /bin/busybox "$root/bin/busybox"
for app in sh mount umount insmod mkdir cat echo sleep yes head dd sync poweroff ls seq expr test printf grep reboot sed; do
  ln -s busybox "$root/bin/$app"
done
# mke2fs (busybox cannot make ext4) with the shared libraries it links.
cp /sbin/mke2fs "$root/sbin/mke2fs"
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$root/etc/"
ldd /sbin/mke2fs | grep -o '/[^ ]*' | sort -u | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"
done
# Modules in dependency order (those built in are skipped by modprobe).
: > "$root/modules"
for m in virtio_pci virtio_blk crc32c_generic ext4; do
  modprobe -S "$kver" --show-depends "$m" 2>/dev/null | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
  name=$(basename "$ko")
  case "$ko" in
    *.xz)  xz -dc "$ko" > "$root/lib/modules/${name%.xz}"; name=${name%.xz} ;;
    *.zst) zstd -qdc "$ko" > "$root/lib/modules/${name%.zst}"; name=${name%.zst} ;;
    *)     cp "$ko" "$root/lib/modules/$name" ;;
  esac
  echo "$name" >> "$root/modules"
done
install -m 0755 "$here/init" "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"
