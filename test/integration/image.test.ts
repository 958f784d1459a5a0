import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
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
    expect(result.stdout).toMatch(/^NAME\s+SOURCE\s+SIZE\s+DIGEST\s+CREATED\s+LAST USED\s+ENTRY$/m);
    expect(result.stdout).toMatch(
      /^debian-12\s+recipe\s+\d+(\.\d)? [MG]iB\s+sha256:[0-9a-f]{12}\s+\d{4}-\d\d-\d\d \d\d:\d\dZ\s/m,
    );
  });

  it("ends an interrupted build within 5 s and leaves nothing that looks usable", async () => {
    const cache = join(sandbox.root, "cache");
    await mkdir(cache);
    const child = sandbox.start(["image", "build", "debian-12"], sandbox.root, {
      KVMCI_CACHE_DIR: cache,
    });
    // Long enough for mmdebstrap to be downloading or installing, far from done.
    await new Promise((resolve) => setTimeout(resolve, 8000));
    const signalledAt = Date.now();
    child.kill("SIGINT");
    const result = await child;
    const secondsToExit = (Date.now() - signalledAt) / 1000;
    expect(result.exitCode, result.all).toBe(130);
    expect(secondsToExit).toBeLessThan(5);
    // Nothing of the build (mmdebstrap, apt, dpkg in the chroot) is still running.
    const ps = await execa("ps", ["-eo", "pid,args"]);
    expect(ps.stdout.split("\n").filter((line) => line.includes(cache))).toEqual([]);
    expect(await readdir(join(cache, "images"))).toEqual([]);
    const list = await sandbox.start(["image", "ls"], sandbox.root, { KVMCI_CACHE_DIR: cache });
    expect(list.stdout).toContain("No images cached");
    // mmdebstrap's own temporary root went away with it.
    expect(await readdir(sandbox.tmp)).toEqual([]);
  });
});
