import { describe, expect, it } from "vitest";
import {
  isRetryable,
  parseRetryAfter,
  RetryableStatus,
  retryDelayMs,
  withRetries,
} from "../../src/image/retry.js";

describe("retry policy", () => {
  it("backs off exponentially with bounded jitter, capped at 30 s; Retry-After wins", () => {
    expect(retryDelayMs(1, undefined, () => 0)).toBe(1000);
    expect(retryDelayMs(3, undefined, () => 0)).toBe(4000);
    expect(retryDelayMs(3, undefined, () => 1)).toBe(5000);
    expect(retryDelayMs(10, undefined, () => 0)).toBe(30_000);
    expect(retryDelayMs(1, 7000)).toBe(7000);
  });

  it("reads Retry-After as seconds or as a date", () => {
    const now = Date.parse("2026-11-26T10:00:00Z");
    expect(parseRetryAfter("3", now)).toBe(3000);
    expect(parseRetryAfter("Thu, 26 Nov 2026 10:00:05 GMT", now)).toBe(5000);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
  });

  it("retries network errors and 5xx/429, not 404 or our own errors", () => {
    expect(isRetryable(new RetryableStatus(503, undefined))).toBe(true);
    expect(isRetryable(Object.assign(new Error("x"), { code: "ECONNRESET" }))).toBe(true);
    expect(
      isRetryable(
        new Error("wrapped", { cause: Object.assign(new Error("y"), { code: "UND_ERR_SOCKET" }) }),
      ),
    ).toBe(true);
    expect(isRetryable(new TypeError("terminated"))).toBe(true);
    expect(isRetryable(new Error("HTTP 404"))).toBe(false);
  });

  it("stops after the attempts and when a server asks for too long a wait", async () => {
    let calls = 0;
    await expect(
      withRetries(
        () => {
          calls++;
          return Promise.reject(new RetryableStatus(503, 0));
        },
        { attempts: 3, maxWaitMs: 1000 },
      ),
    ).rejects.toThrow("HTTP 503");
    expect(calls).toBe(3);
    calls = 0;
    await expect(
      withRetries(
        () => {
          calls++;
          return Promise.reject(new RetryableStatus(429, 3_600_000));
        },
        { attempts: 5, maxWaitMs: 60_000 },
      ),
    ).rejects.toThrow("HTTP 429");
    expect(calls).toBe(1);
  });
});
