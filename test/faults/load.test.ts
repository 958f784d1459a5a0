import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createFixtureProject, sandboxPerTest } from "../integration/harness.js";

const sandboxOf = sandboxPerTest();

/** Starts n `kvmci run` at the same moment, each printing its index and guest host name. */
async function startAtOnce(n: number, extra: string[]) {
  const project = await createFixtureProject(sandboxOf());
  const runs = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      sandboxOf().start(
        [
          "run",
          "--memory",
          "1G",
          "--no-sync",
          "--json",
          join(sandboxOf().root, `report-${i}.json`),
          ...extra,
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
  expect(new Set(hosts).size).toBe(n);
  const reports = await Promise.all(
    runs.map(
      async (_, i) =>
        JSON.parse(await readFile(join(sandboxOf().root, `report-${i}.json`), "utf8")) as {
          phases: { phase: string; ms: number }[];
        },
    ),
  );
  return { runs, reports };
}

describe("load", () => {
  it("8 kvmci runs started at the same moment all succeed, each with its own guest", async () => {
    await startAtOnce(8, []);
  });

  it("8 cold boots at once all pass, taking turns: as many guests at once as the host has CPUs", async () => {
    const { runs, reports } = await startAtOnce(8, ["--no-snapshot"]);
    // Those beyond the host's CPUs waited in the queue phase, and said what for.
    const queued = reports.filter((r) => r.phases.some((p) => p.phase === "queue"));
    expect(queued.length).toBeGreaterThanOrEqual(8 - availableParallelism());
    const said = runs.filter((r) => r.stderr.includes("waiting for the host:"));
    expect(said).toHaveLength(queued.length);
  });
});
