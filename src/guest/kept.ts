import { lstat, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { cachePath } from "../cache/layout.js";
import {
  identifyProcess,
  isProcessRunning,
  type ProcessIdentity,
} from "../host/process-identity.js";
import { runFolderPrefix } from "./run-folder.js";

/**
 * A guest left running after its run (`kvmci run --keep`), as `kvmci ls`, `ssh` and `stop` find
 * it: a record in the cache's kept/ folder pointing at its run folder, which holds the key that
 * logs in and the host key that is pinned. Its keeper (see qemu/keeper.ts) stops it at `until`.
 */
export interface KeptGuest {
  name: string;
  image: string;
  /** The guest's run folder (0700): overlay, console, keys. */
  folder: string;
  sshPort: number;
  user: string;
  workdir: string;
  cpus: number;
  memoryBytes: number;
  startedAt: string;
  /** When its keeper stops it. */
  until: string;
  /** The keeper process: the guest lives while it does. */
  owner: ProcessIdentity;
}

export type KeptState = "running" | "stopped" | "elsewhere";

/** A record's name: letters, digits, dots and dashes, as kvmci makes them. */
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export async function writeKeptRecord(cacheDir: string, record: KeptGuest): Promise<void> {
  const dir = cachePath(cacheDir, "kept");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, `${record.name}.json`), JSON.stringify(record, null, 2), {
    mode: 0o600,
  });
}

/** Every kept guest of this cache, with whether its keeper still runs. */
export async function listKeptGuests(
  cacheDir: string,
): Promise<{ guest: KeptGuest; state: KeptState }[]> {
  const dir = cachePath(cacheDir, "kept");
  const files = await readdir(dir).catch(() => [] as string[]);
  const self = await identifyProcess();
  const out: { guest: KeptGuest; state: KeptState }[] = [];
  for (const file of files.filter((f) => f.endsWith(".json")).sort()) {
    let guest: KeptGuest;
    try {
      guest = JSON.parse(await readFile(join(dir, file), "utf8")) as KeptGuest;
    } catch {
      continue;
    }
    if (!namePattern.test(guest.name)) continue;
    const running = await isProcessRunning(guest.owner, self);
    out.push({
      guest,
      state: running === undefined ? "elsewhere" : running ? "running" : "stopped",
    });
  }
  return out;
}

/**
 * Stops a kept guest (its keeper ends QEMU on SIGTERM) and removes it: record and run folder.
 * The keeper is signalled only when it is still the very process recorded.
 */
export async function stopKeptGuest(cacheDir: string, guest: KeptGuest): Promise<void> {
  const self = await identifyProcess();
  if (await isProcessRunning(guest.owner, self)) {
    try {
      process.kill(guest.owner.pid, "SIGTERM");
    } catch {
      // gone in the meantime
    }
    for (let i = 0; i < 100 && (await isProcessRunning(guest.owner, self)); i++) await sleep(100);
  }
  await removeKeptGuest(cacheDir, guest);
}

/** Removes a kept guest's record and run folder (never through a link). */
export async function removeKeptGuest(cacheDir: string, guest: KeptGuest): Promise<void> {
  const folder = await lstat(guest.folder).catch(() => undefined);
  if (
    folder?.isDirectory() &&
    basename(guest.folder).startsWith(runFolderPrefix) &&
    folder.uid === process.getuid?.()
  )
    await rm(guest.folder, { recursive: true, force: true });
  await rm(cachePath(cacheDir, "kept", `${guest.name}.json`), { force: true });
}
