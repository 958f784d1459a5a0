import { describe, expect, it } from "vitest";
import { closestNames, didYouMean } from "../../src/units/similar-names.js";

describe("similar names", () => {
  it("suggests close names for a typo, best first", () => {
    expect(closestNames("debain-12", ["debian-12", "ubuntu-24.04"])).toEqual(["debian-12"]);
    expect(closestNames("dsk", ["disk", "cpus", "desk"])).toEqual(["disk", "desk"]);
    expect(closestNames("bogus", ["image", "memory"])).toEqual([]);
  });

  it("words the suggestion, showing each name as its caller writes it", () => {
    expect(didYouMean("imag", ["image", "cpus"], (n) => `--${n}`)).toBe("did you mean --image?");
    expect(didYouMean("imgae", ["run", "image", "gc"])).toBe("did you mean image?");
    expect(didYouMean("lst", ["pull", "build", "ls", "rm"])).toBe("did you mean ls?");
    expect(didYouMean("zzzzzz", ["pull", "build"])).toBeUndefined();
  });
});
