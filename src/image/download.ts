import type { Hash } from "node:crypto";
import { open, readFile, rm, writeFile, type FileHandle } from "node:fs/promises";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { formatDuration } from "../units/duration.js";
import { KvmciError } from "../errors.js";
import type { HttpGet, HttpResponse } from "../host/http.js";
import { createDigestHash, formatDigest, type Digest, type DigestAlgorithm } from "./digest.js";
import {
  isRetryableStatus,
  parseRetryAfter,
  RetryableStatus,
  TruncatedTransfer,
  withRetries,
} from "./retry.js";

export interface TransferProgress {
  received: number;
  total: number | undefined;
  /** Bytes that were already on disk from an earlier attempt when this one started. */
  resumedFrom: number;
  /** When this attempt started (ms since the epoch). */
  startedAt: number;
}

export interface DownloadOptions {
  http: HttpGet;
  signal?: AbortSignal;
  onProgress?: (progress: TransferProgress) => void;
  onRetry?: (message: string) => void;
  attempts?: number;
}

/** What the part file's companion `.json` remembers, so a later run can resume safely. */
interface PartMeta {
  url: string;
  /** ETag or Last-Modified of the first response: sent as If-Range when resuming. */
  validator: string | undefined;
}

/**
 * Downloads `url` into `partPath`, resuming what an earlier attempt (or an earlier, killed run)
 * left there, retrying connection errors, 5xx and 429, and hashing as it writes. Resolves only
 * when the whole file matches `expected`; on a mismatch the file is deleted.
 */
export async function downloadVerified(
  url: string,
  partPath: string,
  expected: Digest,
  options: DownloadOptions,
): Promise<void> {
  const metaPath = `${partPath}.json`;
  const meta = await readMeta(metaPath);
  if (meta?.url !== url) await discard(partPath, metaPath);
  const state = await HashedFile.open(partPath, expected.algorithm, options.signal);
  try {
    await withRetries(
      () => fetchOnce(url, state, metaPath, meta?.url === url ? meta : undefined, options),
      {
        attempts: options.attempts ?? 6,
        maxWaitMs: 5 * 60_000,
        signal: options.signal,
        onRetry: ({ error, waitMs }) =>
          options.onRetry?.(
            `download of ${url} failed (${describe(error)}); retrying in ${formatDuration(waitMs)} from byte ${state.size}`,
          ),
      },
    ).catch((error: unknown) => {
      throw options.signal?.aborted ? error : downloadError(url, error);
    });
  } catch (error) {
    await state.close();
    // Keep what arrived for the next attempt to resume, unless nothing did or the disk is full.
    if (state.size === 0 || (error instanceof KvmciError && error.code === "hostWrite"))
      await discard(partPath, metaPath);
    throw error;
  }
  const actual = await state.finish();
  if (actual.hex !== expected.hex) {
    await discard(partPath, metaPath);
    throw new KvmciError("digestMismatch", `The download of ${url} does not match its digest`, {
      details: [`expected ${formatDigest(expected)}`, `actual   ${formatDigest(actual)}`],
      hint: "The file was deleted. If the publisher replaced the image, `kvmci image pull` again fetches the new checksum; for a pinned URL, check the digest you pinned.",
    });
  }
  await rm(metaPath, { force: true });
}

async function fetchOnce(
  url: string,
  file: HashedFile,
  metaPath: string,
  meta: PartMeta | undefined,
  options: DownloadOptions,
): Promise<void> {
  const headers: Record<string, string> = {};
  if (file.size > 0) {
    headers.range = `bytes=${file.size}-`;
    if (meta?.validator) headers["if-range"] = meta.validator;
  }
  const response = await options.http(url, { headers, signal: options.signal });
  const { status } = response;
  if (status !== 200 && status !== 206) response.body.resume();
  if (status === 416) {
    // We asked for bytes past the end: either the file is complete, or it changed; start over.
    const total = /\/(\d+)$/.exec(response.headers["content-range"] ?? "")?.[1];
    if (total !== undefined && Number(total) === file.size) return;
    await file.truncate();
    throw new TruncatedTransfer("the server's copy is shorter than ours; starting over");
  }
  if (status !== 200 && status !== 206) throw statusError(response);

  let start = 0;
  if (status === 206) {
    start = Number(/^bytes (\d+)-/.exec(response.headers["content-range"] ?? "")?.[1] ?? NaN);
    if (start !== file.size) {
      response.body.resume();
      await file.truncate();
      throw new TruncatedTransfer(`the server resumed at byte ${start}, not ${file.size}`);
    }
  } else {
    // A full answer (the server ignores ranges, or the file changed): start from zero.
    await file.truncate();
  }
  const length = Number(response.headers["content-length"] ?? NaN);
  const total = Number.isFinite(length) ? start + length : undefined;
  if (start === 0) {
    const validator = response.headers.etag?.startsWith("W/")
      ? response.headers["last-modified"]
      : (response.headers.etag ?? response.headers["last-modified"]);
    await writeFile(metaPath, JSON.stringify({ url, validator } satisfies PartMeta), {
      mode: 0o600,
    });
  }
  const progress: TransferProgress = {
    received: file.size,
    total,
    resumedFrom: file.size,
    startedAt: Date.now(),
  };
  let lastReport = 0;
  options.onProgress?.(progress);
  try {
    await pipeline(
      response.body,
      file.appender((size) => {
        progress.received = size;
        const now = Date.now();
        if (now - lastReport >= 200) {
          lastReport = now;
          options.onProgress?.(progress);
        }
      }),
      { signal: options.signal },
    );
  } finally {
    // A failed pipeline can leave a write in flight; the next attempt starts after it.
    await file.settled();
  }
  options.onProgress?.({ ...progress, received: file.size });
  if (total !== undefined && file.size < total)
    throw new TruncatedTransfer(`the connection ended at byte ${file.size} of ${total}`);
}

/** An answer other than the one asked for: worth retrying (408, 429, 5xx) or final. */
function statusError(response: HttpResponse): Error {
  return isRetryableStatus(response.status)
    ? new RetryableStatus(
        response.status,
        parseRetryAfter(response.headers["retry-after"], Date.now()),
      )
    : new HttpStatusError(response.status);
}

export class HttpStatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

/**
 * The part file with a running hash of exactly the bytes written to it, so resuming costs no
 * re-read. Opening an existing part hashes what is there once.
 */
class HashedFile {
  private constructor(
    private handle: FileHandle,
    private hash: Hash,
    private readonly algorithm: DigestAlgorithm,
    public size: number,
  ) {}

  static async open(path: string, algorithm: DigestAlgorithm, signal?: AbortSignal) {
    const handle = await open(path, "a+", 0o600);
    const hash = createDigestHash(algorithm);
    let size = 0;
    const buffer = Buffer.allocUnsafe(4 << 20);
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, size);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      size += bytesRead;
    }
    return new HashedFile(handle, hash, algorithm, size);
  }

  async truncate(): Promise<void> {
    await this.handle.truncate(0);
    this.hash = createDigestHash(this.algorithm);
    this.size = 0;
  }

  private inFlight: Promise<void> = Promise.resolve();

  /** Resolves when no write is in progress. */
  async settled(): Promise<void> {
    await this.inFlight.catch(() => undefined);
  }

  /**
   * A stream that appends to the file and hashes what it appends. Each batch is written by the
   * thread pool while this thread hashes it; the size and hash move on only once the write
   * succeeded, so they always describe exactly the bytes on disk.
   */
  appender(onWritten: (size: number) => void): Writable {
    const append = async (buffers: Buffer[]) => {
      const hash = this.hash;
      const total = buffers.reduce((sum, b) => sum + b.length, 0);
      const writing = writeAll(this.handle, buffers, this.size);
      const copy = hash.copy();
      for (const buffer of buffers) copy.update(buffer);
      await writing;
      this.hash = copy;
      this.size += total;
      onWritten(this.size);
    };
    return new Writable({
      highWaterMark: 8 << 20,
      writev: (chunks, callback) => {
        this.inFlight = append(chunks.map((c) => c.chunk as Buffer));
        this.inFlight.then(() => callback(), callback);
      },
    });
  }

  async finish(): Promise<Digest> {
    await this.handle.close();
    return { algorithm: this.algorithm, hex: this.hash.digest("hex") };
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/** Writes buffers at a position, however many calls the kernel needs. */
async function writeAll(handle: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let pending = buffers;
  let at = position;
  while (pending.length > 0) {
    let { bytesWritten } = await handle.writev(pending, at);
    at += bytesWritten;
    const rest: Buffer[] = [];
    for (const buffer of pending) {
      if (bytesWritten >= buffer.length) bytesWritten -= buffer.length;
      else {
        rest.push(buffer.subarray(bytesWritten));
        bytesWritten = 0;
      }
    }
    pending = rest;
  }
}

async function readMeta(path: string): Promise<PartMeta | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as PartMeta;
  } catch {
    return undefined;
  }
}

async function discard(partPath: string, metaPath: string): Promise<void> {
  await rm(partPath, { force: true });
  await rm(metaPath, { force: true });
}

/** Fetches a small text file (a checksum list) with the same retries. */
export async function fetchText(url: string, options: DownloadOptions): Promise<string> {
  const text = await withRetries(
    async () => {
      const response = await options.http(url, { signal: options.signal });
      if (response.status === 200) {
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of response.body) {
          size += (chunk as Buffer).length;
          if (size > 16 << 20)
            throw new KvmciError("download", `${url} is too large for a checksum list`);
          chunks.push(chunk as Buffer);
        }
        return Buffer.concat(chunks).toString("utf8");
      }
      response.body.resume();
      throw statusError(response);
    },
    {
      attempts: options.attempts ?? 6,
      maxWaitMs: 5 * 60_000,
      signal: options.signal,
      onRetry: ({ error, waitMs }) =>
        options.onRetry?.(
          `fetching ${url} failed (${describe(error)}); retrying in ${formatDuration(waitMs)}`,
        ),
    },
  ).catch((error: unknown) => {
    throw options.signal?.aborted ? error : downloadError(url, error);
  });
  return text;
}

function describe(error: unknown): string {
  if (error instanceof RetryableStatus || error instanceof HttpStatusError)
    return `HTTP ${error.status}`;
  if (error instanceof Error) {
    const code =
      (error as NodeJS.ErrnoException).code ??
      (error.cause as NodeJS.ErrnoException | undefined)?.code;
    return code ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}

/** Any failure of a download as the error a user sees. */
function downloadError(url: string, error: unknown): unknown {
  if (error instanceof KvmciError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new KvmciError("hostWrite", `No space left in the cache while downloading ${url}`, {
      hint: "Free space on that file system (`kvmci gc --max-size 5G` trims the cache), or point KVMCI_CACHE_DIR at a larger one. The partial file was deleted.",
      cause: error,
    });
  }
  if (error instanceof HttpStatusError) {
    return new KvmciError(
      "download",
      `${url} answered HTTP ${error.status}${error.status === 404 ? " (not found)" : ""}`,
      {
        hint:
          error.status === 404 || error.status === 410
            ? "The file is not there (any more): check the URL; for a catalog image, a newer kvmci may know its new address."
            : "Check the URL and that you may fetch it.",
        cause: error,
      },
    );
  }
  const viaProxy = error instanceof Error && /proxy/i.test(error.message);
  return new KvmciError("download", `Could not download ${url}: ${describe(error)}`, {
    hint: viaProxy
      ? "The proxy from HTTPS_PROXY/HTTP_PROXY refused the connection: check it, or add the host to NO_PROXY."
      : "Check the network (and HTTPS_PROXY/NO_PROXY if you need a proxy). What arrived so far is kept; the next attempt resumes it.",
    cause: error,
  });
}
