import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { KvmciError } from "../errors.js";
import {
  identifyProcess,
  isProcessRunning,
  type ProcessIdentity,
} from "../host/process-identity.js";

/** How often a holder touches its lock file, and when an untouched one counts as abandoned. */
const heartbeatMs = 5_000;
const abandonedAfterMs = 30_000;

export interface LockOptions {
  signal?: AbortSignal;
  /** Give up waiting for another holder after this long. */
  timeoutMs?: number;
  /** Called once if the lock is held by someone else and we have to wait. */
  onWait?: (holder: ProcessIdentity) => void;
  pollMs?: number;
}

/**
 * An exclusive lock on a cache entry, shared by every kvmci on the host (and on other hosts that
 * share the cache folder). The lock file names its holder; a holder that died (even by kill -9)
 * is noticed from /proc, and one nobody here can check is noticed because it stops touching
 * the file. Disposing releases it.
 */
export async function acquireLock(
  path: string,
  options: LockOptions = {},
): Promise<AsyncDisposable> {
  const self = await identifyProcess();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + (options.timeoutMs ?? 60 * 60_000);
  let waited = false;
  for (;;) {
    options.signal?.throwIfAborted();
    if (await tryCreate(path, self)) return held(path, self);
    const holder = await readHolder(path);
    if (holder === "gone") continue;
    if (await isAbandoned(path, holder, self)) {
      await breakLock(path, holder);
      continue;
    }
    if (!waited && holder !== "unreadable") options.onWait?.(holder);
    waited = true;
    if (Date.now() > deadline) {
      throw new KvmciError("image", `Timed out waiting for the cache lock ${path}`, {
        hint:
          holder === "unreadable"
            ? "Delete the lock file if no kvmci is running."
            : `kvmci (pid ${holder.pid} on ${holder.host}) still holds it; wait for it or stop it.`,
      });
    }
    await sleep(options.pollMs ?? 250, undefined, { signal: options.signal });
  }
}

/** Creates the lock file complete with its content, or finds it taken. */
async function tryCreate(path: string, self: ProcessIdentity): Promise<boolean> {
  const staging = `${path}.${self.pid}-${randomBytes(4).toString("hex")}`;
  await writeFile(staging, JSON.stringify(self), { mode: 0o600 });
  try {
    await link(staging, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    await rm(staging, { force: true });
  }
}

async function readHolder(path: string): Promise<ProcessIdentity | "gone" | "unreadable"> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as ProcessIdentity;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT" ? "gone" : "unreadable";
  }
}

async function isAbandoned(
  path: string,
  holder: ProcessIdentity | "unreadable",
  self: ProcessIdentity,
): Promise<boolean> {
  if (holder !== "unreadable") {
    const running = await isProcessRunning(holder, self);
    if (running !== undefined) return !running;
  }
  try {
    return Date.now() - (await stat(path)).mtimeMs > abandonedAfterMs;
  } catch {
    return false;
  }
}

/**
 * Moves an abandoned lock aside. Renaming is atomic, so of several processes breaking the same
 * lock one wins; if what it moved turns out to be a new holder's lock, it puts it back.
 */
async function breakLock(path: string, seen: ProcessIdentity | "unreadable"): Promise<void> {
  const aside = `${path}.broken-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  const moved = await readHolder(aside);
  const same =
    seen === "unreadable"
      ? moved === "unreadable"
      : typeof moved === "object" && moved.pid === seen.pid && moved.startTicks === seen.startTicks;
  if (!same) await link(aside, path).catch(() => undefined);
  await rm(aside, { force: true });
}

function held(path: string, self: ProcessIdentity): AsyncDisposable {
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, heartbeatMs);
  heartbeat.unref();
  return {
    async [Symbol.asyncDispose]() {
      clearInterval(heartbeat);
      // Only remove the file if it is still ours.
      const holder = await readHolder(path);
      if (
        typeof holder === "object" &&
        holder.pid === self.pid &&
        holder.startTicks === self.startTicks
      )
        await rm(path, { force: true });
    },
  };
}
