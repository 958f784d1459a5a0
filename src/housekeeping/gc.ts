import { readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { partialOwnerPid, type CachedImage } from "../image/cache.js";
import {
  identifyProcess,
  isProcessRunning,
  type ProcessIdentity,
} from "../host/process-identity.js";
import { entriesInUse, holdRemovals } from "../cache/in-use.js";
import { lastUsedInTree, scanCacheItems, withDependents, type CacheItem } from "./cache-items.js";
import { cachePath } from "../cache/layout.js";

export interface Removal {
  what: string;
  bytes: number;
  why: string;
}

export interface GcReport {
  removed: Removal[];
  /** Entries that had to stay although the size limit wanted them gone, and why. */
  keptInUse: { entry: string; pids: number[] }[];
  bytesBefore: number;
  bytesAfter: number;
}

/**
 * Cleans the cache: always the debris of killed runs (unfinished builds, abandoned downloads,
 * unreadable entries, in-use records of dead processes) and images nothing can reach any more
 * (`unreachable`); with `maxBytes`, also whole images,
 * least recently used first, until the cache fits. An image a running guest uses is never
 * removed.
 */
export async function collectGarbage(
  cacheDir: string,
  options: {
    maxBytes?: number;
    dryRun?: boolean;
    /** Says why an image can no longer be reached (a build from an older recipe), if so. */
    unreachable?: (image: CachedImage) => string | undefined;
  } = {},
): Promise<GcReport> {
  const removed: Removal[] = [];
  const remove = async (path: string, what: string, bytes: number, why: string) => {
    if (!options.dryRun) await rm(path, { recursive: true, force: true });
    removed.push({ what, bytes, why });
  };
  await using _removals = options.dryRun ? undefined : await holdRemovals(cacheDir);
  const inUse = await entriesInUse(cacheDir, !options.dryRun);
  const scan = await scanCacheItems(cacheDir);
  const downloads = await listDownloads(cacheDir);
  const folderOf = (f: { folder: "images" | "snapshots"; name: string }) =>
    cachePath(cacheDir, f.folder, f.name);
  const bytesBefore =
    scan.items.reduce((sum, i) => sum + i.sizeOnDisk, 0) +
    downloads.reduce((sum, d) => sum + d.bytes, 0) +
    (await sumSizes([...scan.broken, ...scan.partial].map(folderOf)));

  for (const folder of scan.partial) {
    const pid = partialOwnerPid(folder.name);
    if (pid !== undefined && (await pidExists(pid))) continue;
    const path = folderOf(folder);
    await remove(path, folder.name, await treeSize(path), "unfinished work of a run that ended");
  }
  for (const folder of scan.broken) {
    const path = folderOf(folder);
    await remove(path, folder.name, await treeSize(path), "incomplete or unreadable entry");
  }
  for (const download of downloads) {
    if (await lockHeldByLiveProcess(cacheDir, download.entry)) continue;
    await remove(download.path, `${download.entry}.part`, download.bytes, "an abandoned download");
    await rm(`${download.path}.json`, { force: true });
  }

  // Removing an entry removes what is layered over it too (a prepared image over its base, a
  // snapshot over its image); nothing in such a tree goes while a guest uses any of it.
  let remaining = [...scan.items];
  const removeTree = async (entry: string, why: string): Promise<number[] | undefined> => {
    const tree = withDependents(remaining, entry);
    const pids = tree.flatMap((i) => inUse.get(i.entry) ?? []);
    if (pids.length) return pids;
    for (const item of tree)
      await remove(
        item.dir,
        item.entry,
        item.sizeOnDisk,
        item.entry === entry ? why : `layered over ${entry}, which goes`,
      );
    remaining = remaining.filter((i) => !tree.includes(i));
    return undefined;
  };
  for (const item of scan.items)
    if (item.orphaned && remaining.includes(item)) await removeTree(item.entry, item.orphaned);
  for (const image of scan.images) {
    const why = options.unreachable?.(image);
    const item = remaining.find((i) => i.dir === image.dir);
    if (why && item) await removeTree(item.entry, why);
  }

  const keptInUse: GcReport["keptInUse"] = [];
  let total = bytesBefore - removed.reduce((sum, r) => sum + r.bytes, 0);
  if (options.maxBytes !== undefined) {
    const skipped = new Set<string>();
    for (;;) {
      if (total <= options.maxBytes) break;
      // Oldest use anywhere in its tree first; within a tree, what is layered on top first.
      const next = remaining
        .filter((i) => !skipped.has(i.entry))
        .map((i) => ({ item: i, used: lastUsedInTree(remaining, i.entry), depth: depthOf(i) }))
        .sort((a, b) => a.used - b.used || b.depth - a.depth)[0]?.item;
      if (!next) break;
      const before = removed.length;
      const pids = await removeTree(next.entry, leastRecentlyUsed(next));
      if (pids) {
        skipped.add(next.entry);
        keptInUse.push({ entry: next.entry, pids });
        continue;
      }
      total -= removed.slice(before).reduce((sum, r) => sum + r.bytes, 0);
    }
  }
  return { removed, keptInUse, bytesBefore, bytesAfter: total };

  function depthOf(item: CacheItem): number {
    let depth = 0;
    for (let i: CacheItem | undefined = item; i?.parent; depth++)
      i = remaining.find((r) => r.entry === i!.parent);
    return depth;
  }
}

function leastRecentlyUsed(item: CacheItem): string {
  return `least recently used (${item.lastUsed.toISOString().replace(/\.\d+Z$/, "Z")})`;
}

async function listDownloads(
  cacheDir: string,
): Promise<{ entry: string; path: string; bytes: number }[]> {
  const dir = cachePath(cacheDir, "downloads");
  let files: string[];
  try {
    files = await readdir(dir);
  } catch {
    return [];
  }
  const out = [];
  for (const file of files.filter((f) => f.endsWith(".part")).sort()) {
    const path = join(dir, file);
    out.push({ entry: file.slice(0, -5), path, bytes: (await stat(path)).blocks * 512 });
  }
  return out;
}

async function lockHeldByLiveProcess(cacheDir: string, entry: string): Promise<boolean> {
  let holder: ProcessIdentity;
  try {
    holder = JSON.parse(
      await readFile(cachePath(cacheDir, "locks", `${entry}.lock`), "utf8"),
    ) as ProcessIdentity;
  } catch {
    return false;
  }
  return (await isProcessRunning(holder, await identifyProcess())) !== false;
}

async function pidExists(pid: number): Promise<boolean> {
  return stat(`/proc/${pid}`).then(
    () => true,
    () => false,
  );
}

async function sumSizes(paths: string[]): Promise<number> {
  let total = 0;
  for (const path of paths) total += await treeSize(path);
  return total;
}

async function treeSize(path: string): Promise<number> {
  try {
    const s = await stat(path);
    if (!s.isDirectory()) return s.blocks * 512;
    let total = 0;
    for (const entry of await readdir(path)) total += await treeSize(join(path, entry));
    return total;
  } catch {
    return 0;
  }
}
