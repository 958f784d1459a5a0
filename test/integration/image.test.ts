import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSandbox, type Sandbox } from "./harness.js";

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(() => sandbox.dispose());

describe("kvmci image", () => {
  it("lists the cached default image with its source, size, digest and times", async () => {
    const result = await sandbox.start(["image", "ls"], sandbox.root);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toMatch(
      /^NAME\s+ARCH\s+SOURCE\s+SIZE\s+DIGEST\s+CREATED\s+LAST USED\s+ENTRY$/m,
    );
    expect(result.stdout).toMatch(
      /^debian-12\s+x86_64\s+recipe\s+\d+(\.\d)? [MG]iB\s+sha256:[0-9a-f]{12}\s+\d{4}-\d\d-\d\d \d\d:\d\dZ\s/m,
    );
  });
});
