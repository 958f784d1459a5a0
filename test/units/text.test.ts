import { describe, expect, it } from "vitest";
import { stripAnsi, tailLines } from "../../src/units/text.js";

describe("text", () => {
  it("strips terminal colour codes from the console", () => {
    expect(stripAnsi("\x1b[0;32m  OK  \x1b[0m] Started\r")).toBe("  OK  ] Started");
  });

  it("keeps the last non-empty lines", () => {
    expect(tailLines("a\r\n\nb\n  \nc\n", 2)).toEqual(["b", "c"]);
    expect(tailLines("", 3)).toEqual([]);
  });
});
