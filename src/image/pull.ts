import { mkdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { entriesInUse } from "../cache/in-use.js";
import { cachePath } from "../cache/layout.js";
import { inspectDisk } from "../disk/inspect.js";
import { KvmciError } from "../errors.js";
import {
  firmwareFor,
  commitEntry,
  createPartialEntry,
  diskFileName,
  findIntactEntry,
  imageEntryName,
  listCachedImages,
  type CachedImage,
  type ImageInfo,
} from "./cache.js";
import type { DownloadEntry } from "./catalog.js";
import { findChecksum, listChecksumNames } from "./checksums.js";
import { formatDigest, type Digest } from "./digest.js";
import { downloadVerified, fetchText } from "./download.js";
import { withEntryLock } from "./entry-lock.js";
import { genericUser } from "./local-file.js";
import { urlEntryName } from "./reference.js";
import type { ImageOrigin, ResolveOptions } from "./resolve-options.js";

type Pulled = { image: CachedImage; origin: ImageOrigin };

/**
 * Fetches a catalog image's published checksum list, and downloads the image unless the cache
 * already has that exact digest. Older copies of the same image are removed afterwards, unless
 * a running guest uses them.
 */
export async function pullCatalogImage(
  entry: DownloadEntry,
  options: ResolveOptions,
): Promise<Pulled> {
  const fileName = decodeURIComponent(new URL(entry.url).pathname.split("/").pop() ?? "");
  options.onStep?.(`fetching ${entry.checksums}`);
  const list = await fetchText(entry.checksums, {
    http: options.http,
    signal: options.signal,
    onRetry: options.onNote,
  });
  const expected = findChecksum(list, fileName);
  if (!expected) {
    const names = listChecksumNames(list);
    throw new KvmciError(
      "download",
      `The checksum list ${entry.checksums} has no digest for ${fileName}`,
      {
        details: names.length
          ? [`it lists: ${names.slice(0, 8).join(", ")}${names.length > 8 ? ", …" : ""}`]
          : ["it lists no files kvmci can read (expected SHA256SUMS/SHA512SUMS or CHECKSUM lines)"],
        hint: `The catalog entry ${entry.file} may be out of date: the distribution may have moved or renamed the image.`,
      },
    );
  }
  const pulled = await downloadIntoCache(
    {
      entryName: imageEntryName(entry.name, expected.hex),
      url: entry.url,
      expected,
      declaredFormat: entry.format,
      info: (format, virtualSize) => ({
        name: entry.name,
        arch: entry.arch,
        digest: formatDigest(expected),
        format,
        user: entry.user,
        virtualSize,
        source: { kind: "catalog", url: entry.url, checksums: entry.checksums },
        boot: { firmware: entry.boot },
        createdAt: new Date().toISOString(),
      }),
    },
    options,
  );
  await removeSuperseded(entry.name, pulled.image, options);
  return pulled;
}

/** Downloads an image from a URL pinned to a digest, once. */
export async function pullUrlImage(
  url: string,
  digest: Digest,
  options: ResolveOptions,
): Promise<Pulled> {
  const name = decodeURIComponent(new URL(url).pathname.split("/").pop() || "image");
  return downloadIntoCache(
    {
      entryName: urlEntryName(url, digest),
      url,
      expected: digest,
      declaredFormat: undefined,
      info: (format, virtualSize) => ({
        name,
        arch: options.arch,
        digest: formatDigest(digest),
        format,
        user: genericUser,
        virtualSize,
        source: { kind: "url", url },
        boot: { firmware: firmwareFor(options.arch) },
        createdAt: new Date().toISOString(),
      }),
    },
    options,
  );
}

interface DownloadSpec {
  entryName: string;
  url: string;
  expected: Digest;
  /** The format the catalog promises; undefined for a URL, which may be qcow2 or raw. */
  declaredFormat: "qcow2" | "raw" | undefined;
  info: (format: "qcow2" | "raw", virtualSize: number) => ImageInfo;
}

/**
 * Under the entry's lock: download (resuming an earlier partial file), verify the digest,
 * check it really is a disk image, then move it into the cache with one rename.
 */
async function downloadIntoCache(spec: DownloadSpec, options: ResolveOptions): Promise<Pulled> {
  const cached = await findIntactEntry(options.cacheDir, spec.entryName, options);
  if (cached) return { image: cached, origin: "cached" };
  return withEntryLock(options, spec.entryName, async () => {
    const again = await findIntactEntry(options.cacheDir, spec.entryName, options);
    if (again) return { image: again, origin: "cached" };
    const downloads = cachePath(options.cacheDir, "downloads");
    await mkdir(downloads, { recursive: true, mode: 0o700 });
    const part = join(downloads, `${spec.entryName}.part`);
    options.onNote?.(`downloading ${spec.url}`);
    await downloadVerified(spec.url, part, spec.expected, {
      http: options.http,
      signal: options.signal,
      onProgress: (progress) => options.onTransfer?.(spec.entryName, progress),
      onRetry: options.onNote,
    });
    options.onStep?.("checking the disk image");
    let disk;
    try {
      disk = await inspectDisk(part, { allowBacking: false, what: spec.url });
      if (spec.declaredFormat && disk.format !== spec.declaredFormat)
        throw new KvmciError(
          "imageNotDisk",
          `${spec.url} is ${disk.format}, but its catalog entry says ${spec.declaredFormat}`,
          { hint: "The catalog entry needs fixing; the file was deleted." },
        );
    } catch (error) {
      await rm(part, { force: true });
      throw error;
    }
    const partial = await createPartialEntry(options.cacheDir, spec.entryName);
    try {
      await rename(part, join(partial, diskFileName(disk.format)));
      const image = await commitEntry(
        partial,
        options.cacheDir,
        spec.entryName,
        spec.info(disk.format, disk.virtualSize),
      );
      return { image, origin: "downloaded" as const };
    } catch (error) {
      await rm(partial, { recursive: true, force: true });
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOSPC" || code === "EDQUOT")
        throw new KvmciError("hostWrite", `No space left in the cache ${options.cacheDir}`, {
          hint: "Free space there (`kvmci gc --max-size SIZE`), or set KVMCI_CACHE_DIR.",
          cause: error,
        });
      throw error;
    }
  });
}

async function removeSuperseded(
  name: string,
  keep: CachedImage,
  options: ResolveOptions,
): Promise<void> {
  const inUse = await entriesInUse(options.cacheDir);
  for (const image of await listCachedImages(options.cacheDir)) {
    if (image.info.source.kind !== "catalog" || image.info.name !== name) continue;
    if (image.info.arch !== keep.info.arch) continue;
    if (image.entry === keep.entry || !image.entry || inUse.has(image.entry)) continue;
    await rm(image.dir, { recursive: true, force: true });
    options.onNote?.(`removed the older copy of ${name} (${image.info.digest.slice(0, 19)}…)`);
  }
}
