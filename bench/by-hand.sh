#!/usr/bin/env bash
# The baseline for `npm run bench`: what a person writes by hand to run `true` in a throwaway
# guest from the same image, the usual way: qcow2 overlay, a genisoimage seed with default
# cloud-init host key generation, boot through the firmware, poll SSH until it answers, wait
# for cloud-init, run the command, stop QEMU.
#   by-hand.sh IMAGE_DISK ACCEL(kvm|tcg)
set -euo pipefail
disk=$1 accel=$2
work=$(mktemp -d)
qemu_pid=
cleanup() { [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

qemu-img create -q -f qcow2 -F qcow2 -b "$disk" "$work/overlay.qcow2"
ssh-keygen -q -t ed25519 -N '' -f "$work/key"
cat > "$work/user-data" <<UD
#cloud-config
users:
  - name: debian
    sudo: ALL=(ALL) NOPASSWD:ALL
    shell: /bin/bash
    ssh_authorized_keys: [$(cat "$work/key.pub")]
ssh_genkeytypes: [rsa, ecdsa, ed25519]
UD
printf 'instance-id: by-hand\nlocal-hostname: by-hand\n' > "$work/meta-data"
genisoimage -quiet -output "$work/seed.iso" -volid cidata -joliet -rock "$work/user-data" "$work/meta-data"

port=$(( 20000 + RANDOM % 20000 ))
if [ "$accel" = kvm ]; then cpu=(-accel kvm -cpu host); else cpu=(-accel tcg,thread=multi -cpu max); fi
qemu-system-x86_64 -machine q35 "${cpu[@]}" -smp 2 -m 2048M -nodefaults -display none \
  -serial "file:$work/console.log" \
  -drive "file=$work/overlay.qcow2,if=virtio,format=qcow2" \
  -drive "file=$work/seed.iso,if=virtio,format=raw,readonly=on" \
  -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=n0 \
  -device virtio-rng-pci &
qemu_pid=$!

ssh_opts=(-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR -i "$work/key" -p "$port" debian@127.0.0.1)
until ssh "${ssh_opts[@]}" true 2>/dev/null; do sleep 1; done
ssh "${ssh_opts[@]}" 'cloud-init status --wait >/dev/null; true'
