#!/usr/bin/env bash
# mkinitramfs.sh [--agent] KERNEL_VERSION OUT.cpio.gz — a small initramfs for
# the real-guest tests (tests/arm/guest.sh, tests/arm/guest_agent.sh): Debian's
# busybox-static, mke2fs with its libraries, the kernel modules for virtio
# disks and ext4 (Debian's kernel has them as modules), and tests/guest/init
# as /init.
#   --agent  also the QEMU guest agent: Debian's /usr/sbin/qemu-ga (package
#            qemu-guest-agent) with its libraries, the virtio_console module
#            for its virtio-serial port and tests/guest/fsfreeze-hook as
#            /etc/qemu/fsfreeze-hook; /init then starts it (see init).
set -euo pipefail
agent=0
[ "${1:-}" = --agent ] && { agent=1; shift; }
kver=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d "${TMPDIR:-/tmp}/vmrp-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,mnt,lib/modules,lib64,lib/x86_64-linux-gnu}
cp /bin/busybox "$root/bin/busybox"
apps="sh mount umount insmod mkdir cat echo sleep yes head dd sync poweroff ls seq expr test printf grep reboot sed"
[ "$agent" = 1 ] && apps="$apps ln mknod"
for app in $apps; do
  ln -s busybox "$root/bin/$app"
done
# copy_with_libs BINARY: the binary and the shared libraries it links.
copy_with_libs() {
  mkdir -p "$root$(dirname "$1")"; cp "$1" "$root$1"
  ldd "$1" | grep -o '/[^ ]*' | sort -u | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"
  done
}
# mke2fs (busybox cannot make ext4).
copy_with_libs /sbin/mke2fs
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$root/etc/"
modules="virtio_pci virtio_blk crc32c_generic ext4"
if [ "$agent" = 1 ]; then
  [ -x /usr/sbin/qemu-ga ] || { echo "mkinitramfs.sh: /usr/sbin/qemu-ga missing (qemu-guest-agent)" >&2; exit 1; }
  copy_with_libs /usr/sbin/qemu-ga
  mkdir -p "$root/etc/qemu" "$root/run"
  install -m 0755 "$here/fsfreeze-hook" "$root/etc/qemu/fsfreeze-hook"
  modules="$modules virtio_console"
fi
# Modules in dependency order (those built in are skipped by modprobe).
: > "$root/modules"
for m in $modules; do
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
