import { readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { imagesDir, partialOwnerPid, scanCache, type CachedImage } from "../image/cache.js";
import {
  identifyProcess,
  isProcessRunning,
  type ProcessIdentity,
} from "../host/process-identity.js";
import { entriesInUse } from "./in-use.js";
import { cachePath } from "./layout.js";

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
  const inUse = await entriesInUse(cacheDir, !options.dryRun);
  const { images, broken, partial } = await scanCache(cacheDir);
  const downloads = await listDownloads(cacheDir);
  const bytesBefore =
    images.reduce((sum, i) => sum + i.sizeOnDisk, 0) +
    downloads.reduce((sum, d) => sum + d.bytes, 0) +
    (await sumSizes(imagesDir(cacheDir), [...broken, ...partial]));

  for (const folder of partial) {
    const pid = partialOwnerPid(folder);
    if (pid !== undefined && (await pidExists(pid))) continue;
    const path = join(imagesDir(cacheDir), folder);
    await remove(
      path,
      folder,
      await treeSize(path),
      "an unfinished build or download of a run that ended",
    );
  }
  for (const folder of broken) {
    const path = join(imagesDir(cacheDir), folder);
    await remove(path, folder, await treeSize(path), "incomplete or unreadable entry");
  }
  for (const download of downloads) {
    if (await lockHeldByLiveProcess(cacheDir, download.entry)) continue;
    await remove(download.path, `${download.entry}.part`, download.bytes, "an abandoned download");
    await rm(`${download.path}.json`, { force: true });
  }

  const remaining: CachedImage[] = [];
  for (const image of images) {
    const why = options.unreachable?.(image);
    if (why && image.entry && !inUse.has(image.entry))
      await remove(image.dir, image.entry, image.sizeOnDisk, why);
    else remaining.push(image);
  }

  const keptInUse: GcReport["keptInUse"] = [];
  let total = bytesBefore - removed.reduce((sum, r) => sum + r.bytes, 0);
  if (options.maxBytes !== undefined) {
    const byAge = [...remaining].sort((a, b) => a.lastUsed.getTime() - b.lastUsed.getTime());
    for (const image of byAge) {
      if (total <= options.maxBytes) break;
      const entry = image.entry!;
      const pids = inUse.get(entry);
      if (pids) {
        keptInUse.push({ entry, pids });
        continue;
      }
      await remove(image.dir, entry, image.sizeOnDisk, leastRecentlyUsed(image));
      total -= image.sizeOnDisk;
    }
  }
  return { removed, keptInUse, bytesBefore, bytesAfter: total };
}

function leastRecentlyUsed(image: CachedImage): string {
  return `least recently used (${image.lastUsed.toISOString().replace(/\.\d+Z$/, "Z")})`;
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

async function sumSizes(dir: string, names: string[]): Promise<number> {
  let total = 0;
  for (const name of names) total += await treeSize(join(dir, name));
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
