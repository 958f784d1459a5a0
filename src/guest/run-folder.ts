import { lstat, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir as osTmpdir } from "node:os";
import { join } from "node:path";
import {
  identifyProcess,
  isProcessRunning,
  type ProcessIdentity,
} from "../host/process-identity.js";

/** Files inside a guest's run folder. */
export const RunFiles = {
  overlay: "overlay.qcow2",
  seed: "seed.iso",
  /** The memory of a guest that may be saved (see Guest.launch). */
  memory: "memory.ram",
  /** This run's workspace as a read-only disk, or an empty one (sync/workspace-disk.ts). */
  workspaceDisk: "workspace.img",
  /** Where the guest writes its artifacts' tar stream (sync/artifacts-disk.ts). */
  artifactsDisk: "artifacts.img",
  console: "console.log",
  /** QEMU's machine protocol socket. */
  qmp: "qmp.sock",
  /** The host end of the wake channel. */
  wake: "wake.sock",
  /** The guest's own copy of the UEFI variable store (arm64 firmware boot). */
  uefiVars: "uefi-vars.fd",
  /** QEMU's pid, written by QEMU itself. */
  qemuPid: "qemu.pid",
  /** Who owns the folder: lets a later kvmci recognise folders left by a killed run. */
  owner: "owner.json",
  /** A keepable guest's supervisor (see qemu/keeper.ts) and QEMU's own output under it. */
  keeper: "keeper.sh",
  qemuLog: "qemu.log",
  /** A kept guest's login key (OpenSSH format) for `kvmci ssh`. */
  clientKey: "client-key",
  /** `[127.0.0.1]:PORT ssh-ed25519 …`: exactly the guest's host key, for OpenSSH's ssh. */
  knownHosts: "known_hosts",
} as const;

export const runFolderPrefix = "kvmci-run-";

export interface RunFolder extends AsyncDisposable {
  path: string;
  file(name: (typeof RunFiles)[keyof typeof RunFiles]): string;
}

/** A private (0700) folder for one guest, deleted with everything in it on dispose. */
export async function createRunFolder(tmpdir = osTmpdir()): Promise<RunFolder> {
  // mkdtemp makes the folder 0700 with a name nobody else can have taken.
  const path = await mkdtemp(join(tmpdir, runFolderPrefix));
  const owner: ProcessIdentity = await identifyProcess();
  await writeFile(join(path, RunFiles.owner), JSON.stringify(owner), { mode: 0o600 });
  return {
    path,
    file: (name) => join(path, name),
    [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }),
  };
}

/**
 * Removes run folders whose kvmci is gone (killed with SIGKILL, or the machine lost power while
 * it ran) and returns their paths. The temp folder is shared with every user, so a folder is
 * judged only when it is a real folder (never a link), owned by this user, private (0700), with
 * an owner record that is a regular file of this user's; its owner file alone proves nothing.
 * Folders of live runs, of other users and of runs nobody here can check are left alone.
 */
export async function removeStaleRunFolders(tmpdir = osTmpdir()): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(tmpdir);
  } catch {
    return [];
  }
  const self = await identifyProcess();
  const uid = process.getuid?.();
  const removed: string[] = [];
  for (const entry of entries) {
    if (!entry.startsWith(runFolderPrefix)) continue;
    const path = join(tmpdir, entry);
    const owner = await readOwner(path, uid);
    if (!owner) continue;
    if ((await isProcessRunning(owner, self)) !== false) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

/** The owner record of a run folder of this user's, or undefined when it is not one. */
async function readOwner(
  path: string,
  uid: number | undefined,
): Promise<ProcessIdentity | undefined> {
  try {
    const folder = await lstat(path);
    if (!folder.isDirectory() || (folder.mode & 0o777) !== 0o700) return undefined;
    if (uid !== undefined && folder.uid !== uid) return undefined;
    const file = join(path, RunFiles.owner);
    const record = await lstat(file);
    if (!record.isFile() || (uid !== undefined && record.uid !== uid)) return undefined;
    return JSON.parse(await readFile(file, "utf8")) as ProcessIdentity;
  } catch {
    // Not ours to judge: unreadable, or a folder being created this very moment.
    return undefined;
  }
}
