import { isAbsolute, resolve } from "node:path";
import { parseDigest, type Digest } from "./digest.js";

/** What `--image` can name. */
export type ImageReference =
  | { kind: "name"; name: string }
  | { kind: "url"; url: string; digest: Digest }
  | { kind: "file"; path: string };

export interface ReferenceProblem {
  problem: string;
  hint: string;
}

const pinHint =
  "kvmci verifies every download before it boots it, and a URL alone gives it nothing to verify " +
  "against: a changed or tampered file would run your tests. Pin the digest of a copy you trust " +
  "(`sha256sum disk.qcow2`) as https://…/disk.qcow2#sha256=<hex>, or use a catalog name " +
  "(`kvmci image ls --available`), which is checked against the distribution's checksum file.";

/**
 * Pure: the text of `--image` into a reference. URLs need a pinned digest in the fragment;
 * anything with a slash (or starting with . or ~) is a path; a bare word is a catalog name
 * (a file of that name in the working folder is tried when no catalog entry matches).
 */
export function parseImageReference(
  text: string,
  cwd: string,
  home: string,
): ImageReference | ReferenceProblem {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();
  if (scheme) {
    if (scheme !== "http" && scheme !== "https")
      return {
        problem: `${text}: only http:// and https:// URLs can be downloaded`,
        hint: "For a file on this machine, give its path instead.",
      };
    const hash = text.indexOf("#");
    const url = hash === -1 ? text : text.slice(0, hash);
    const fragment = hash === -1 ? "" : text.slice(hash + 1);
    if (!fragment)
      return {
        problem: `${text}: a URL needs a pinned digest, as in ${url}#sha256=<hex>, so that kvmci can verify the download before booting it`,
        hint: pinHint,
      };
    const digest = parseDigest(fragment);
    if (!digest)
      return {
        problem: `${text}: expected #sha256=<64 hex digits> or #sha512=<128 hex digits> after the URL, got #${fragment}`,
        hint: pinHint,
      };
    return { kind: "url", url, digest };
  }
  if (text.startsWith("~/")) return { kind: "file", path: resolve(home, text.slice(2)) };
  if (text.includes("/") || text.startsWith(".") || isAbsolute(text))
    return { kind: "file", path: resolve(cwd, text) };
  return { kind: "name", name: text };
}

/** Pure: a cache entry name for a URL: `url-<file name>-<digest>`, safe as a folder name. */
export function urlEntryName(url: string, digest: Digest): string {
  const file = decodeURIComponent(new URL(url).pathname.split("/").pop() ?? "") || "image";
  const safe = file.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 60);
  return `url-${safe}-${digest.hex.slice(0, 16)}`;
}
