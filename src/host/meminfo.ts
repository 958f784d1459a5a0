import { readFile } from "node:fs/promises";
import { freemem, totalmem } from "node:os";

export interface MemInfo {
  totalBytes: number;
  /** What the kernel says can be had without swapping (MemAvailable), not just what is free. */
  availableBytes: number;
}

/** Pure: MemTotal and MemAvailable from the text of /proc/meminfo, if both are there. */
export function parseMemInfo(text: string): MemInfo | undefined {
  const kib = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
    return match ? Number(match[1]) * 1024 : undefined;
  };
  const totalBytes = kib("MemTotal");
  const availableBytes = kib("MemAvailable");
  return totalBytes !== undefined && availableBytes !== undefined
    ? { totalBytes, availableBytes }
    : undefined;
}

/** The host's memory now; off Linux, Node's view (free memory, which undercounts). */
export async function readMemInfo(): Promise<MemInfo> {
  const text = await readFile("/proc/meminfo", "utf8").catch(() => "");
  return parseMemInfo(text) ?? { totalBytes: totalmem(), availableBytes: freemem() };
}
