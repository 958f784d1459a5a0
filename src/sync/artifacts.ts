import { chmod, lstat, mkdir, mkdtemp, readdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { KvmciError } from "../errors.js";
import { errorMessage } from "../units/error-message.js";
import { tailLines } from "../units/text.js";
import type { ExecResult, RemoteShell } from "../ssh/session.js";
import { receiveTree, type RefusedEntry, type TreeLimits } from "./receive-tree.js";
import { buildArtifactPackCommand } from "./tar-args.js";

export interface ArtifactOptions {
  workdir: string;
  globs: string[];
  /** The folder this guest's artifacts go to; replaced as a whole by what comes back. */
  dir: string;
  limits: TreeLimits;
  umask: number;
  /** The phase ends here (epoch ms), whatever the guest does. */
  deadline: number;
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
    try {
      result = await guest.exec(buildArtifactPackCommand(o.workdir, o.globs), {
        stdout: receiver.sink,
        onStderr: (chunk) => stderr.push(chunk),
        signal: AbortSignal.any([signal, ranOut, stopped.signal]),
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
    };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
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
