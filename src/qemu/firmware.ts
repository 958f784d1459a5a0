/**
 * The arm64 UEFI firmware (AAVMF, EDK II for QEMU's virt board) as Debian and Ubuntu install it
 * (package qemu-efi-aarch64): the code, read-only, and the template of the variable store that
 * each guest gets a writable copy of. Cloud images for arm64 boot through it; x86_64 guests use
 * SeaBIOS, built into QEMU.
 */
export const aarch64Uefi = {
  code: "/usr/share/AAVMF/AAVMF_CODE.fd",
  varsTemplate: "/usr/share/AAVMF/AAVMF_VARS.fd",
} as const;
