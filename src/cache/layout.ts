import { constants } from "node:fs";
import { access, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { KvmciError } from "../errors.js";

/**
 * Every folder inside the cache, by name. Entries in `images/` appear only complete (one
 * rename); everything being written lives elsewhere until then.
 */
export const CacheFolders = {
  /** Complete images: one folder each, built, downloaded or prepared. */
  images: "images",
  /** Saved ready guests: memory state, the disk saved with it, and what they were made from. */
  snapshots: "snapshots",
  /** Downloads in progress or interrupted, resumable: `<entry>.part` and `<entry>.part.json`. */
  downloads: "downloads",
  /** One lock file per entry being built or downloaded. */
  locks: "locks",
  /** One record per image a running guest uses; `gc` and `image rm` leave those alone. */
  inUse: "in-use",
  /** One record per guest running on this host: every kvmci's guests share its CPUs and memory. */
  guests: "guests",
  /** One record per guest kept after its run (`kvmci run --keep`), by name. */
  kept: "kept",
  /** Digests of local image files, remembered by path, size and modification time. */
  fileDigests: "file-digests",
} as const;

export function cachePath(cacheDir: string, folder: keyof typeof CacheFolders, name = ""): string {
  return join(cacheDir, CacheFolders[folder], name);
}

/**
 * Makes sure the cache folder exists and can be written: every command that fetches, builds,
 * runs or cleans writes there (entries, locks, in-use records). A path that cannot be used is a
 * clear error up front instead of a bare ENOTDIR or EACCES from somewhere inside.
 */
export async function requireWritableCache(cacheDir: string): Promise<void> {
  try {
    await mkdir(cacheDir, { recursive: true, mode: 0o700 });
    await access(cacheDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOTDIR" || code === "EEXIST"
        ? "a file is in the way (it or a folder above it is not a folder)"
        : code === "EACCES" || code === "EPERM"
          ? "permission denied"
          : code === "EROFS"
            ? "it is on a read-only file system"
            : String((error as Error).message);
    throw new KvmciError("hostRequirement", `Cannot use the cache folder ${cacheDir}: ${why}`, {
      hint: "Set KVMCI_CACHE_DIR to a folder you can write to (by default kvmci uses $XDG_CACHE_HOME/kvmci or ~/.cache/kvmci).",
      cause: error,
    });
  }
}
