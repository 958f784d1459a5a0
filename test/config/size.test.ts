import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../src/config/duration.js";
import { formatSize, parseSize } from "../../src/config/size.js";

describe("sizes and durations", () => {
  it.each([
    ["2G", 2 * 1024 ** 3],
    ["512M", 512 * 1024 ** 2],
    ["1.5GiB", 1.5 * 1024 ** 3],
    ["4096", 4096 * 1024 ** 2],
    ["100B", 100],
    ["2g", 2 * 1024 ** 3],
  ])("parses %s", (text, bytes) => expect(parseSize(text)).toBe(bytes));

  it.each(["lots", "", "-1G", "0", "2X"])("rejects %j", (text) =>
    expect(parseSize(text)).toBeUndefined(),
  );

  it.each([
    ["90s", 90_000],
    ["10m", 600_000],
    ["1h", 3_600_000],
    ["1500ms", 1500],
    ["30", 30_000],
    ["2d", 2 * 86_400_000],
  ])("parses duration %s", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it("formats for people", () => {
    expect(formatSize(3 * 1024 ** 3)).toBe("3.0 GiB");
    expect(formatDuration(31_200)).toBe("31.2s");
    expect(formatDuration(125_000)).toBe("2m05s");
  });
});
