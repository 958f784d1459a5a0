import { describe, expect, it } from "vitest";
import { createFixtureProject, sandboxPerTest } from "../integration/harness.js";

const sandboxOf = sandboxPerTest();

describe("load", () => {
  it("8 kvmci runs started at the same moment all succeed, each with its own guest", async () => {
    const project = await createFixtureProject(sandboxOf());
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        sandboxOf().start(
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
