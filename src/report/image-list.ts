import type { CachedImage } from "../image/cache.js";
import type { CatalogEntry } from "../image/catalog.js";
import type { CachedSnapshot } from "../snapshot/store.js";
import { formatSize } from "../units/size.js";
import { formatTable } from "./table.js";

/** What `kvmci image ls` shows: the cache's images and snapshots, and which are in use. */
export interface ImageListing {
  cacheDir: string;
  images: CachedImage[];
  snapshots: CachedSnapshot[];
  /** Entries a running guest uses, with the ids of the processes using them. */
  inUse: Map<string, number[]>;
}

/** `kvmci image ls`: tables of images, snapshots and what each was made from. Pure. */
export function formatImageList(l: ImageListing): string {
  const { images, snapshots, cacheDir } = l;
  if (images.length === 0 && snapshots.length === 0)
    return `No images cached in ${cacheDir}. \`kvmci image pull NAME\` fetches one; \`kvmci image ls --available\` lists them.\n`;
  const lastUsed = (entry: string | undefined, date: Date) =>
    entry && l.inUse.has(entry) ? "in use now" : shortTime(date);
  const parts: string[] = [];
  if (images.length)
    parts.push(
      formatTable([
        ["NAME", "ARCH", "SOURCE", "SIZE", "DIGEST", "CREATED", "LAST USED", "ENTRY"],
        ...images.map((i) => [
          i.info.name,
          i.info.arch,
          sourceWord(i),
          formatSize(i.sizeOnDisk),
          i.info.digest.slice(0, 19),
          shortTime(new Date(i.info.createdAt)),
          lastUsed(i.entry, i.lastUsed),
          i.entry ?? "",
        ]),
      ]),
    );
  if (snapshots.length)
    parts.push(
      formatTable([
        ["SNAPSHOT OF", "SIZE", "CREATED", "LAST USED", "ENTRY"],
        ...snapshots.map((s) => [
          s.info.image.name,
          formatSize(s.sizeOnDisk),
          shortTime(new Date(s.info.createdAt)),
          lastUsed(s.entry, s.lastUsed),
          s.entry,
        ]),
      ]),
    );
  const madeFrom = [
    ...images.flatMap((i) => {
      const source = i.info.source;
      if (source.kind !== "prepared") return [];
      const what = [
        source.packages.length ? `packages ${source.packages.join(" ")}` : "",
        `provisioning ${source.key.slice(0, 12)}`,
      ].filter(Boolean);
      return [[i.entry ?? i.dir, `${source.base} + ${what.join(", ")}`]];
    }),
    ...snapshots.map((s) => {
      const m = s.info.made;
      return [
        s.entry,
        [
          s.info.image.entry ?? s.info.image.name,
          `${m.arch ?? "x86_64"}, ${m.accel}, ${m.cpus} CPU${m.cpus === 1 ? "" : "s"}, ${formatSize(m.memoryBytes)} memory`,
          m.diskBytes ? `${formatSize(m.diskBytes)} disk` : "",
          `network ${m.network}, ${m.boot} boot, ${m.qemuVersion.replace(/^QEMU emulator version /, "QEMU ")}`,
          m.hostCpu ? `host CPU ${m.hostCpu}` : "",
        ]
          .filter(Boolean)
          .join(", "),
      ];
    }),
  ];
  if (madeFrom.length) parts.push(formatTable([["ENTRY", "MADE FROM"], ...madeFrom]));
  const count = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  return `${parts.join("\n")}${count(images.length, "image")}, ${count(snapshots.length, "snapshot")}, ${formatSize(totalBytes(l))} in ${cacheDir}\n`;
}

/**
 * `kvmci image ls --json`: the same as data, sizes in bytes and times in ISO 8601; what a
 * running guest uses has the ids of its processes in `inUseBy`. Pure.
 */
export function imageListJson(l: ImageListing) {
  const inUseBy = (entry: string | undefined) => (entry ? (l.inUse.get(entry) ?? []) : []);
  return {
    version: 1,
    cacheDir: l.cacheDir,
    images: l.images.map((i) => {
      const source = i.info.source;
      return {
        name: i.info.name,
        arch: i.info.arch,
        entry: i.entry ?? null,
        source: sourceWord(i),
        digest: i.info.digest,
        format: i.info.format,
        user: i.info.user,
        sizeBytes: i.sizeOnDisk,
        createdAt: i.info.createdAt,
        lastUsedAt: i.lastUsed.toISOString(),
        inUseBy: inUseBy(i.entry),
        ...(source.kind === "prepared"
          ? {
              madeFrom: {
                base: source.base,
                packages: source.packages,
                provisioning: source.key,
              },
            }
          : {}),
      };
    }),
    snapshots: l.snapshots.map((s) => ({
      entry: s.entry,
      image: s.info.image,
      sizeBytes: s.sizeOnDisk,
      createdAt: s.info.createdAt,
      lastUsedAt: s.lastUsed.toISOString(),
      inUseBy: inUseBy(s.entry),
      madeWith: s.info.made,
    })),
    totalBytes: totalBytes(l),
  };
}

/** What `kvmci image ls --available` shows of the catalog, with whether each is cached. */
export interface CatalogListing {
  entries: CatalogEntry[];
  cached: CachedImage[];
}

/** `kvmci image ls --available`. Pure. */
export function formatCatalogList(l: CatalogListing): string {
  return formatTable([
    ["NAME", "ARCH", "KIND", "USER", "CACHED", "DESCRIPTION"],
    ...l.entries.map((e) => [
      e.name,
      e.arch,
      e.kind,
      e.user,
      isCached(e, l.cached) ? "yes" : "no",
      e.description,
    ]),
  ]);
}

/** `kvmci image ls --available --json`. Pure. */
export function catalogListJson(l: CatalogListing) {
  return {
    version: 1,
    catalog: l.entries.map((e) => ({
      name: e.name,
      arch: e.arch,
      kind: e.kind,
      user: e.user,
      cached: isCached(e, l.cached),
      description: e.description,
    })),
  };
}

function isCached(entry: CatalogEntry, cached: CachedImage[]): boolean {
  return cached.some(
    (c) => c.info.name === entry.name && c.info.arch === entry.arch && c.info.source.kind !== "url",
  );
}

/** How an image came to the cache, in the words of the SOURCE column. */
function sourceWord(image: CachedImage): string {
  return image.info.source.kind === "catalog" ? "download" : image.info.source.kind;
}

function totalBytes(l: ImageListing): number {
  return [...l.images, ...l.snapshots].reduce((sum, i) => sum + i.sizeOnDisk, 0);
}

function shortTime(date: Date): string {
  return date
    .toISOString()
    .replace(/:\d\d(\.\d+)?Z$/, "Z")
    .replace("T", " ");
}
