import { join } from "node:path";

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
  /** Digests of local image files, remembered by path, size and modification time. */
  fileDigests: "file-digests",
} as const;

export function cachePath(cacheDir: string, folder: keyof typeof CacheFolders, name = ""): string {
  return join(cacheDir, CacheFolders[folder], name);
}
