import { cp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSandbox, repoRoot, type Sandbox } from "./harness.js";

// `kvmci run -- npm ci && npm test` in a Node.js project, on the default image, with no flag:
// the guest gets the host's own Node.js (baked once into a prepared image), reaches the npm
// registry through its own network (trusting what the host trusts), and runs the suite.

interface Report {
  exitCode: number;
  prepared?: { entry: string; reused: boolean };
  snapshot?: { use: string };
  phases: { phase: string; ms: number }[];
}

let sandbox: Sandbox;
let project: string;
let hostNode: string;

beforeAll(async () => {
  sandbox = await createSandbox();
  project = join(sandbox.root, "node-project");
  await cp(join(repoRoot, "fixtures", "node-project"), project, { recursive: true });
  hostNode = (await execa("node", ["--version"])).stdout.trim();
});

afterAll(async () => {
  const left = await sandbox.leftovers();
  await sandbox.dispose();
  expect(left, "no run folder and no QEMU may outlive a run").toEqual({ runFolders: [], qemu: [] });
});

async function npmTest(name: string) {
  const report = join(sandbox.root, `${name}.json`);
  const started = Date.now();
  const result = await sandbox.start(
    [
      "run",
      "--memory",
      "1G",
      "--json",
      report,
      "--env",
      `EXPECT_NODE_VERSION=${hostNode}`,
      "--",
      "sh",
      "-c",
      "npm ci --no-audit --no-fund && npm test",
    ],
    project,
  );
  return {
    result,
    seconds: (Date.now() - started) / 1000,
    report: JSON.parse(await readFile(report, "utf8")) as Report,
  };
}

describe("a Node.js project", () => {
  it("npm ci && npm test passes in the guest with the host's Node.js, then warm", async () => {
    const first = await npmTest("first");
    expect(first.result.exitCode, first.result.all).toBe(0);
    expect(first.result.stdout).toContain(`node ${hostNode} in the guest, npm test passed`);
    expect(first.result.stdout).toContain("added 1 package");
    expect(first.report.prepared).toBeDefined();
    const second = await npmTest("second");
    expect(second.result.exitCode, second.result.all).toBe(0);
    expect(second.report.prepared).toEqual({ entry: first.report.prepared!.entry, reused: true });
    expect(second.report.snapshot?.use).toBe("restored");
    expect(second.report.phases.map((p) => p.phase)).not.toContain("boot");
    // Figures for the closing note: the first run bakes Node.js in, the second starts warm.
    console.log(
      `node project: first run ${first.seconds.toFixed(1)} s (prepared ${first.report.prepared!.reused ? "reused" : "made"}), warm run ${second.seconds.toFixed(1)} s`,
    );
  });

  it("gives the command a UTF-8 locale, TERM and the CI's variables", async () => {
    const { result } = await npmTest("env");
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toContain("ünïcödé ✓");
    expect(result.stdout).toMatch(/^LANG=C\.UTF-8 TERM=\S+ CI=/m);
    if (process.env.CI) expect(result.stdout).toContain(`CI=${process.env.CI}`);
  });

  it("runs the command in a terminal when kvmci's own output is one, and not with --no-tty", async () => {
    const kvmci = `node ${join(repoRoot, "bin", "kvmci.js")}`;
    const inTerminal = async (flags: string) =>
      execa(
        "script",
        [
          "-qec",
          `${kvmci} run --memory 1G --no-sync ${flags} -- sh -c 'if [ -t 1 ]; then echo "tty: yes $(stty size)"; else echo "tty: no"; fi'`,
          "/dev/null",
        ],
        { cwd: project, env: { ...sandbox.env, COLUMNS: "100", LINES: "30" }, reject: false },
      );
    const yes = await inTerminal("");
    expect(yes.exitCode, yes.stdout).toBe(0);
    expect(yes.stdout).toMatch(/tty: yes \d+ \d+/);
    const no = await inTerminal("--no-tty");
    expect(no.exitCode, no.stdout).toBe(0);
    expect(no.stdout).toContain("tty: no");
  });
});
