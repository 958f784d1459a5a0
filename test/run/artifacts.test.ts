import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  artifactsDeadline,
  artifactsGraceMs,
  artifactsTimeoutMs,
} from "../../src/run/artifacts.js";

describe("artifactsDeadline", () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it("is what is left of --timeout, counted from the command's start", () => {
    // Started 60 s ago with a 10 min timeout: 9 min left.
    expect(artifactsDeadline(600_000, 1_000_000 - 60_000)).toBe(1_000_000 + 540_000);
  });

  it("gives a command that used up its --timeout the grace period for its logs", () => {
    expect(artifactsDeadline(5_000, 1_000_000 - 5_000)).toBe(1_000_000 + artifactsGraceMs);
  });

  it("without --timeout, ends after the phase's own limit", () => {
    expect(artifactsDeadline(undefined, 0)).toBe(1_000_000 + artifactsTimeoutMs);
  });
});
