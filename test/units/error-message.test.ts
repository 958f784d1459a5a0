import { describe, expect, it } from "vitest";
import { errorMessage } from "../../src/units/error-message.js";

describe("errorMessage", () => {
  it("takes an Error's message, and anything else as text", () => {
    expect(errorMessage(new Error("disk full"))).toBe("disk full");
    expect(errorMessage("closed")).toBe("closed");
    expect(errorMessage(undefined)).toBe("undefined");
  });
});
