import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../src/units/duration.js";

describe("durations", () => {
  it.each([
    ["90s", 90_000],
    ["10m", 600_000],
    ["1h", 3_600_000],
    ["1500ms", 1500],
    ["30", 30_000],
    ["2d", 2 * 86_400_000],
  ])("parses duration %s", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it("formats for people", () => {
    expect(formatDuration(31_200)).toBe("31.2s");
    expect(formatDuration(125_000)).toBe("2m05s");
  });
});
