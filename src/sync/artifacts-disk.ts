import { open } from "node:fs/promises";
import type { TreeLimits } from "./receive-tree.js";

/**
 * The artifacts disk: a writable virtio disk, all hole when the guest starts, onto which the
 * guest writes its artifacts' tar stream; the host then reads the stream from the disk's file
 * (the same parser, the same limits as the SSH path: it is the guest's data). Under emulation
 * the guest's network moves ~23 MiB/s at best and SSH ~10 MiB/s; a virtio disk, hundreds.
 *
 * Every guest has this disk from its first boot, as it has the workspace disk: a saved guest's
 * machine must not change. Its file is this run's, in the run folder, and goes with it.
 */

/** The disk's serial number: the guest finds it as /dev/disk/by-id/virtio-<serial>. */
export const artifactsDiskSerial = "kvmci-artifacts";

export const artifactsDevice = `/dev/disk/by-id/virtio-${artifactsDiskSerial}`;

/**
 * The disk's size for these limits: the contents allowed plus room for every entry's headers
 * and padding. It also bounds what a guest can write onto the host's disk through it: QEMU
 * refuses writes past the file's end. A guest keeps the size it saw when it booted, so a
 * restored guest may see less than this run allows (its pack then fails and the artifacts
 * come over SSH) or more (QEMU refuses the writes past this run's size, with the same result).
 */
export function artifactsDiskBytes(limits: TreeLimits): number {
  const bytes = limits.maxBytes + limits.maxEntries * 2048 + 16 * 1024 ** 2;
  return Math.ceil(bytes / 1024 ** 2) * 1024 ** 2;
}

/** Makes `path` an empty disk of `bytes`: all hole. */
export async function makeArtifactsDisk(path: string, bytes: number): Promise<void> {
  const file = await open(path, "w", 0o600);
  try {
    await file.truncate(bytes);
  } finally {
    await file.close();
  }
}
