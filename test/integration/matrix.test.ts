import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFixtureProject, createSandbox, waitForOutput, type Sandbox } from "./harness.js";

// Two guests at once from the local image, one passing and one failing, in one `kvmci run`.
let sandbox: Sandbox;
let project: string;
beforeEach(async () => {
  sandbox = await createSandbox();
  project = await createFixtureProject(sandbox);
  await writeFile(
    join(project, "kvmci.yml"),
    [
      "memory: 1G",
      "sync: false",
      "matrix:",
      "  - name: pass",
      "    env: { EXIT: '0', NAP: '0' }",
      "  - name: fail",
      "    env: { EXIT: '3', NAP: '0' }",
      'run: echo "hello from $(hostname) shard=${KVMCI_SHARD_INDEX:-none}/${KVMCI_SHARD_TOTAL:-none}"; sleep $NAP; exit $EXIT',
      "",
    ].join("\n"),
  );
});
afterEach(async () => {
  const left = await sandbox.leftovers();
  await sandbox.dispose();
  expect(left, "no run folder and no QEMU may outlive a run").toEqual({ runFolders: [], qemu: [] });
});

describe("several guests in one run", () => {
  it("runs both, prefixes their lines, shows the table and exits 77 when one failed", async () => {
    const report = join(sandbox.root, "report.json");
    const result = await sandbox.start(["run", "--json", report], project);
    expect(result.exitCode, result.all).toBe(77);
    expect(result.stdout).toMatch(/^\[pass\] hello from kvmci-\w+ shard=none\/none$/m);
    expect(result.stdout).toMatch(/^\[fail\] hello from kvmci-\w+ shard=none\/none$/m);
    expect(result.stderr).toMatch(/^\[pass\] kvmci ✓ command /m);
    expect(result.stderr).toMatch(/^\[fail\] kvmci ✗ command +\S+, exit code 3$/m);
    expect(result.stderr).toMatch(/^GUEST\s+IMAGE\s+ACCEL\s+RESULT\s+EXIT\s+image\s+overlay/m);
    expect(result.stderr).toMatch(/^pass\s+debian-12\s+\w+\s+passed\s+0\s/m);
    expect(result.stderr).toMatch(/^fail\s+debian-12\s+\w+\s+failed\s+3\s/m);
    expect(result.stderr).toContain("kvmci ✗ 1 of 2 guests did not pass (fail)");
    const json = JSON.parse(await readFile(report, "utf8")) as {
      outcome: string;
      exitCode: number;
      guests: { name: string; outcome: string; exitCode: number }[];
    };
    expect(json).toMatchObject({ outcome: "failed", exitCode: 77 });
    expect(json.guests.map((g) => [g.name, g.outcome, g.exitCode])).toEqual([
      ["pass", "passed", 0],
      ["fail", "failed", 3],
    ]);
  });

  it("with --fail-fast, tears the other guest down as soon as one fails", async () => {
    const result = await sandbox.start(
      [
        "run",
        "--fail-fast",
        "--",
        "sh",
        "-c",
        'if [ "$EXIT" = 0 ]; then sleep 600; fi; exit $EXIT',
      ],
      project,
    );
    expect(result.exitCode, result.all).toBe(77);
    expect(result.stderr).toMatch(/^pass\s+debian-12\s+\w+\s+stopped \(fail-fast\)/m);
    expect(result.stderr).toMatch(/^fail\s+debian-12\s+\w+\s+failed\s+3/m);
  });

  it("tears every guest down on Ctrl-C and exits 130", async () => {
    const child = sandbox.start(["run", "--", "sh", "-c", "echo started; sleep 600"], project);
    await waitForOutput(
      child,
      /\[pass\] started[\s\S]*\[fail\] started|\[fail\] started[\s\S]*\[pass\] started/,
      600_000,
    );
    const signalled = Date.now();
    child.kill("SIGINT");
    const result = await child;
    expect(result.exitCode, result.all).toBe(130);
    expect(Date.now() - signalled).toBeLessThan(10_000);
  });

  it("runs only its shard's part, and tells the guest which part of the suite it has", async () => {
    await writeFile(
      join(project, "kvmci.yml"),
      'memory: 1G\nsync: false\nrun: echo "shard=$KVMCI_SHARD_INDEX/$KVMCI_SHARD_TOTAL"\n',
    );
    const result = await sandbox.start(["run", "--shard", "2/3"], project);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toContain("shard=2/3");
  });
});
