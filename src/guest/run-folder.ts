import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir as osTmpdir } from "node:os";
import { join } from "node:path";
import { dir } from "tmp-promise";
import {
  identifyProcess,
  isProcessRunning,
  type ProcessIdentity,
} from "../host/process-identity.js";

/** Files inside a guest's run folder. */
export const RunFiles = {
  overlay: "overlay.qcow2",
  seed: "seed.iso",
  console: "console.log",
  /** QEMU's machine protocol socket. */
  qmp: "qmp.sock",
  /** The host end of the wake channel. */
  wake: "wake.sock",
  /** QEMU's pid, written by QEMU itself. */
  qemuPid: "qemu.pid",
  /** Who owns the folder: lets a later kvmci recognise folders left by a killed run. */
  owner: "owner.json",
} as const;

export const runFolderPrefix = "kvmci-run-";

export interface RunFolder extends AsyncDisposable {
  path: string;
  file(name: (typeof RunFiles)[keyof typeof RunFiles]): string;
}

/** A private (0700) folder for one guest, deleted with everything in it on dispose. */
export async function createRunFolder(tmpdir?: string): Promise<RunFolder> {
  const folder = await dir({ prefix: runFolderPrefix, mode: 0o700, unsafeCleanup: true, tmpdir });
  const owner: ProcessIdentity = await identifyProcess();
  await writeFile(join(folder.path, RunFiles.owner), JSON.stringify(owner), { mode: 0o600 });
  return {
    path: folder.path,
    file: (name) => join(folder.path, name),
    [Symbol.asyncDispose]: () => folder.cleanup(),
  };
}

/**
 * Removes run folders whose kvmci is gone (killed with SIGKILL, or the machine lost power while
 * it ran) and returns their paths. Folders of live runs, of other users (unreadable) and of
 * runs nobody here can check are left alone.
 */
export async function removeStaleRunFolders(tmpdir = osTmpdir()): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(tmpdir);
  } catch {
    return [];
  }
  const self = await identifyProcess();
  const removed: string[] = [];
  for (const entry of entries) {
    if (!entry.startsWith(runFolderPrefix)) continue;
    const path = join(tmpdir, entry);
    let owner: ProcessIdentity;
    try {
      owner = JSON.parse(await readFile(join(path, RunFiles.owner), "utf8")) as ProcessIdentity;
    } catch {
      // Not ours to judge: unreadable, or a folder being created this very moment.
      continue;
    }
    if ((await isProcessRunning(owner, self)) !== false) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}
