import { setTimeout as sleep } from "node:timers/promises";

/** An HTTP answer worth asking again: 408, 429 and 5xx. */
export class RetryableStatus extends Error {
  constructor(
    readonly status: number,
    /** From Retry-After, when the server said how long to wait. */
    readonly retryAfterMs: number | undefined,
  ) {
    super(`HTTP ${status}`);
  }
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Network failures that another attempt can get past. */
const retryableCodes = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
]);

export class TruncatedTransfer extends Error {}

export function isRetryable(error: unknown): boolean {
  if (error instanceof RetryableStatus || error instanceof TruncatedTransfer) return true;
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code && retryableCodes.has(code)) return true;
    // undici reports a body cut short by the server as a plain "terminated" TypeError.
    if (e.message === "terminated" || e.message === "other side closed") return true;
  }
  return false;
}

/**
 * Pure: how long to wait before attempt `attempt + 1`. Exponential from 1 s (with up to 25 %
 * jitter so many runners do not retry in step), capped at 30 s; a server's Retry-After wins.
 */
export function retryDelayMs(attempt: number, retryAfterMs?: number, random = Math.random): number {
  if (retryAfterMs !== undefined) return retryAfterMs;
  const base = Math.min(30_000, 1000 * 2 ** (attempt - 1));
  return Math.round(base * (1 + random() * 0.25));
}

/** Pure: a Retry-After header (seconds, or an HTTP date) in milliseconds from `now`. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export interface RetryOptions {
  attempts: number;
  signal?: AbortSignal;
  /** The longest a server may ask us to wait; asking for more ends the retries. */
  maxWaitMs: number;
  onRetry?: (info: { attempt: number; error: unknown; waitMs: number }) => void;
}

/** Calls `fn` until it succeeds, a failure is not worth retrying, or the attempts run out. */
export async function withRetries<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (options.signal?.aborted || !isRetryable(error) || attempt >= options.attempts)
        throw error;
      const waitMs = retryDelayMs(
        attempt,
        error instanceof RetryableStatus ? error.retryAfterMs : undefined,
      );
      if (waitMs > options.maxWaitMs) throw error;
      options.onRetry?.({ attempt, error, waitMs });
      await sleep(waitMs, undefined, { signal: options.signal });
    }
  }
}
