import { readFile, readlink } from "node:fs/promises";
import { hostname } from "node:os";

/**
 * Who a process is, precisely enough to tell later whether it still runs: a pid alone can be
 * reused, so the kernel's start time of the process, the boot and the pid namespace go with it.
 */
export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/PID/stat: clock ticks after boot when the process started. */
  startTicks: number;
  bootId: string;
  pidNamespace: string;
  host: string;
}

export async function identifyProcess(pid = process.pid): Promise<ProcessIdentity> {
  const [startTicks, bootId, pidNamespace] = await Promise.all([
    readStartTicks(pid),
    readFile("/proc/sys/kernel/random/boot_id", "utf8").then((s) => s.trim()),
    readlink("/proc/self/ns/pid").catch(() => "unknown"),
  ]);
  return { pid, startTicks: startTicks ?? 0, bootId, pidNamespace, host: hostname() };
}

/**
 * Whether the process still runs: `true` or `false` when this process can see it, `undefined`
 * when it belongs to another boot, host or pid namespace and nobody here can tell.
 */
export async function isProcessRunning(
  owner: ProcessIdentity,
  self: ProcessIdentity,
): Promise<boolean | undefined> {
  if (
    owner.bootId !== self.bootId ||
    owner.pidNamespace !== self.pidNamespace ||
    owner.host !== self.host
  )
    return undefined;
  const stat = await readStat(owner.pid);
  // A zombie (its parent, init in a container, has not reaped it yet) runs no more.
  return stat !== undefined && stat.startTicks === owner.startTicks && !/^[ZX]$/.test(stat.state);
}

/** Pure: the start time from the text of /proc/PID/stat (the command name may hold spaces). */
export function parseStartTicks(stat: string): number | undefined {
  const afterName = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields after the name start at field 3 (state); start time is field 22.
  const value = Number(afterName[22 - 3]);
  return Number.isFinite(value) ? value : undefined;
}

async function readStartTicks(pid: number): Promise<number | undefined> {
  return (await readStat(pid))?.startTicks;
}

/** The state (R, S, Z…) and start time of a process, from /proc/PID/stat. */
async function readStat(pid: number): Promise<{ state: string; startTicks: number } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const startTicks = parseStartTicks(stat);
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] ?? "";
    return startTicks === undefined ? undefined : { state, startTicks };
  } catch {
    return undefined;
  }
}
