import { describe, expect, it } from "vitest";
import { formatTransfer } from "../../src/report/transfer.js";

const MiB = 1024 * 1024;

describe("formatTransfer", () => {
  it("shows bytes, percentage, rate and time left", () => {
    const text = formatTransfer(
      { received: 300 * MiB, total: 600 * MiB, resumedFrom: 0, startedAt: 0 },
      10_000,
    );
    expect(text).toBe("300 MiB / 600 MiB (50%), 30 MiB/s, 10.0s left");
  });

  it("counts a resumed download's rate from where it resumed, and says so", () => {
    const text = formatTransfer(
      { received: 500 * MiB, total: 600 * MiB, resumedFrom: 400 * MiB, startedAt: 0 },
      10_000,
    );
    expect(text).toBe("500 MiB / 600 MiB (83%), 10 MiB/s, 10.0s left, resumed at 400 MiB");
  });

  it("copes with an unknown length and a fresh start", () => {
    expect(
      formatTransfer({ received: 5 * MiB, total: undefined, resumedFrom: 0, startedAt: 0 }, 100),
    ).toBe("5.0 MiB");
  });
});
