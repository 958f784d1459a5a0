import { open, stat } from "node:fs/promises";
import { execa } from "execa";
import { which } from "../host/which.js";
import { tailLines } from "../units/text.js";
import { packingFailed, packWorkspace, type SyncResult, type WorkspaceSource } from "./transfer.js";

/**
 * The workspace disk: the workspace packed on the host into a read-only squashfs file system
 * (uncompressed, every file owned by the guest's user), attached to a restored guest as a
 * read-only virtio disk and mounted by its wake agent (guest/wake.ts) as the lower layer of an
 * overlay on the workdir. Nothing crosses SSH and nothing is unpacked in the emulated guest: it
 * reads a file when something opens it, and what it writes goes to the overlay's upper layer on
 * its own disk. mksquashfs reads the same tar stream the SSH path sends (`-tar`), so both paths
 * hold the same files.
 *
 * Every guest has this disk, from its first boot: a saved guest's machine must not change. A
 * guest that boots cold, or restores without one, has an empty file of the same size instead.
 */

/**
 * The disk's size as the guest sees it, fixed: the guest learns it when it boots and a restored
 * guest keeps what its saved self learned. A file system is written at its start; the rest is a
 * hole, which costs nothing. A workspace bigger than this goes over SSH.
 */
export const workspaceDiskBytes = 64 * 1024 ** 3;

/** The disk's serial number: the guest finds it as /dev/disk/by-id/virtio-<serial>. */
export const workspaceDiskSerial = "kvmci-workspace";

/** Makes `path` the empty disk: all hole. */
export async function makeEmptyWorkspaceDisk(path: string): Promise<void> {
  const file = await open(path, "w", 0o600);
  try {
    await file.truncate(workspaceDiskBytes);
  } finally {
    await file.close();
  }
}

const noMksquashfs = "mksquashfs is not installed (package squashfs-tools)";

/** Why the workspace disk cannot be made on this host, or undefined when it can. */
export async function workspaceDiskUnavailable(): Promise<string | undefined> {
  return (await which("mksquashfs")) ? undefined : noMksquashfs;
}

export type WorkspaceDiskResult =
  | { kind: "built"; sync: SyncResult }
  /** The disk cannot be made here (no mksquashfs, a workspace too big): send it over SSH. */
  | { kind: "unavailable"; why: string };

/**
 * Packs the workspace into the disk at `path` for a guest user with these ids. A workspace tar
 * cannot pack is the user's error (as on the SSH path); anything that stops mksquashfs leaves
 * the empty disk in place and says why.
 */
export async function buildWorkspaceDisk(
  path: string,
  source: WorkspaceSource,
  owner: { uid: number; gid: number },
  signal: AbortSignal,
): Promise<WorkspaceDiskResult> {
  const mksquashfs = await which("mksquashfs");
  if (!mksquashfs) return { kind: "unavailable", why: noMksquashfs };
  const stop = new AbortController();
  const both = AbortSignal.any([signal, stop.signal]);
  const { mode, tar } = await packWorkspace(source, both);
  const squash = execa(mksquashfs, buildMksquashfsArgs(path, owner), {
    stdin: "pipe",
    stdout: "ignore",
    stderr: "pipe",
    reject: false,
    cancelSignal: both,
    // An interrupt must end kvmci within seconds: mksquashfs writing under the page cache's
    // throttling may take its time to act on SIGTERM (execa waits 5 s by default).
    forceKillAfterDelay: 1000,
    // mksquashfs clamps every file's time to SOURCE_DATE_EPOCH when it is set (a reproducible
    // build's environment): the workspace keeps its own times, as over SSH.
    env: { SOURCE_DATE_EPOCH: undefined },
  });
  tar.archive.pipe(squash.stdin);
  // mksquashfs may stop reading early (it failed): tar must not wait on a full pipe for ever.
  squash.stdin.on("error", () => stop.abort());
  const made = await squash;
  if (made.exitCode !== 0) stop.abort();
  const packed = await tar.done;
  signal.throwIfAborted();
  // tar that failed on its own (not stopped here after mksquashfs did) is the user's to fix.
  if (packed.exitCode !== 0 && !packed.discarded) throw packingFailed(packed);
  if (made.exitCode !== 0) {
    await makeEmptyWorkspaceDisk(path);
    const why = tailLines(String(made.stderr ?? ""), 3).join(" ") || made.shortMessage;
    return { kind: "unavailable", why: `mksquashfs failed: ${why}` };
  }
  const { size } = await stat(path);
  if (size > workspaceDiskBytes) {
    await makeEmptyWorkspaceDisk(path);
    return { kind: "unavailable", why: "the workspace is bigger than the workspace disk" };
  }
  const file = await open(path, "r+");
  try {
    await file.truncate(workspaceDiskBytes);
  } finally {
    await file.close();
  }
  return { kind: "built", sync: { mode, files: await tar.files, bytes: tar.bytes() } };
}

/**
 * mksquashfs reading a tar stream from stdin: no compression (the guest's emulated CPU would pay
 * for it on every read, and the bytes only cross the host's page cache), no extended attributes,
 * every file owned by the guest user. Pure.
 */
export function buildMksquashfsArgs(path: string, owner: { uid: number; gid: number }): string[] {
  return [
    "-",
    path,
    "-tar",
    "-noappend",
    "-force-uid",
    String(owner.uid),
    "-force-gid",
    String(owner.gid),
    "-noI",
    "-noD",
    "-noF",
    "-noX",
    "-no-xattrs",
    // Anything it would skip with a warning fails instead: the SSH path then sends it all.
    "-exit-on-error",
    "-quiet",
    "-no-progress",
  ];
}
