import { describe, expect, it } from "vitest";
import { nodeArchProblem } from "../../src/run/prepare.js";

describe("the host's Node.js in a guest", () => {
  const node = { version: "v20.19.2", arch: "x86_64", binary: "/usr/local/bin/node" };

  it("is copied into a guest of its own architecture", () => {
    expect(nodeArchProblem(node, "x86_64", "debian-12")).toBeUndefined();
  });

  it("is refused for another, saying what to give instead", () => {
    expect(nodeArchProblem(node, "aarch64", "debian-12")).toEqual({
      message:
        "The Node.js to copy into the guest (/usr/local/bin/node, v20.19.2) is built for x86_64 and cannot run in the aarch64 guest debian-12",
      hint: "Give node: package to install the distribution's Node.js for aarch64 in the guest, node: PATH with an aarch64 node binary, or node: none.",
    });
  });
});
