import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { readDataRuns } from "./sparse-data.js";

export type DigestAlgorithm = "sha256" | "sha512";

/** A content digest as kvmci writes it everywhere: `sha256:<hex>` or `sha512:<hex>`. */
export interface Digest {
  algorithm: DigestAlgorithm;
  hex: string;
}

const hexLength: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

export function formatDigest(d: Digest): string {
  return `${d.algorithm}:${d.hex}`;
}

/** Pure: `sha256:<hex>` (or `sha256=<hex>`, as in a URL fragment) into a digest, or undefined. */
export function parseDigest(text: string): Digest | undefined {
  const match = /^(sha256|sha512)[:=]([0-9a-fA-F]+)$/.exec(text.trim());
  if (!match) return undefined;
  const algorithm = match[1] as DigestAlgorithm;
  const hex = match[2]!.toLowerCase();
  return hex.length === hexLength[algorithm] ? { algorithm, hex } : undefined;
}

/** The algorithm a bare hex digest of this length comes from. */
export function algorithmForHex(hex: string): DigestAlgorithm | undefined {
  if (!/^[0-9a-fA-F]+$/.test(hex)) return undefined;
  return hex.length === 64 ? "sha256" : hex.length === 128 ? "sha512" : undefined;
}

const zeroBlock = 1 << 20;

/**
 * A SHA-256 over a mostly empty file (a guest's memory): each 1 MiB block as `D` and its bytes,
 * or as `Z` when it is all zeros, so that the gigabytes of holes are compared, not hashed. Any
 * change to the file changes it, as the plain digest would. Hex.
 */
export async function digestZeroBlocks(path: string, signal?: AbortSignal): Promise<string> {
  return copyZeroBlocks(path, undefined, signal);
}

/**
 * digestZeroBlocks' digest of `source`, read once; with `target`, also copies it there (mode
 * 0600), leaving its all-zero 1 MiB blocks as holes. One pass instead of `cp` and a second read
 * of a file of gigabytes, and only its data is read: its holes are skipped (readDataRuns).
 */
export async function copyZeroBlocks(
  source: string,
  target: string | undefined,
  signal?: AbortSignal,
): Promise<string> {
  const { size } = await stat(source);
  const hash = createHash("sha256");
  const zeros = Buffer.alloc(zeroBlock);
  const block = Buffer.alloc(zeroBlock);
  const output = target === undefined ? undefined : await open(target, "w", 0o600);
  try {
    let index = 0;
    let written = false;
    /** Hashes (and copies) block `index`, then starts the next one empty. */
    const next = async () => {
      const start = index * zeroBlock;
      const data = block.subarray(0, Math.min(zeroBlock, size - start));
      if (data.length === zeroBlock && (!written || data.equals(zeros))) hash.update("Z");
      else {
        hash.update("D").update(data);
        for (let done = 0; output && done < data.length;)
          done += (await output.write(data, done, data.length - done, start + done)).bytesWritten;
      }
      if (written) block.fill(0);
      written = false;
      index++;
    };
    signal?.throwIfAborted();
    for await (const run of readDataRuns(source, signal)) {
      signal?.throwIfAborted();
      if (run.offset + run.data.length > size) throw new Error(`${source} grew while it was read`);
      for (let at = 0; at < run.data.length;) {
        const position = run.offset + at;
        while (index < Math.floor(position / zeroBlock)) await next();
        const within = position - index * zeroBlock;
        at += run.data.copy(
          block,
          within,
          at,
          at + Math.min(run.data.length - at, zeroBlock - within),
        );
        written = true;
      }
    }
    while (index * zeroBlock < size) await next();
    await output?.truncate(size);
  } finally {
    await output?.close();
  }
  return hash.digest("hex");
}

export function createDigestHash(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export async function digestFile(
  path: string,
  algorithm: DigestAlgorithm,
  signal?: AbortSignal,
): Promise<Digest> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20, signal }))
    hash.update(chunk as Buffer);
  return { algorithm, hex: hash.digest("hex") };
}
