import { describe, expect, it } from "vitest";
import { formatSize, parseSize } from "../../src/units/size.js";

describe("sizes", () => {
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

  it("formats for people", () => {
    expect(formatSize(3 * 1024 ** 3)).toBe("3.0 GiB");
  });
});
