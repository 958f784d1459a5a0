import { createHash } from "node:crypto";
import { mkdir, readFile, realpath, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { cachePath } from "../cache/layout.js";
import { inspectDisk } from "../disk/inspect.js";
import { KvmciError } from "../errors.js";
import { firmwareFor, type CachedImage } from "./cache.js";
import type { Arch } from "../units/arch.js";
import { digestFile, formatDigest } from "./digest.js";

/** The user kvmci creates in images it knows nothing about (local files and URLs). */
export const genericUser = "kvmci";

interface RememberedDigest {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
  digest: string;
}

/**
 * A user's own disk image, used in place (never copied; the guest writes only to its overlay).
 * The format comes from `qemu-img info`, never from the file name. Its digest is computed once
 * and remembered while the file's size and modification time stay the same.
 */
export async function localFileImage(
  path: string,
  options: {
    cacheDir: string;
    /** What the file is taken to be for (its bytes do not say): the run's architecture. */
    arch: Arch;
    signal?: AbortSignal;
    onStep?: (step: string) => void;
  },
): Promise<CachedImage> {
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    throw new KvmciError("imageUnknown", `No image file at ${path}`, {
      hint: "Check the path; for a catalog image give its name (`kvmci image ls --available`).",
    });
  }
  const info = await inspectDisk(real, { allowBacking: true, what: path });
  const s = await stat(real);
  const memo = cachePath(
    options.cacheDir,
    "fileDigests",
    `${createHash("sha256").update(real).digest("hex").slice(0, 32)}.json`,
  );
  let digest: string | undefined;
  try {
    const known = JSON.parse(await readFile(memo, "utf8")) as RememberedDigest;
    if (
      known.path === real &&
      known.size === s.size &&
      known.mtimeMs === s.mtimeMs &&
      known.ino === s.ino
    )
      digest = known.digest;
  } catch {
    // not remembered yet
  }
  if (!digest) {
    options.onStep?.("computing the image's digest (once per version of the file)");
    digest = formatDigest(await digestFile(real, "sha256", options.signal));
    await mkdir(dirname(memo), { recursive: true, mode: 0o700 });
    const record: RememberedDigest = {
      path: real,
      size: s.size,
      mtimeMs: s.mtimeMs,
      ino: s.ino,
      digest,
    };
    await writeFile(memo, JSON.stringify(record), { mode: 0o600 });
  }
  return {
    info: {
      name: real.split("/").pop() ?? real,
      arch: options.arch,
      digest,
      format: info.format,
      user: genericUser,
      virtualSize: info.virtualSize,
      source: { kind: "file", path: real },
      boot: { firmware: firmwareFor(options.arch) },
      createdAt: s.mtime.toISOString(),
    },
    dir: dirname(real),
    diskPath: real,
    entry: undefined,
    sizeOnDisk: s.blocks * 512,
    lastUsed: new Date(),
  };
}
