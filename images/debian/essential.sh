#!/bin/sh
# mmdebstrap essential hook for kvmci's Debian recipes: runs once the essential packages are
# installed, before the others (the kernel, initramfs-tools, cloud-init…).
#   $1  the root file system
# Installing the kernel builds an initramfs with every module, and initramfs-tools' trigger
# builds it again; the customize hook builds the small one that is kept. For another
# architecture than the host's each build runs under qemu-user and takes a minute or more, so
# update-initramfs is a no-op until the customize hook puts it back.
set -eu
root="$1"
chroot "$root" dpkg-divert --quiet --local --rename \
  --divert /usr/sbin/update-initramfs.kvmci --add /usr/sbin/update-initramfs
printf '#!/bin/sh\n# kvmci: the customize hook builds the initramfs, once\nexit 0\n' \
  >"$root/usr/sbin/update-initramfs"
chmod 755 "$root/usr/sbin/update-initramfs"
