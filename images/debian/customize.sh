#!/bin/sh
# mmdebstrap customize hook for kvmci's Debian recipes (debian-12, debian-13; x86_64, aarch64).
#   $1  the finished root file system (mmdebstrap's chroot)
#   $2  the output folder: disk.raw (file system written at 1 MiB), vmlinuz, initrd.img,
#       kernel-version; core.img and boot.img when the recipe has GRUB (grub-pc-bin, x86_64)
#   $3  the ext4 file system's size in KiB
#   $4  the disk identifier (8 hex digits) the partition UUID is derived from
#   $5  the kernel command line (without root=)
# In unshare mode mmdebstrap runs this inside its user namespace, so ownership stays right
# without real root. For another architecture than the host's, programs of the root run under
# qemu-user (binfmt_misc), many times slower: the host's own tools do what they can instead.
set -eu
root="$1" out="$2" fs_kib="$3" disk_id="$4" cmdline="$5"
step() { echo "kvmci-step: $*"; }
# Unit links only: the host's systemctl makes them without running anything of the root's.
units() {
  if command -v systemctl >/dev/null 2>&1; then
    systemctl --root="$root" "$@"
  else
    chroot "$root" systemctl "$@"
  fi
}

step "configuring the guest"
# kvmci gives each guest its own host key; keys made at build time would be shared by every
# guest (and the essential hook left empty files in their place).
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

cat > "$root/etc/cloud/cloud.cfg.d/90-kvmci.cfg" <<'CFG'
# Only NoCloud: probing other datasources costs seconds under emulation.
datasource_list: [NoCloud, None]
# kvmci injects an ed25519 host key per run; generating RSA keys costs ~20 s under emulation.
ssh_genkeytypes: []
# The modules a test guest needs. Left out on purpose: locale (fails on a minimal image),
# apt and package updates, timezone, ntp, keyboard, grub-dpkg.
# The usual config-stage modules run in the final stage instead: every stage is a Python
# start-up, several seconds under emulation (cloud-init before 24.3; see below).
# Also left out: growpart and resizefs (kvmci-grow-root below does it, only when the disk is
# larger), and set_passwords (SSH takes keys only, see below; it also restarted sshd mid-boot).
cloud_init_modules: [seed_random, bootcmd, write_files, set_hostname, update_hostname, update_etc_hosts, users_groups, ssh]
cloud_config_modules: []
cloud_final_modules: [runcmd, package_update_upgrade_install, scripts_per_once, scripts_per_boot, scripts_per_instance, scripts_user, final_message]
CFG

# Before cloud-init 24.3 (Debian 12) each stage is a service and a Python start-up of its own;
# from 24.3 (Debian 13) one process, cloud-init-main, runs every stage and waits for each stage's
# service. What follows for the older one was measured there only: on Debian 13 the same
# changes left sshd unable to start (CI, 2026-12-02).
before_24_3=yes
for dir in usr/lib lib; do
  if [ -e "$root/$dir/systemd/system/cloud-init-main.service" ]; then before_24_3=; fi
done

if [ -n "$before_24_3" ]; then
  # The image's own DHCP network (80-kvmci-dhcp.network below) is all a guest needs. Applying
  # cloud-init's copy of it rewrote nothing and restarted systemd-networkd and systemd-resolved
  # in the middle of the boot: 3.3 s of a cold boot under emulation.
  echo "network: {config: disabled}" > "$root/etc/cloud/cloud.cfg.d/91-kvmci-network.cfg"
  # ds-identify, which cloud-init's systemd generator runs before any unit starts, only confirms
  # the one datasource listed above: 1.7 s of shell under emulation, on the boot's critical
  # path. This generator treats a ds-identify that is not executable as "found"; the override
  # keeps it so through package upgrades.
  generator="$root/usr/lib/systemd/system-generators/cloud-init-generator"
  # shellcheck disable=SC2016 # the generator's own text, $ included
  if grep -q '\[ ! -x "\$dsidentify" \]' "$generator" 2>/dev/null &&
    [ -e "$root/usr/lib/cloud-init/ds-identify" ]; then
    echo "root root 0644 /usr/lib/cloud-init/ds-identify" >> "$root/var/lib/dpkg/statoverride"
    chmod 0644 "$root/usr/lib/cloud-init/ds-identify"
  fi
fi

# The root file system grows to a disk larger than the image (`kvmci run --disk`). cloud-init's
# growpart and resizefs cost two seconds of Python under emulation on every first boot, even
# when there is nothing to grow; this checks the sizes in the shell and starts programs only
# when there is. The image's one partition is the first disk's first (vda1).
cat > "$root/usr/local/sbin/kvmci-grow-root" <<'GROW'
#!/bin/sh
set -eu
part=/sys/block/vda/vda1
[ -e "$part/start" ] || exit 0
read -r total </sys/block/vda/size
read -r start <"$part/start"
read -r size <"$part/size"
# At least 1 MiB (2048 sectors) after the partition: else nothing to do.
[ $((start + size + 2048)) -le "$total" ] || exit 0
growpart /dev/vda 1
resize2fs /dev/vda1
GROW
chmod 0755 "$root/usr/local/sbin/kvmci-grow-root"
cat > "$root/etc/systemd/system/kvmci-grow-root.service" <<'UNIT'
[Unit]
Description=Grow the root file system to the disk (kvmci)
DefaultDependencies=no
After=local-fs.target
Before=sysinit.target cloud-init.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/kvmci-grow-root

[Install]
WantedBy=sysinit.target
UNIT

# Keys only, whatever the user-data says: a throwaway guest has no passwords worth guessing.
cat > "$root/etc/ssh/sshd_config.d/10-kvmci.conf" <<'SSHD'
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
SSHD
# Before OpenSSH 9.8 sshd re-executes itself for every connection: a third of a second of an
# emulated guest's time before it even says hello, on every SSH connection kvmci makes. `-r`
# keeps the listening process's copy (from 9.8 on each connection starts sshd-session instead).
if [ ! -e "$root/usr/lib/openssh/sshd-session" ] && [ -e "$root/etc/default/ssh" ]; then
  sed -i 's/^SSHD_OPTS=$/SSHD_OPTS=-r/' "$root/etc/default/ssh"
fi

# The artifacts disk (serial kvmci-artifacts) takes the guest's artifacts archive at the end of a
# run: writable by the guest's user, its pack needs no sudo (a third of a second under
# emulation). The guest is untrusted either way: the host checks what it reads from the disk.
cat > "$root/etc/udev/rules.d/70-kvmci-artifacts.rules" <<'RULES'
KERNEL=="vd*[!0-9]", ENV{ID_SERIAL}=="kvmci-artifacts", MODE="0666"
RULES

# A DHCP network that works on the first boot even if cloud-init's rendering is skipped.
cat > "$root/etc/systemd/network/80-kvmci-dhcp.network" <<'NET'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
NET
# Waiting for every link delays boot for links nobody uses.
mkdir -p "$root/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat > "$root/etc/systemd/system/systemd-networkd-wait-online.service.d/kvmci.conf" <<'WAIT'
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=60
WAIT
units enable systemd-networkd.service systemd-resolved.service kvmci-grow-root.service >/dev/null 2>&1
# Periodic jobs only compete with the test for two emulated CPUs.
units mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer >/dev/null 2>&1 || true
# Jobs that only compete with boot for the CPUs.
units mask e2scrub_reap.service systemd-binfmt.service >/dev/null 2>&1 || true
# Before cloud-init 24.3 two stages have nothing to do here (4-6 s of an emulated CPU each): the
# config stage, and the local stage, which finds the seed before the network is up in order to
# write its network configuration. The network stage finds the same seed (NoCloud) itself, and
# the DHCP network above needs no rendering. From 24.3, masking one makes the boot hang.
if [ -n "$before_24_3" ]; then
  units mask cloud-config.service cloud-init-local.service >/dev/null 2>&1 || true
  # Conditions on cloud-init's script folders (per-once, per-boot, per-instance), which a
  # provisioning may have left scripts in: `|` for a unit that runs while any holds one, `!` for
  # one that runs only while none does. While one does, cloud-init's stages all run as usual.
  script_conditions() {
    for folder in per-once per-boot per-instance; do
      echo "ConditionDirectoryNotEmpty=$1/var/lib/cloud/scripts/$folder"
    done
  }
  # The final stage is six seconds of Python start-up under emulation for half a second of work,
  # and with kvmci's own user-data (nothing to run, no packages) it has no work at all. kvmci
  # then boots with kvmci.cloud-final=skip on the kernel command line, and this unit writes what
  # the stage writes at its end (result.json, so `cloud-init status` says done, and
  # boot-finished). Scripts a provisioning left in cloud-init's per-once, per-boot or
  # per-instance folders still run: the final stage runs whenever one of them holds anything.
  mkdir -p "$root/etc/systemd/system/cloud-final.service.d"
  cat > "$root/etc/systemd/system/cloud-final.service.d/kvmci.conf" <<UNIT
[Unit]
ConditionKernelCommandLine=|!kvmci.cloud-final=skip
$(script_conditions '|')
UNIT
  cat > "$root/usr/local/sbin/kvmci-cloud-final-skipped" <<'FINAL'
#!/usr/bin/python3
# cloud-init's final stage had nothing to do and did not run (kvmci.cloud-final=skip): write
# what it writes at its end, with the errors of the stages that ran.
import json
import os
import time

run = "/run/cloud-init"
try:
    with open(f"{run}/status.json") as f:
        v1 = json.load(f)["v1"]
    errors = [e for s in v1.values() if isinstance(s, dict) for e in s.get("errors") or []]
    datasource = v1.get("datasource")
except (OSError, ValueError, KeyError, AttributeError) as e:
    errors, datasource = [f"kvmci: cloud-init's status.json is unreadable: {e}"], None
with open(f"{run}/result.json.kvmci", "w") as f:
    json.dump({"v1": {"datasource": datasource, "errors": errors}}, f, indent=1)
os.replace(f"{run}/result.json.kvmci", f"{run}/result.json")
with open("/proc/uptime") as f:
    uptime = f.read().split()[0]
stamp = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
# Not made when missing (kvmci's first boot ran instead of cloud-init): cloud-init links it to
# the instance's folder on a later boot of this disk, and cannot replace a folder.
if os.path.isdir("/var/lib/cloud/instance"):
    with open("/var/lib/cloud/instance/boot-finished", "w") as f:
        f.write(f"{uptime} - {stamp} - v. kvmci (final stage skipped)\n")
FINAL
  chmod 0755 "$root/usr/local/sbin/kvmci-cloud-final-skipped"
  cat > "$root/etc/systemd/system/kvmci-cloud-final-skipped.service" <<UNIT
[Unit]
Description=cloud-init's final stage, skipped: its result (kvmci)
After=cloud-init.service kvmci-first-boot.service multi-user.target
ConditionKernelCommandLine=kvmci.cloud-final=skip
$(script_conditions '!')

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/kvmci-cloud-final-skipped

[Install]
WantedBy=cloud-init.target
UNIT
  units enable kvmci-cloud-final-skipped.service >/dev/null 2>&1
  # The network stage is ~10 s of a cold boot under emulation (its Python start-up, then the
  # seed found, the user made, the keys written) for kvmci's own cloud-config. kvmci puts a shell
  # script doing the same in the seed, and kvmci.first-boot=shell on the kernel command line,
  # when the cloud-config has nothing else (src/cloud-init/first-boot.ts): this unit runs the
  # script, and cloud-init's stage is skipped. Guests whose provisioning left cloud-init scripts
  # keep cloud-init, as for the final stage.
  # One shell mounts the seed, runs the script in itself and unmounts it: each program started
  # is tens of milliseconds under emulation.
  cat > "$root/etc/systemd/system/kvmci-first-boot.service" <<UNIT
[Unit]
Description=kvmci's first boot: user, keys, host name (in place of cloud-init's network stage)
DefaultDependencies=no
ConditionKernelCommandLine=kvmci.first-boot=shell
$(script_conditions '!')
Wants=dev-disk-by\x2dlabel-cidata.device
After=dev-disk-by\x2dlabel-cidata.device systemd-remount-fs.service local-fs.target kvmci-grow-root.service
Before=sysinit.target ssh.service sshd.service systemd-user-sessions.service cloud-init.service

[Service]
Type=oneshot
RemainAfterExit=yes
RuntimeDirectory=kvmci-seed
ExecStart=/bin/sh -c 'mount -t iso9660 -o ro /dev/disk/by-label/cidata /run/kvmci-seed && . /run/kvmci-seed/kvmci-first-boot; umount /run/kvmci-seed'
StandardOutput=journal+console

[Install]
WantedBy=sysinit.target
UNIT
  units enable kvmci-first-boot.service >/dev/null 2>&1
  # The seed's file system, loaded early by systemd-modules-load (in-process, beside the other
  # early units) rather than by the kernel starting modprobe when the seed is mounted.
  echo isofs > "$root/etc/modules-load.d/kvmci-seed.conf"
  mkdir -p "$root/etc/systemd/system/cloud-init.service.d"
  cat > "$root/etc/systemd/system/cloud-init.service.d/kvmci.conf" <<UNIT
[Unit]
ConditionKernelCommandLine=|!kvmci.first-boot=shell
$(script_conditions '|')
UNIT
  # The network stage reads its seed from a local disk (NoCloud): it need not wait for the DHCP
  # lease (systemd-networkd-wait-online), only for systemd-networkd to have started, and its
  # seconds of Python start-up run beside the rest of networkd's start.
  unit="$root/lib/systemd/system/cloud-init.service"
  if [ -e "$unit" ] && grep -q '^After=systemd-networkd-wait-online.service$' "$unit"; then
    sed 's/^After=systemd-networkd-wait-online.service$/After=systemd-networkd.service/' "$unit" \
      >"$root/etc/systemd/system/cloud-init.service"
  fi
fi

# The essential hook made these commands no-ops while packages were installed: put them back,
# then run each once.
for command in /usr/sbin/update-initramfs /usr/sbin/update-ca-certificates /usr/bin/py3compile; do
  rm -f "$root$command"
  chroot "$root" dpkg-divert --quiet --local --rename --divert "$command.kvmci" --remove "$command"
done

if [ -e "$root/usr/sbin/update-ca-certificates" ]; then
  step "collecting the CA certificates"
  chroot "$root" update-ca-certificates --fresh >/dev/null
fi

if [ -e "$root/usr/bin/py3compile" ]; then
  step "compiling Python modules"
  # What the python3-* packages' py3compile calls would have compiled. Bytecode does not depend
  # on the architecture, only on Python's own magic number: when the host's Python has the
  # guest's, it compiles natively, else the guest's Python does (one start-up, not 25).
  # Timestamp-checked files, as Debian's own, whatever SOURCE_DATE_EPOCH says.
  magic() {
    sed -n 's/^MAGIC_NUMBER = (\([0-9][0-9]*\)).to_bytes.*/\1/p' "$1/importlib/_bootstrap_external.py" 2>/dev/null
  }
  guest_magic=$(magic "$(ls -d "$root"/usr/lib/python3.[0-9]* | sort -V | tail -n 1)")
  host_lib=$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))' 2>/dev/null) || host_lib=
  dirs=
  for dir in /usr/lib/python3/dist-packages /usr/share/python3; do
    if [ -d "$root$dir" ]; then dirs="$dirs $dir"; fi
  done
  if [ -n "$guest_magic" ] && [ -n "$host_lib" ] && [ "$guest_magic" = "$(magic "$host_lib")" ]; then
    for dir in $dirs; do
      python3 -m compileall -q -j 0 --invalidation-mode timestamp -s "$root" -p / "$root$dir" >/dev/null
    done
  else
    # shellcheck disable=SC2086 # the folders, one word each
    chroot "$root" python3 -m compileall -q --invalidation-mode timestamp $dirs >/dev/null
  fi
fi

step "making the initramfs"
kernel=$(cd "$root/boot" && ls vmlinuz-* | sort -V | tail -n 1)
version=${kernel#vmlinuz-}
# Only what a QEMU guest needs to find its root disk: a smaller file to load and less for udev
# to do on every boot.
printf 'MODULES=list\n' > "$root/etc/initramfs-tools/conf.d/kvmci.conf"
printf 'virtio_pci\nvirtio_blk\nvirtio_scsi\nsd_mod\n' >> "$root/etc/initramfs-tools/modules"
chroot "$root" update-initramfs -c -k "$version" >/dev/null

echo "PARTUUID=${disk_id}-01 / ext4 rw,discard,errors=remount-ro 0 1" > "$root/etc/fstab"
cp "$root/boot/vmlinuz-$version" "$out/vmlinuz"
cp "$root/boot/initrd.img-$version" "$out/initrd.img"
echo "$version" > "$out/kernel-version"

if [ -d "$root/usr/lib/grub/i386-pc" ]; then
  step "making the bootloader"
  mkdir -p "$root/boot/grub"
  cat > "$root/boot/grub/grub.cfg" <<GRUB
set timeout=0
linux /boot/vmlinuz-$version root=PARTUUID=${disk_id}-01 $cmdline
initrd /boot/initrd.img-$version
boot
GRUB
  # The core image finds its own partition and reads grub.cfg from it, as grub-install would
  # arrange; we embed it by hand so that no loop device (and no root) is needed.
  cat > "$root/tmp/kvmci-early.cfg" <<'EARLY'
set root=(hd0,msdos1)
set prefix=($root)/boot/grub
configfile $prefix/grub.cfg
EARLY
  chroot "$root" grub-mkimage -O i386-pc -o /tmp/kvmci-core.img -c /tmp/kvmci-early.cfg \
    -p '(hd0,msdos1)/boot/grub' biosdisk part_msdos ext2 linux normal configfile echo test
  cp "$root/tmp/kvmci-core.img" "$out/core.img"
  cp "$root/usr/lib/grub/i386-pc/boot.img" "$out/boot.img"
  rm -f "$root/tmp/kvmci-core.img" "$root/tmp/kvmci-early.cfg"
fi

step "making the file system"
# mmdebstrap still has /dev, /proc and /sys mounted in the root; copy without them first.
# Device nodes are left out: systemd mounts devtmpfs over /dev at boot, and in unshare mode they
# could not be created anyway.
staging="$out/staging"
mkdir "$staging"
# In unshare mode only this namespace can delete what it wrote: clean up here on every exit.
trap 'rm -rf "$staging"' EXIT
tar -C "$root" --one-file-system --exclude='./dev/*' --exclude='./var/cache/apt/archives/*.deb' -cf - . | tar -C "$staging" -xpf -
rm -rf "$staging"/var/lib/apt/lists/* "$staging"/var/log/*.log
# The partition starts at 1 MiB; kvmci writes the partition table (and GRUB) in front of it.
mke2fs -q -t ext4 -L root -E offset=1048576 -d "$staging" "$out/disk.raw" "${fs_kib}k"
rm -rf "$staging"
