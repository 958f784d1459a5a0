import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";

/** Files inside one cached image folder. */
export const ImageFiles = {
  disk: "disk.qcow2",
  kernel: "vmlinuz",
  initrd: "initrd.img",
  /** Written last: a folder without it is an incomplete entry. */
  info: "image.json",
} as const;

const partialPrefix = ".partial-";

const imageInfoSchema = z.object({
  name: z.string(),
  arch: z.string(),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  format: z.literal("qcow2"),
  user: z.string(),
  virtualSize: z.number(),
  source: z.object({ kind: z.literal("recipe"), key: z.string() }),
  boot: z.object({
    firmware: z.literal("bios"),
    kernel: z.string().optional(),
    initrd: z.string().optional(),
    cmdline: z.string().optional(),
  }),
  builtAt: z.string(),
});

export type ImageInfo = z.infer<typeof imageInfoSchema>;

/** An image in the cache, ready to be used as a backing file. */
export interface CachedImage {
  info: ImageInfo;
  dir: string;
  diskPath: string;
  /** Bytes on the host's disk for the whole folder. */
  sizeOnDisk: number;
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
  return join(cacheDir, "images");
}

export function imageEntryName(name: string, key: string): string {
  return `${name}-${key.slice(0, 16)}`;
}

export async function readCachedImage(dir: string): Promise<CachedImage | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, ImageFiles.info), "utf8");
  } catch {
    return undefined;
  }
  const parsed = imageInfoSchema.safeParse(JSON.parse(text));
  if (!parsed.success) return undefined;
  const diskPath = join(dir, ImageFiles.disk);
  try {
    await stat(diskPath);
  } catch {
    return undefined;
  }
  return { info: parsed.data, dir, diskPath, sizeOnDisk: await folderSize(dir) };
}

export async function findCachedRecipeImage(
  cacheDir: string,
  name: string,
  key: string,
): Promise<CachedImage | undefined> {
  return readCachedImage(join(imagesDir(cacheDir), imageEntryName(name, key)));
}

export async function listCachedImages(cacheDir: string): Promise<CachedImage[]> {
  let entries: string[];
  try {
    entries = await readdir(imagesDir(cacheDir));
  } catch {
    return [];
  }
  const images: CachedImage[] = [];
  for (const entry of entries.sort()) {
    if (entry.startsWith(partialPrefix)) continue;
    const image = await readCachedImage(join(imagesDir(cacheDir), entry));
    if (image) images.push(image);
  }
  return images;
}

/** A private folder for an entry being written; only `commitEntry` makes it visible. */
export async function createPartialEntry(cacheDir: string, entryName: string): Promise<string> {
  const dir = join(
    imagesDir(cacheDir),
    `${partialPrefix}${entryName}-${process.pid}-${Date.now()}`,
  );
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/**
 * Moves a finished partial folder into place with one rename. If another process finished the
 * same entry first, ours is dropped and theirs is kept.
 */
export async function commitEntry(
  partialDir: string,
  cacheDir: string,
  entryName: string,
): Promise<string> {
  const finalDir = join(imagesDir(cacheDir), entryName);
  // A folder without image.json at the final name is debris from an older kvmci; clear it.
  if (!(await readCachedImage(finalDir))) await rm(finalDir, { recursive: true, force: true });
  try {
    await rename(partialDir, finalDir);
  } catch (error) {
    if (
      (error as NodeJS.ErrnoException).code !== "ENOTEMPTY" &&
      (error as NodeJS.ErrnoException).code !== "EEXIST"
    )
      throw error;
    await rm(partialDir, { recursive: true, force: true });
  }
  return finalDir;
}

export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20, signal }))
    hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}

async function folderSize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir)) {
    const s = await stat(join(dir, entry));
    total += s.blocks * 512;
  }
  return total;
}
