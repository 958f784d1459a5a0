#!/bin/sh
# mmdebstrap essential hook for kvmci's Debian recipes: runs once the essential packages are
# installed, before the others (the kernel, initramfs-tools, cloud-init…).
#   $1  the root file system
# Some maintainer scripts do work that is thrown away or done again, and for another
# architecture than the host's every program they start runs under qemu-user, many times slower
# (a 2-core host building arm64 on x86-64: the times below). Until the customize hook puts them
# back, these commands do nothing, and it runs each once:
#   update-initramfs       the kernel's and initramfs-tools' own builds (every module, twice);
#                          the customize hook builds the small one that is kept (~30 s)
#   update-ca-certificates run by ca-certificates' postinst and again by its trigger, ~25 s each
#   py3compile             a Python start-up per python3-* package (~2.5 s each, 25 of them);
#                          the customize hook compiles them all in one go
# And openssh-server's postinst makes host keys only where there are none: empty files stand in
# for them (the customize hook removes every host key; kvmci gives each guest its own).
set -eu
root="$1"
for command in /usr/sbin/update-initramfs /usr/sbin/update-ca-certificates /usr/bin/py3compile; do
  chroot "$root" dpkg-divert --quiet --local --rename --divert "$command.kvmci" --add "$command"
  printf '#!/bin/sh\n# kvmci: the customize hook runs this, once\nexit 0\n' >"$root$command"
  chmod 755 "$root$command"
done
mkdir -p "$root/etc/ssh"
for type in rsa ecdsa ed25519; do
  : >"$root/etc/ssh/ssh_host_${type}_key"
done
