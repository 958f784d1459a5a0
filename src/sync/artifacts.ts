import { createReadStream } from "node:fs";
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { basename, dirname, join } from "node:path";
import { KvmciError } from "../errors.js";
import { errorMessage } from "../units/error-message.js";
import { tailLines } from "../units/text.js";
import type { ExecResult, RemoteShell } from "../ssh/session.js";
import { receiveTree, type RefusedEntry, type TreeLimits } from "./receive-tree.js";
import { artifactsDevice } from "./artifacts-disk.js";
import { buildArtifactPackCommand, diskWriteFailed } from "./tar-args.js";

export interface ArtifactOptions {
  workdir: string;
  globs: string[];
  /** The folder this guest's artifacts go to; replaced as a whole by what comes back. */
  dir: string;
  limits: TreeLimits;
  umask: number;
  /** The phase ends here (epoch ms), whatever the guest does. */
  deadline: number;
  /**
   * The file behind the guest's artifacts disk (sync/artifacts-disk.ts): the guest writes its
   * archive there and the host reads it from the file. Over SSH when absent, or when the guest
   * could not write it there.
   */
  disk?: string;
}

export interface CollectedArtifacts {
  files: string[];
  links: string[];
  bytes: number;
  /** What the guest sent that was not made on the host, and why. */
  refused: RefusedEntry[];
  /** Why the copy ended before the guest's archive did (a limit, the deadline, bad data). */
  incomplete: string | undefined;
  /** The pack command in the guest failed (an unreadable file, say): its exit code and stderr. */
  packProblem: string | undefined;
  /** Why the archive came over SSH although the guest has an artifacts disk. */
  overSsh?: string;
}

/**
 * A file in every artifacts folder kvmci makes: a folder holding it (or nothing) may be
 * replaced by the next run; any other folder is left alone (see checkArtifactsDir).
 */
export const artifactsMarker = ".kvmci-artifacts";

/**
 * Copies the files matching the globs from the guest into a fresh private folder beside `dir`,
 * then puts that folder in `dir`'s place: nothing an earlier run left there (a link, say) can
 * redirect a write. Whatever the guest sends is data (see receive-tree.ts); what it can do
 * wrong ends in `refused`, `incomplete` or `packProblem`, never in an exception. Only the
 * host's own failures (its disk full) throw.
 */
export async function collectArtifacts(
  guest: RemoteShell,
  o: ArtifactOptions,
  signal: AbortSignal,
): Promise<CollectedArtifacts> {
  const parent = dirname(o.dir);
  await mkdir(parent, { recursive: true });
  const staging = await mkdtemp(join(parent, `.${basename(o.dir)}.receiving-`));
  try {
    const receiver = receiveTree(staging, { limits: o.limits, umask: o.umask });
    const ranOut = AbortSignal.timeout(Math.max(0, o.deadline - Date.now()));
    const stopped = new AbortController();
    void receiver.done.then(() => stopped.abort());
    const stderr: Buffer[] = [];
    let result: ExecResult | undefined;
    const stop = AbortSignal.any([signal, ranOut, stopped.signal]);
    let overSsh: string | undefined;
    try {
      if (o.disk) {
        result = await packOntoDisk(guest, o, o.disk, receiver.sink, stderr, stop);
        if (!result) overSsh = "the guest could not write them onto its artifacts disk";
      }
      // Not onto the disk: nothing has reached the receiver, and the archive comes over SSH.
      result ??= await guest.exec(buildArtifactPackCommand(o.workdir, o.globs), {
        stdout: receiver.sink,
        onStderr: (chunk) => keepTail(stderr, chunk),
        signal: stop,
      });
    } finally {
      signal.throwIfAborted();
      if (ranOut.aborted) receiver.stop("the time for artifacts ran out");
      if (!receiver.sink.writableEnded) receiver.sink.end();
    }
    const tree = await receiver.done;
    if (tree.hostError) throw hostWriteError(o.dir, tree.hostError);
    // The guest may have sent a file of that name: it is replaced, never written through.
    await rm(join(staging, artifactsMarker), { recursive: true, force: true });
    await writeFile(join(staging, artifactsMarker), "Made by kvmci: replaced on every run.\n", {
      flag: "wx",
    });
    await chmod(staging, 0o777 & ~o.umask);
    await putInPlace(staging, o.dir);
    return {
      files: tree.files,
      links: tree.links,
      bytes: tree.bytes,
      refused: tree.refused,
      incomplete: tree.stopped,
      packProblem:
        !tree.stopped && result && result.code !== 0
          ? [`exit code ${result.code}`, ...tailLines(Buffer.concat(stderr).toString(), 5)].join(
              "; ",
            )
          : undefined,
      overSsh,
    };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * The guest packs its artifacts onto its artifacts disk and says how many bytes it wrote; the
 * host then feeds that many bytes of the disk's file to the receiver (never more than the file
 * holds: the count is the guest's word). Undefined, with nothing fed, when the guest could not
 * write the disk or its count is not a number: the caller goes over SSH.
 */
async function packOntoDisk(
  guest: RemoteShell,
  o: ArtifactOptions,
  disk: string,
  sink: Writable,
  stderr: Buffer[],
  signal: AbortSignal,
): Promise<ExecResult | undefined> {
  const out: Buffer[] = [];
  const said: Buffer[] = [];
  const result = await guest.exec(buildArtifactPackCommand(o.workdir, o.globs, artifactsDevice), {
    onStdout: (chunk) => {
      if (out.length < 4) out.push(chunk);
    },
    onStderr: (chunk) => keepTail(said, chunk),
    signal,
  });
  if (signal.aborted) return result;
  const text = Buffer.concat(out).toString("latin1").trim();
  if (result.code === diskWriteFailed || !/^\d{0,15}$/.test(text)) return undefined;
  stderr.push(...said);
  const { size } = await stat(disk);
  const bytes = Math.min(Number(text), size);
  if (bytes > 0) {
    // The end is left to the caller, which also ends the SSH path's stream.
    await pipeline(
      createReadStream(disk, { start: 0, end: bytes - 1, highWaterMark: 1 << 20, signal }),
      sink,
      { end: false },
    ).catch((error: unknown) => {
      // Stopped (a limit, the deadline, an interrupt): the caller says why, as over SSH.
      if (!signal.aborted) throw error;
    });
  }
  return result;
}

/** What is kept of the pack's stderr (only its last lines are shown): the guest may send GBs. */
const stderrKept = 64 * 1024;

function keepTail(chunks: Buffer[], chunk: Buffer): void {
  chunks.push(chunk.length > stderrKept ? chunk.subarray(chunk.length - stderrKept) : chunk);
  let total = chunks.reduce((sum, c) => sum + c.length, 0);
  while (total > stderrKept && chunks.length > 1) total -= chunks.shift()!.length;
}

/** Replaces `dir` (if any) by `fresh`, a folder beside it. */
async function putInPlace(fresh: string, dir: string): Promise<void> {
  const old = `${fresh}.old`;
  let moved = false;
  try {
    await rename(dir, old);
    moved = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw hostWriteError(dir, error);
  }
  try {
    await rename(fresh, dir);
  } catch (error) {
    if (moved) await rename(old, dir).catch(() => undefined);
    throw hostWriteError(dir, error);
  }
  if (moved) await rm(old, { recursive: true, force: true });
}

function hostWriteError(dir: string, cause: unknown): KvmciError {
  return new KvmciError(
    "hostWrite",
    `Writing the artifacts into ${dir} failed: ${errorMessage(cause)}`,
    {
      hint: "Make room on that file system, or give another --artifacts-dir.",
      cause,
    },
  );
}

/**
 * Why `dir` may not be used as an artifacts folder, or undefined when it may: it is replaced on
 * every run, so it must be absent, empty, or made by kvmci (it holds the marker, or only
 * folders that do, as a matrix run leaves). Checked before anything starts.
 */
export async function checkArtifactsDir(dir: string): Promise<string | undefined> {
  let stat;
  try {
    stat = await lstat(dir);
  } catch {
    return undefined;
  }
  if (stat.isSymbolicLink())
    return `${dir} is a symbolic link; kvmci replaces the artifacts folder on every run, so it must be a real folder (or absent)`;
  if (!stat.isDirectory()) return `${dir} is not a folder`;
  if (await madeByKvmci(dir)) return undefined;
  return `${dir} holds files kvmci did not put there, and kvmci replaces the artifacts folder on every run: remove it or choose another --artifacts-dir`;
}

async function madeByKvmci(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true });
  if (entries.some((e) => e.name === artifactsMarker && e.isFile())) return true;
  for (const entry of entries) {
    if (!entry.isDirectory() || !(await madeByKvmci(join(dir, entry.name)))) return false;
  }
  return true;
}
