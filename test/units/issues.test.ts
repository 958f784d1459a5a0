import { describe, expect, it } from "vitest";
import { formatPath } from "../../src/units/issues.js";

describe("formatPath", () => {
  it("formats nested paths the way users read them", () => {
    expect(formatPath(["guests", 1, "memory"])).toBe("guests[1].memory");
  });
});
