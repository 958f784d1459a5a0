import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  identifyProcess,
  isProcessRunning,
  type ProcessIdentity,
} from "../host/process-identity.js";
import { cachePath } from "./layout.js";
import { acquireLock } from "./lock.js";

interface InUseRecord {
  owner: ProcessIdentity;
  /** The folder name of the entry under images/. */
  entry: string;
}

/**
 * Records that this process uses a cache entry until the returned handle is disposed, so that
 * `kvmci gc` and `kvmci image rm` in another terminal leave it alone. A record whose process
 * died is ignored and cleared by the next `gc`.
 */
export async function markInUse(
  cacheDir: string,
  entry: string,
  signal?: AbortSignal,
): Promise<AsyncDisposable> {
  const dir = cachePath(cacheDir, "inUse");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${process.pid}-${randomBytes(4).toString("hex")}.json`);
  const record: InUseRecord = { owner: await identifyProcess(), entry };
  {
    // Not while a removal is between its look at the records and its delete (see holdRemovals).
    await using _removals = await holdRemovals(cacheDir, signal);
    await writeFile(file, JSON.stringify(record), { mode: 0o600 });
  }
  return { [Symbol.asyncDispose]: () => rm(file, { force: true }) };
}

/**
 * Held by whatever removes entries (`gc`, `image rm`) from its look at the in-use records to
 * its last delete, and briefly by markInUse: a run either marks its entry before the look, and
 * the entry stays, or after the delete, and then finds it gone and makes it again.
 */
export function holdRemovals(cacheDir: string, signal?: AbortSignal): Promise<AsyncDisposable> {
  return acquireLock(cachePath(cacheDir, "locks", "removals.lock"), { signal });
}

/**
 * The entries live processes use, with their pids. Records of dead processes are removed on
 * the way when `prune` is set; records nobody here can check (another host) count as live.
 */
export async function entriesInUse(
  cacheDir: string,
  prune = false,
): Promise<Map<string, number[]>> {
  const dir = cachePath(cacheDir, "inUse");
  const used = new Map<string, number[]>();
  let files: string[];
  try {
    files = await readdir(dir);
  } catch {
    return used;
  }
  const self = await identifyProcess();
  for (const file of files) {
    let record: InUseRecord;
    try {
      record = JSON.parse(await readFile(join(dir, file), "utf8")) as InUseRecord;
    } catch {
      continue;
    }
    if ((await isProcessRunning(record.owner, self)) === false) {
      if (prune) await rm(join(dir, file), { force: true });
      continue;
    }
    used.set(record.entry, [...(used.get(record.entry) ?? []), record.owner.pid]);
  }
  return used;
}

/**
 * Records that a process other than this one uses an entry (a kept guest's keeper): the record
 * stays until that process is gone, and the next `gc` clears it then.
 */
export async function markInUseBy(
  cacheDir: string,
  entry: string,
  owner: ProcessIdentity,
): Promise<void> {
  const dir = cachePath(cacheDir, "inUse");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${owner.pid}-${randomBytes(4).toString("hex")}.json`);
  const record: InUseRecord = { owner, entry };
  await using _removals = await holdRemovals(cacheDir);
  await writeFile(file, JSON.stringify(record), { mode: 0o600 });
}
