import { scanCache, type CachedImage } from "../image/cache.js";
import { scanSnapshots, type CachedSnapshot } from "../snapshot/store.js";

/** One complete thing in the cache that can be used, aged and removed as a whole. */
export interface CacheItem {
  kind: "image" | "prepared" | "snapshot";
  entry: string;
  dir: string;
  sizeOnDisk: number;
  lastUsed: Date;
  /** The entry this one is a qcow2 layer over: a prepared image's base, a snapshot's image. */
  parent: string | undefined;
  /** Why it cannot be used any more, when that is known without looking further. */
  orphaned?: string;
}

export function imageItem(image: CachedImage): CacheItem {
  const source = image.info.source;
  return {
    kind: source.kind === "prepared" ? "prepared" : "image",
    entry: image.entry ?? image.dir,
    dir: image.dir,
    sizeOnDisk: image.sizeOnDisk,
    lastUsed: image.lastUsed,
    parent: source.kind === "prepared" && !source.base.startsWith("/") ? source.base : undefined,
  };
}

export function snapshotItem(snapshot: CachedSnapshot): CacheItem {
  return {
    kind: "snapshot",
    entry: snapshot.entry,
    dir: snapshot.dir,
    sizeOnDisk: snapshot.sizeOnDisk,
    lastUsed: snapshot.lastUsed,
    parent: snapshot.info.image.entry,
  };
}

/**
 * Every image, prepared image and snapshot, with the ones whose parent is gone marked as
 * orphaned (their disk would point at nothing), and the folders that are not complete entries.
 */
export async function scanCacheItems(cacheDir: string): Promise<{
  items: CacheItem[];
  images: CachedImage[];
  snapshots: CachedSnapshot[];
  broken: { folder: "images" | "snapshots"; name: string }[];
  partial: { folder: "images" | "snapshots"; name: string }[];
}> {
  const imageScan = await scanCache(cacheDir);
  const snapshotScan = await scanSnapshots(cacheDir);
  const items = [...imageScan.images.map(imageItem), ...snapshotScan.snapshots.map(snapshotItem)];
  // A parent that is itself orphaned orphans its children too: resolve until nothing changes.
  for (let changed = true; changed;) {
    changed = false;
    const usable = new Set(items.filter((i) => !i.orphaned).map((i) => i.entry));
    for (const item of items) {
      if (item.orphaned || item.parent === undefined || usable.has(item.parent)) continue;
      item.orphaned = `the image it was made from (${item.parent}) is no longer cached`;
      changed = true;
    }
  }
  const tag = (folder: "images" | "snapshots") => (name: string) => ({ folder, name });
  return {
    items,
    images: imageScan.images,
    snapshots: snapshotScan.snapshots,
    broken: [...imageScan.broken.map(tag("images")), ...snapshotScan.broken.map(tag("snapshots"))],
    partial: [
      ...imageScan.partial.map(tag("images")),
      ...snapshotScan.partial.map(tag("snapshots")),
    ],
  };
}

/** The item and everything layered over it, children before their parents. Pure. */
export function withDependents(items: CacheItem[], entry: string): CacheItem[] {
  const out: CacheItem[] = [];
  const visit = (e: string) => {
    for (const child of items.filter((i) => i.parent === e)) visit(child.entry);
    const self = items.find((i) => i.entry === e);
    if (self && !out.includes(self)) out.push(self);
  };
  visit(entry);
  return out;
}

/** When anything in the item's tree was last used. Pure. */
export function lastUsedInTree(items: CacheItem[], entry: string): number {
  return Math.max(...withDependents(items, entry).map((i) => i.lastUsed.getTime()));
}
