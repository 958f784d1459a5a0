import { readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { digestFile, formatDigest, parseDigest } from "./digest.js";

/**
 * Each file a boot reads from a cache entry (disk, kernel, initrd) with its size, modification
 * time and digest when it was last known good. Checking size and time costs a stat; only a file
 * that changed on disk is hashed again, so a damaged entry is caught before it is booted without
 * hashing hundreds of megabytes on every run.
 */
export const stampFileName = "verified.json";

const fileStampSchema = z.object({
  size: z.number(),
  mtimeMs: z.number(),
  digest: z.string(),
});
const entryStampSchema = z.record(z.string(), fileStampSchema);
type EntryStamp = z.infer<typeof entryStampSchema>;

/**
 * What the check reads of an image's metadata (an ImageInfo has it): the disk's digest and
 * the boot files. Declared here so that this module does not import cache.ts, which uses it.
 */
export interface IntegrityInfo {
  digest: string;
  boot: { kernel?: string | undefined; initrd?: string | undefined };
}

/** The files of an entry that a boot reads. Pure. */
export function bootFiles(info: IntegrityInfo, diskFile: string): string[] {
  return [diskFile, info.boot.kernel, info.boot.initrd].filter((f): f is string => !!f);
}

/** Records the entry's files as good; `info.digest` is the disk's, the others are hashed now. */
export async function stampEntry(
  dir: string,
  info: IntegrityInfo,
  diskFile: string,
): Promise<void> {
  const stamp: EntryStamp = {};
  for (const file of bootFiles(info, diskFile)) {
    const path = join(dir, file);
    const digest = file === diskFile ? info.digest : formatDigest(await digestFile(path, "sha256"));
    stamp[file] = { ...(await sizeAndTime(path)), digest };
  }
  await writeStamp(dir, stamp);
}

/**
 * What is wrong with an entry's files, or undefined when they are as recorded. A file whose
 * size or time changed is hashed and compared with its recorded digest (the disk with the
 * image's digest); if it still matches, the new size and time are recorded (best effort: a
 * cache shared read-only is checked the same way next time).
 */
export async function findDamage(
  dir: string,
  info: IntegrityInfo,
  diskFile: string,
  o: { signal?: AbortSignal; onStep?: (step: string) => void } = {},
): Promise<string | undefined> {
  const stamp = await readStamp(dir);
  let changed = false;
  for (const file of bootFiles(info, diskFile)) {
    const path = join(dir, file);
    const now = await sizeAndTime(path).catch(() => undefined);
    if (!now) return `${file} is missing`;
    const known = stamp[file];
    if (known && known.size === now.size && sameTime(known.mtimeMs, now.mtimeMs)) continue;
    // The disk is checked against the image's own digest; a kernel or initrd never recorded
    // before (an entry from an older kvmci) has nothing to be checked against, and is recorded.
    const expected = file === diskFile ? info.digest : known?.digest;
    const algorithm = parseDigest(expected ?? "")?.algorithm ?? "sha256";
    o.onStep?.(
      known
        ? `checking ${file} against its digest (its size or time changed since the last check)`
        : `checking ${file} against its digest (first check by this kvmci)`,
    );
    const actual = formatDigest(await digestFile(path, algorithm, o.signal));
    if (expected && actual !== expected)
      return `${file} changed after it was cached: its digest no longer matches the one recorded then`;
    stamp[file] = { ...now, digest: actual };
    changed = true;
  }
  if (changed) await writeStamp(dir, stamp).catch(() => undefined);
  return undefined;
}

async function sizeAndTime(path: string): Promise<{ size: number; mtimeMs: number }> {
  const s = await stat(path);
  return { size: s.size, mtimeMs: s.mtimeMs };
}

/**
 * The recorded time, to the fraction of a millisecond the file system keeps; or the same
 * second when the file's time has no fraction at all, as after a restore by tar (the Actions
 * cache) that keeps whole seconds. Pure.
 */
export function sameTime(recordedMs: number, nowMs: number): boolean {
  if (recordedMs === nowMs) return true;
  return nowMs % 1000 === 0 && Math.floor(recordedMs / 1000) * 1000 === nowMs;
}

async function readStamp(dir: string): Promise<EntryStamp> {
  try {
    const parsed = entryStampSchema.safeParse(
      JSON.parse(await readFile(join(dir, stampFileName), "utf8")),
    );
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}

async function writeStamp(dir: string, stamp: EntryStamp): Promise<void> {
  const temporary = join(dir, `.${stampFileName}.${process.pid}`);
  await writeFile(temporary, `${JSON.stringify(stamp, null, 2)}\n`);
  await rename(temporary, join(dir, stampFileName));
}
