import { describe, expect, it } from "vitest";
import { formatColumns, stripAnsi, tailLines, wrapText } from "../../src/units/text.js";

describe("text", () => {
  it("strips terminal colour codes from the console", () => {
    expect(stripAnsi("\x1b[0;32m  OK  \x1b[0m] Started\r")).toBe("  OK  ] Started");
  });

  it("keeps the last non-empty lines", () => {
    expect(tailLines("a\r\n\nb\n  \nc\n", 2)).toEqual(["b", "c"]);
    expect(tailLines("", 3)).toEqual([]);
  });
});

describe("wrapping", () => {
  it("reflows words into lines no wider than asked, cutting only a word too long for a line", () => {
    expect(wrapText("a bb  ccc\ndddd", 6)).toEqual(["a bb", "ccc", "dddd"]);
    expect(wrapText("https://example.org/x", 8)).toEqual(["https://", "example.", "org/x"]);
    expect(wrapText("", 10)).toEqual([""]);
  });

  it("puts each text beside its name, aligned under itself, or under the name when narrow", () => {
    const rows = [
      ["--a", "one two three four five six seven eight nine ten eleven twelve"],
      ["--long-name X", "short"],
    ] as const;
    expect(formatColumns(rows, 50)).toEqual([
      "  --a            one two three four five six seven",
      "                 eight nine ten eleven twelve",
      "  --long-name X  short",
    ]);
    expect(formatColumns(rows, 40)).toEqual([
      "  --a",
      "      one two three four five six seven",
      "      eight nine ten eleven twelve",
      "  --long-name X",
      "      short",
    ]);
  });
});
