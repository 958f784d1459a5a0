import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { cachePath } from "../cache/layout.js";
import { arches, type Arch } from "../units/arch.js";
import { findDamage, stampEntry } from "./integrity.js";

/** Files inside one cached image folder. */
export const ImageFiles = {
  disk: "disk.qcow2",
  kernel: "vmlinuz",
  initrd: "initrd.img",
  /** Touched each time a run uses the image: `gc` removes the least recently used first. */
  lastUsed: "last-used",
  /** Written last: a folder without it is an incomplete entry. */
  info: "image.json",
} as const;

/** The disk's file name in an entry: raw images keep their format, and say so. */
export function diskFileName(format: "qcow2" | "raw"): string {
  return format === "raw" ? "disk.raw" : ImageFiles.disk;
}

export const partialPrefix = ".partial-";

const digestText = z.string().regex(/^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/);

const imageInfoSchema = z.object({
  name: z.string(),
  arch: z.enum(arches),
  /** Of the disk file as stored: for downloads, the published (or pinned) digest it matched. */
  digest: digestText,
  format: z.enum(["qcow2", "raw"]),
  user: z.string(),
  virtualSize: z.number(),
  source: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("recipe"), key: z.string() }),
    z.object({ kind: z.literal("catalog"), url: z.string(), checksums: z.string() }),
    z.object({ kind: z.literal("url"), url: z.string() }),
    z.object({ kind: z.literal("file"), path: z.string() }),
    /** An image with a project's provisioning applied; its disk is a qcow2 over `base`. */
    z.object({
      kind: z.literal("prepared"),
      key: z.string(),
      base: z.string(),
      baseDigest: z.string(),
      packages: z.array(z.string()),
    }),
  ]),
  boot: z.object({
    /** `none`: no bootloader in the disk; it boots only with its kernel (the arm64 recipes). */
    firmware: z.enum(["bios", "uefi", "none"]),
    kernel: z.string().optional(),
    initrd: z.string().optional(),
    cmdline: z.string().optional(),
  }),
  createdAt: z.string(),
});

export type ImageInfo = z.infer<typeof imageInfoSchema>;

/** How a disk of this architecture boots through firmware: SeaBIOS, or UEFI on arm64. */
export function firmwareFor(arch: Arch): "bios" | "uefi" {
  return arch === "x86_64" ? "bios" : "uefi";
}

/** An image ready to be used as a backing file: a cache entry, or a user's own file. */
export interface CachedImage {
  info: ImageInfo;
  /** The folder holding the disk (and kernel, if any). */
  dir: string;
  diskPath: string;
  /** The cache entry's folder name under images/; undefined for a user's own file. */
  entry: string | undefined;
  /** Bytes on the host's disk for the whole folder. */
  sizeOnDisk: number;
  /** When a run last used it (or when it was made). */
  lastUsed: Date;
}

/** `KVMCI_CACHE_DIR`, else `$XDG_CACHE_HOME/kvmci`, else `~/.cache/kvmci`. */
export function resolveCacheDir(env: NodeJS.ProcessEnv, home = homedir()): string {
  if (env.KVMCI_CACHE_DIR) return env.KVMCI_CACHE_DIR;
  const xdg =
    env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith("/")
      ? env.XDG_CACHE_HOME
      : join(home, ".cache");
  return join(xdg, "kvmci");
}

export function imagesDir(cacheDir: string): string {
  return cachePath(cacheDir, "images");
}

/** `<name>-<first 16 hex digits of the key or digest>`: one folder per content. */
export function imageEntryName(name: string, keyOrDigest: string): string {
  const hex = keyOrDigest.replace(/^sha(256|512):/, "");
  return `${name}-${hex.slice(0, 16)}`;
}

export async function readCachedImage(dir: string): Promise<CachedImage | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, ImageFiles.info), "utf8");
  } catch {
    return undefined;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = imageInfoSchema.safeParse(data);
  if (!parsed.success) return undefined;
  const diskPath = join(dir, diskFileName(parsed.data.format));
  try {
    await stat(diskPath);
  } catch {
    return undefined;
  }
  const lastUsed = await stat(join(dir, ImageFiles.lastUsed)).then(
    (s) => s.mtime,
    () => new Date(parsed.data.createdAt),
  );
  return {
    info: parsed.data,
    dir,
    diskPath,
    entry: dir.split("/").pop(),
    sizeOnDisk: await folderSize(dir),
    lastUsed,
  };
}

export async function findCachedEntry(
  cacheDir: string,
  entry: string,
): Promise<CachedImage | undefined> {
  return readCachedImage(join(imagesDir(cacheDir), entry));
}

/**
 * A cache entry that is whole and unchanged since it was cached, or undefined. An entry that is
 * not (a file missing or changed, image.json unreadable) is removed with a note, so the caller
 * fetches or builds it again instead of booting from it.
 */
export async function findIntactEntry(
  cacheDir: string,
  entry: string,
  o: { signal?: AbortSignal; onNote?: (message: string) => void; onStep?: (step: string) => void },
): Promise<CachedImage | undefined> {
  const dir = join(imagesDir(cacheDir), entry);
  const image = await readCachedImage(dir);
  let damage: string | undefined;
  if (image) {
    damage = await findDamage(dir, image.info, diskFileName(image.info.format), o);
    if (!damage) return image;
  } else {
    const exists = await stat(dir).then(
      () => true,
      () => false,
    );
    if (!exists) return undefined;
    damage = `${ImageFiles.info} or the disk is missing or unreadable`;
  }
  await rm(dir, { recursive: true, force: true });
  o.onNote?.(`the cached image ${entry} was damaged (${damage}); removed it, it is made again`);
  return undefined;
}

/** Complete entries, sorted by folder name, and the names of folders that are not. */
export async function scanCache(
  cacheDir: string,
): Promise<{ images: CachedImage[]; broken: string[]; partial: string[] }> {
  const { entries, broken, partial } = await scanEntries(imagesDir(cacheDir), readCachedImage);
  return { images: entries, broken, partial };
}

/**
 * The entries of one cache folder read with `read`, sorted by name; folders being written
 * (`.partial-…`) and folders `read` cannot make sense of are listed apart.
 */
export async function scanEntries<T>(
  dir: string,
  read: (path: string) => Promise<T | undefined>,
): Promise<{ entries: T[]; broken: string[]; partial: string[] }> {
  const found: T[] = [];
  const broken: string[] = [];
  const partial: string[] = [];
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names.sort()) {
    if (name.startsWith(partialPrefix)) {
      partial.push(name);
      continue;
    }
    const entry = await read(join(dir, name));
    if (entry) found.push(entry);
    else broken.push(name);
  }
  return { entries: found, broken, partial };
}

export async function listCachedImages(cacheDir: string): Promise<CachedImage[]> {
  return (await scanCache(cacheDir)).images;
}

/**
 * Marks an entry as used now, for least-recently-used clean-up. Best effort: a cache shared
 * read-only (another user's) still boots, it only ages as if unused.
 */
export async function touchLastUsed(image: CachedImage): Promise<void> {
  if (image.entry) await touchFolder(image.dir);
}

/** A private folder for an entry being written; only `commitEntry` makes it visible. */
export async function createPartialEntry(cacheDir: string, entryName: string): Promise<string> {
  return createPartialFolder(imagesDir(cacheDir), entryName);
}

/** A private folder under `parent` that `gc` recognises as unfinished work of this process. */
export async function createPartialFolder(parent: string, entryName: string): Promise<string> {
  const dir = join(parent, `${partialPrefix}${entryName}-${process.pid}-${Date.now()}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Pure: the pid that wrote a partial folder, from its name. */
export function partialOwnerPid(folder: string): number | undefined {
  const match = /-(\d+)-\d+$/.exec(folder);
  return folder.startsWith(partialPrefix) && match ? Number(match[1]) : undefined;
}

/**
 * Writes image.json into a finished partial folder and moves it into place with one rename. If
 * another process finished the same entry first, ours is dropped and theirs is kept.
 */
export async function commitEntry(
  partialDir: string,
  cacheDir: string,
  entryName: string,
  info: ImageInfo,
): Promise<CachedImage> {
  await stampEntry(partialDir, info, diskFileName(info.format));
  await writeFile(join(partialDir, ImageFiles.info), `${JSON.stringify(info, null, 2)}\n`);
  return publishEntry(partialDir, join(imagesDir(cacheDir), entryName), readCachedImage);
}

/**
 * Moves a finished partial folder to its final name with one rename. If another process
 * finished the same entry first, ours is dropped and theirs is kept; a folder at the final
 * name that `readBack` cannot read is debris and is replaced.
 */
export async function publishEntry<T>(
  partialDir: string,
  finalDir: string,
  readBack: (dir: string) => Promise<T | undefined>,
): Promise<T> {
  if (!(await readBack(finalDir))) await rm(finalDir, { recursive: true, force: true });
  try {
    await rename(partialDir, finalDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST") throw error;
    await rm(partialDir, { recursive: true, force: true });
  }
  const entry = await readBack(finalDir);
  if (!entry) throw new Error(`The cache entry ${finalDir} could not be read back`);
  return entry;
}

/** Marks a cache folder as used now (its `last-used` file). Best effort, like touchLastUsed. */
export async function touchFolder(dir: string): Promise<void> {
  const path = join(dir, ImageFiles.lastUsed);
  const now = new Date();
  await utimes(path, now, now)
    .catch(() => writeFile(path, ""))
    .catch(() => undefined);
}

export async function folderSize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir)) {
    const s = await stat(join(dir, entry));
    total += s.blocks * 512;
  }
  return total;
}
