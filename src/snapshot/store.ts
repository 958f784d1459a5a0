import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { arches } from "../units/arch.js";
import { cachePath } from "../cache/layout.js";
import { digestFile, digestZeroBlocks } from "../image/digest.js";
import {
  createPartialFolder,
  folderSize,
  ImageFiles,
  publishEntry,
  scanEntries,
} from "../image/cache.js";

/** Files inside one snapshot folder. */
export const SnapshotFiles = {
  /** QEMU's migration stream of the stopped guest: its devices (its memory is in `ram`). */
  memory: "memory.bin",
  /**
   * The guest's memory, a file as large as it with holes where it never wrote: restored guests
   * map it copy-on-write (snapshot format 7 on).
   */
  ram: "memory.ram",
  /** The guest's disk as it was when the memory was saved: a qcow2 over the image. */
  disk: "disk.qcow2",
  lastUsed: ImageFiles.lastUsed,
  /** Written last. */
  info: "snapshot.json",
} as const;

const fileRecord = z.object({ bytes: z.number(), sha256: z.string().regex(/^[0-9a-f]{64}$/) });

const snapshotInfoSchema = z.object({
  key: z.string(),
  image: z.object({ name: z.string(), entry: z.string().optional(), digest: z.string() }),
  /** What the key was made from, for people: `kvmci image ls` shows it. */
  made: z.object({
    /** Absent in snapshots saved before kvmci ran arm64 guests: those are x86_64. */
    arch: z.enum(arches).optional(),
    accel: z.enum(["kvm", "tcg"]),
    cpus: z.number(),
    memoryBytes: z.number(),
    diskBytes: z.number().optional(),
    boot: z.enum(["firmware", "kernel"]),
    network: z.enum(["user", "none"]),
    qemuVersion: z.string(),
    hostCpu: z.string().optional(),
  }),
  user: z.string(),
  /** The user's uid and gid in the saved guest: a workspace disk's files are theirs. */
  userIds: z.object({ uid: z.number().int(), gid: z.number().int() }).optional(),
  /** The saved guest's SSH host key: every restored guest presents it. */
  hostPublicKey: z.string(),
  /** `ram`'s sha256 is digestZeroBlocks': its empty blocks are not hashed. */
  files: z.object({ memory: fileRecord, disk: fileRecord, ram: fileRecord.optional() }),
  saveMs: z.number(),
  createdAt: z.string(),
});

export type SnapshotInfo = z.infer<typeof snapshotInfoSchema>;

export interface CachedSnapshot {
  info: SnapshotInfo;
  dir: string;
  entry: string;
  memoryPath: string;
  /** Undefined in snapshots whose memory is in the migration stream (before format 7). */
  ramPath: string | undefined;
  diskPath: string;
  sizeOnDisk: number;
  lastUsed: Date;
}

export function snapshotsDir(cacheDir: string): string {
  return cachePath(cacheDir, "snapshots");
}

/** `<image name>-snapshot-<first 16 hex digits of the key>`. */
export function snapshotEntryName(imageName: string, key: string): string {
  return `${imageName}-snapshot-${key.slice(0, 16)}`;
}

export async function readSnapshot(dir: string): Promise<CachedSnapshot | undefined> {
  let info: SnapshotInfo;
  try {
    const parsed = snapshotInfoSchema.safeParse(
      JSON.parse(await readFile(join(dir, SnapshotFiles.info), "utf8")),
    );
    if (!parsed.success) return undefined;
    info = parsed.data;
  } catch {
    return undefined;
  }
  const memoryPath = join(dir, SnapshotFiles.memory);
  const diskPath = join(dir, SnapshotFiles.disk);
  const ramPath = info.files.ram ? join(dir, SnapshotFiles.ram) : undefined;
  try {
    await stat(memoryPath);
    await stat(diskPath);
    if (ramPath) await stat(ramPath);
  } catch {
    return undefined;
  }
  const lastUsed = await stat(join(dir, SnapshotFiles.lastUsed)).then(
    (s) => s.mtime,
    () => new Date(info.createdAt),
  );
  return {
    info,
    dir,
    entry: dir.split("/").pop() ?? dir,
    memoryPath,
    ramPath,
    diskPath,
    sizeOnDisk: await folderSize(dir),
    lastUsed,
  };
}

export async function findSnapshot(
  cacheDir: string,
  entry: string,
): Promise<CachedSnapshot | undefined> {
  return readSnapshot(join(snapshotsDir(cacheDir), entry));
}

/** Complete snapshots, and the folder names of unreadable and unfinished ones. */
export async function scanSnapshots(
  cacheDir: string,
): Promise<{ snapshots: CachedSnapshot[]; broken: string[]; partial: string[] }> {
  const { entries, broken, partial } = await scanEntries(snapshotsDir(cacheDir), readSnapshot);
  return { snapshots: entries, broken, partial };
}

export function createPartialSnapshot(cacheDir: string, entry: string): Promise<string> {
  return createPartialFolder(snapshotsDir(cacheDir), entry);
}

/**
 * Records the digests of the saved files, writes snapshot.json and moves it into place.
 * `ramSha256`: the memory file's digest, taken as it was written (it is gigabytes).
 */
export async function commitSnapshot(
  partialDir: string,
  cacheDir: string,
  entry: string,
  info: Omit<SnapshotInfo, "files">,
  ramSha256?: string,
): Promise<CachedSnapshot> {
  const ramPath = join(partialDir, SnapshotFiles.ram);
  const files = {
    memory: await fileRecordOf(join(partialDir, SnapshotFiles.memory)),
    disk: await fileRecordOf(join(partialDir, SnapshotFiles.disk)),
    ram: ramSha256
      ? { bytes: (await stat(ramPath)).size, sha256: ramSha256 }
      : await fileRecordOf(ramPath, undefined, true),
  };
  const full: SnapshotInfo = { ...info, files };
  await writeFile(join(partialDir, SnapshotFiles.info), `${JSON.stringify(full, null, 2)}\n`);
  // Just hashed: the first restore need not hash them again (the folder's move keeps inodes).
  const stamps: Stamps = {};
  for (const name of ["memory", "disk", "ram"] as const) {
    const now = await stat(join(partialDir, SnapshotFiles[name]));
    stamps[name] = { size: now.size, mtimeMs: now.mtimeMs, ino: now.ino };
  }
  await writeFile(join(partialDir, stampFile), JSON.stringify(stamps), { mode: 0o600 });
  return publishEntry(partialDir, join(snapshotsDir(cacheDir), entry), readSnapshot);
}

/**
 * Checks both files against the digests recorded when they were saved: QEMU would load a
 * damaged memory file without noticing, and the guest would then run on corrupt memory. A file
 * whose size, modification time and inode are those recorded when it was last found good is
 * not hashed again (hashing a few hundred MiB took half a second of every warm start, on two
 * cores QEMU also wants); one that changed is hashed and compared. Returns what is wrong, or
 * undefined.
 */
export async function verifySnapshot(
  snapshot: CachedSnapshot,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const stamps = await readStamps(snapshot.dir);
  let restamp = false;
  const files = [
    ["memory", snapshot.memoryPath],
    ["disk", snapshot.diskPath],
    ...(snapshot.ramPath ? ([["ram", snapshot.ramPath]] as const) : []),
  ] as const;
  for (const [name, path] of files) {
    const expected = snapshot.info.files[name];
    if (!expected) return `its ${name} file is not recorded`;
    const now = await stat(path).catch(() => undefined);
    if (!now) return `its ${name} file cannot be read`;
    const stamp = stamps[name];
    if (
      stamp &&
      now.size === expected.bytes &&
      now.size === stamp.size &&
      now.mtimeMs === stamp.mtimeMs &&
      now.ino === stamp.ino
    )
      continue;
    const actual = await fileRecordOf(path, signal, name === "ram").catch(() => undefined);
    if (!actual) return `its ${name} file cannot be read`;
    if (actual.bytes !== expected.bytes || actual.sha256 !== expected.sha256)
      return `its ${name} file does not match the digest recorded when it was saved`;
    stamps[name] = { size: now.size, mtimeMs: now.mtimeMs, ino: now.ino };
    restamp = true;
  }
  if (restamp)
    await writeFile(join(snapshot.dir, stampFile), JSON.stringify(stamps), { mode: 0o600 }).catch(
      () => undefined,
    );
  return undefined;
}

/** The files as they were when last found good: size, modification time, inode. */
const stampFile = "verified.json";
type Stamps = Partial<
  Record<"memory" | "disk" | "ram", { size: number; mtimeMs: number; ino: number }>
>;

async function readStamps(dir: string): Promise<Stamps> {
  try {
    return JSON.parse(await readFile(join(dir, stampFile), "utf8")) as Stamps;
  } catch {
    return {};
  }
}

/** Size and SHA-256; `zeroBlocks`: the memory file's digest, its empty blocks not hashed. */
async function fileRecordOf(
  path: string,
  signal?: AbortSignal,
  zeroBlocks = false,
): Promise<{ bytes: number; sha256: string }> {
  const { size } = await stat(path);
  const hex = zeroBlocks
    ? await digestZeroBlocks(path, signal)
    : (await digestFile(path, "sha256", signal)).hex;
  return { bytes: size, sha256: hex };
}
