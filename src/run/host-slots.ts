import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { acquireLock } from "../cache/lock.js";
import { cachePath } from "../cache/layout.js";
import {
  identifyProcess,
  isProcessRunning,
  type ProcessIdentity,
} from "../host/process-identity.js";
import { readMemInfo } from "../host/meminfo.js";
import { mayStartTogether, memoryBudget, type GuestNeeds, type HostLimits } from "./schedule.js";

/**
 * Guests of every kvmci on this host share its CPUs and memory. Eight runs started at once on a
 * two-core machine each booting under TCG took over five minutes to boot (against half a
 * minute alone), close to the boot deadline; taken in turns they all finish sooner. So each
 * guest takes a slot before it starts, as many at once as the host has CPUs and while their
 * memory fits, and gives it back at teardown. A slot of a process that died is freed by the
 * next one that looks.
 */
interface SlotRecord {
  owner: ProcessIdentity;
  memoryBytes: number;
}

const pollMs = 500;

export interface SlotOptions {
  /** --parallel: a run that asks for more guests at once than the host has CPUs gets them. */
  parallel: number | undefined;
  signal: AbortSignal;
}

export type SlotAttempt =
  { slot: AsyncDisposable } | { busy: { running: number; limits: HostLimits } };

/**
 * Takes a slot now if the host has room; says how busy it is if not. Several needs (a
 * topology's guests) are admitted together or not at all.
 */
export async function tryTakeHostSlot(
  cacheDir: string,
  needs: GuestNeeds | GuestNeeds[],
  o: SlotOptions,
): Promise<SlotAttempt> {
  const all = Array.isArray(needs) ? needs : [needs];
  const dir = cachePath(cacheDir, "guests");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Reading the others and writing ours is one step for every kvmci on the host.
  await using _admission = await acquireLock(cachePath(cacheDir, "locks", "guests.lock"), {
    signal: o.signal,
  });
  const running = await liveSlots(dir);
  const limits = await hostLimitsNow(running, o.parallel);
  if (!mayStartTogether(all, running, limits)) return { busy: { running: running.length, limits } };
  const owner = await identifyProcess();
  const files: string[] = [];
  for (const one of all) {
    const file = join(dir, `${process.pid}-${randomBytes(4).toString("hex")}.json`);
    const record: SlotRecord = { owner, memoryBytes: one.memoryBytes };
    await writeFile(file, JSON.stringify(record), { mode: 0o600 });
    files.push(file);
  }
  return {
    slot: {
      [Symbol.asyncDispose]: async () => {
        for (const file of files) await rm(file, { force: true });
      },
    },
  };
}

/** Waits for a slot, however long the guests before it take; ends only with `o.signal`. */
export async function waitForHostSlot(
  cacheDir: string,
  needs: GuestNeeds | GuestNeeds[],
  o: SlotOptions,
): Promise<AsyncDisposable> {
  for (;;) {
    await sleep(pollMs, undefined, { signal: o.signal });
    const attempt = await tryTakeHostSlot(cacheDir, needs, o);
    if ("slot" in attempt) return attempt.slot;
  }
}

/** The limits with the other guests counted in (see memoryBudget). */
async function hostLimitsNow(
  running: GuestNeeds[],
  parallel: number | undefined,
): Promise<HostLimits> {
  const reserved = running.reduce((sum, g) => sum + g.memoryBytes, 0);
  return {
    maxGuests: Math.max(availableParallelism(), parallel ?? 0),
    memoryBytes: memoryBudget(await readMemInfo(), reserved),
  };
}

/** Slots of live kvmci processes on this host; those of dead ones are removed on the way. */
async function liveSlots(dir: string): Promise<GuestNeeds[]> {
  const self = await identifyProcess();
  const live: GuestNeeds[] = [];
  for (const file of await readdir(dir).catch(() => [] as string[])) {
    let record: SlotRecord;
    try {
      record = JSON.parse(await readFile(join(dir, file), "utf8")) as SlotRecord;
    } catch {
      continue;
    }
    const running = await isProcessRunning(record.owner, self);
    if (running === false) await rm(join(dir, file), { force: true });
    // A record nobody here can check is another host's (a shared cache folder): not ours to count.
    if (running === true) live.push({ memoryBytes: record.memoryBytes });
  }
  return live;
}

/**
 * Gives a guest's place on the host to another process (a kept guest's keeper) without asking
 * for one again: the record stays while that process lives.
 */
export async function handOverHostSlot(
  cacheDir: string,
  needs: GuestNeeds,
  owner: ProcessIdentity,
): Promise<void> {
  const dir = cachePath(cacheDir, "guests");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const record: SlotRecord = { owner, memoryBytes: needs.memoryBytes };
  await writeFile(
    join(dir, `${owner.pid}-${randomBytes(4).toString("hex")}.json`),
    JSON.stringify(record),
    {
      mode: 0o600,
    },
  );
}
