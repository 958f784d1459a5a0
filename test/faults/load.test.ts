import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFixtureProject, createSandbox, type Sandbox } from "../integration/harness.js";

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  const left = await sandbox.leftovers();
  await sandbox.dispose();
  expect(left, "no run folder and no QEMU may outlive a run").toEqual({ runFolders: [], qemu: [] });
});

describe("load", () => {
  it("8 kvmci runs started at the same moment all succeed, each with its own guest", async () => {
    const project = await createFixtureProject(sandbox);
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        sandbox.start(
          [
            "run",
            "--memory",
            "1G",
            "--no-sync",
            "--",
            "sh",
            "-c",
            `echo "run ${i} on $(hostname)"`,
          ],
          project,
        ),
      ),
    );
    for (const run of runs) expect(run.exitCode, run.all).toBe(0);
    const hosts = runs.map((r) => /run \d+ on (\S+)/.exec(r.stdout)?.[1]);
    expect(new Set(hosts).size).toBe(8);
  });
});
