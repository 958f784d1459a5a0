import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { actionLeftovers, actionStep } from "./action-step.js";
import { createFixtureProject, createSandbox, waitForOutput, type Sandbox } from "./harness.js";

// The bundled Action (dist/) run the way the Actions runner runs it (see action-step.ts),
// against real guests.

let sandbox: Sandbox;
let project: string;

beforeAll(async () => {
  sandbox = await createSandbox();
  project = await createFixtureProject(sandbox);
  // The fixture suite checks that extra user-data reached the guest.
  await writeFile(join(project, "kvmci.yml"), "user-data: fixture-user-data.yml\n");
});

afterAll(async () => {
  const left = await actionLeftovers(sandbox);
  await sandbox.dispose();
  expect(left, "no run folder and no QEMU may outlive the Action").toEqual({
    runFolders: [],
    qemu: [],
  });
});

const suite = {
  "working-directory": "project",
  run: "./run-tests.sh",
  junit: "reports/junit.xml",
  artifacts: "reports/summary.txt",
};

describe("the GitHub Action (dist/)", () => {
  it("runs a passing suite: outputs, groups, a job summary with the JUnit results", async () => {
    const { result } = await actionStep(sandbox, "main", {
      ...suite,
      env: "FIXTURE_GREETING=hello from the host",
    });
    const r = await result;
    expect(r.exitCode, r.log).toBe(0);
    expect(r.outputs["exit-code"]).toBe("0");
    expect(r.outputs.accel).toMatch(/^(kvm|tcg)$/);
    expect(Number(r.outputs.duration)).toBeGreaterThan(0);
    expect(JSON.parse(await readFile(r.outputs.report!, "utf8"))).toMatchObject({
      outcome: "passed",
    });
    expect(await readFile(r.outputs["console-log"]!, "utf8")).not.toBe("");
    expect(r.log).toMatch(/^::group::kvmci: (boot|restore)$/m);
    expect(r.log).toMatch(/^::endgroup::$/m);
    // The guest's output is fenced: it cannot issue workflow commands.
    expect(r.log).toMatch(/^::stop-commands::[0-9a-f-]{36}$/m);
    expect(r.log).toContain("8 passed, 0 failed");
    expect(r.summary).toContain("## kvmci: ✅ passed");
    expect(r.summary).toContain("### Tests: 8 passed, 0 failed, 0 skipped");
    expect(r.summary).toContain("| `fixture` | 8 | 0 | 0 |");
    expect(r.summary).not.toContain("hello from the host");
    expect(await readFile(join(project, "kvmci-artifacts", "reports", "summary.txt"), "utf8")).toBe(
      "8 passed, 0 failed\n",
    );
  });

  it("runs a failing suite: the step fails, each JUnit failure is annotated at its file and line", async () => {
    const { result } = await actionStep(sandbox, "main", {
      ...suite,
      env: "FIXTURE_GREETING=hello from the host\nFIXTURE_FAIL=1",
    });
    const r = await result;
    expect(r.exitCode, r.log).toBe(1);
    expect(r.outputs["exit-code"]).toBe("1");
    expect(r.log).toMatch(
      /^::error title=fixture › on-request%3A on-request failed,file=project\/tests\/on-request\.sh,line=4::tests\/on-request\.sh:4: expected the answer to be 42, got 41$/m,
    );
    expect(r.log).toContain("::error::kvmci: the command failed with exit code 1");
    expect(r.summary).toContain("## kvmci: ❌ failed (exit code 1)");
    expect(r.summary).toContain("### Tests: 7 passed, 1 failed, 0 skipped");
    expect(r.summary).toContain("#### ❌ `fixture` › `on-request` — `tests/on-request.sh:4`");
  });

  it("stops a command at its timeout: exit code 124, the step fails", async () => {
    const { result } = await actionStep(sandbox, "main", {
      "working-directory": "project",
      run: "sleep 600",
      timeout: "3s",
    });
    const r = await result;
    expect(r.exitCode, r.log).toBe(1);
    expect(r.outputs["exit-code"]).toBe("124");
    expect(r.summary).toContain("timed out");
  });

  it("annotates a guest that fails to boot with the console's last lines", async () => {
    const { result } = await actionStep(sandbox, "main", {
      "working-directory": "project",
      run: "true",
      snapshot: "false",
      "boot-timeout": "6s",
    });
    const r = await result;
    expect(r.exitCode, r.log).toBe(1);
    expect(r.outputs["exit-code"]).toBe("66");
    const annotation = r.log
      .split("\n")
      .find((l) => l.startsWith("::error title=kvmci%3A The guest was not ready"));
    expect(annotation, r.log).toContain("Last lines of the guest console:");
    expect(r.summary).toContain("## kvmci: ❌ could not complete (exit code 66)");
    expect(r.summary).toContain("Last lines of the guest console");
  });

  it("runs one guest per image line at once: a group per guest, all of them in the summary", async () => {
    const { result } = await actionStep(sandbox, "main", {
      "working-directory": "project",
      image: "debian-12\ndebian-12",
      run: 'echo "guest $(hostname)"',
    });
    const r = await result;
    expect(r.exitCode, r.log).toBe(0);
    expect(r.outputs["exit-code"]).toBe("0");
    expect(r.log).toMatch(/^::group::kvmci \[debian-12\]: passed$/m);
    expect(r.log).toMatch(/^::group::kvmci \[debian-12-2\]: passed$/m);
    expect(r.log).toMatch(/^\[debian-12-2\] guest kvmci-/m);
    expect(r.summary).toContain("## kvmci: ✅ 2 of 2 guests passed");
    expect(r.summary).toContain("### debian-12-2: ✅ passed");
    const report = JSON.parse(await readFile(r.outputs.report!, "utf8")) as {
      guests: { name: string }[];
    };
    expect(report.guests.map((g) => g.name)).toEqual(["debian-12", "debian-12-2"]);
    expect(r.outputs["console-log"]!.split("\n")).toHaveLength(2);
  });

  it("reports every bad input at once, before starting anything", async () => {
    const { result } = await actionStep(sandbox, "main", {
      memory: "lots",
      accel: "fast",
      cache: "maybe",
      junit: "/abs/junit.xml",
      provision: "packages: [",
      run: "true",
    });
    const r = await result;
    expect(r.exitCode).toBe(1);
    expect(r.outputs["exit-code"]).toBe("64");
    const error = r.log
      .split("\n")
      .find((l) => l.startsWith("::error title=kvmci%3A Invalid inputs::"));
    for (const problem of [
      "input memory: expected a size like 2G",
      "input accel: expected one of auto, kvm, tcg",
      "input cache: expected true or false",
      "input junit: expected a path relative",
      "input provision:",
    ])
      expect(error).toContain(problem);
    expect(r.log).not.toMatch(/at .*\.js:\d+/);
    expect(r.log).not.toContain("::group::kvmci: boot");
  });

  it("when the main step is killed mid-boot, the post step leaves no QEMU and no run folder", async () => {
    const main = await actionStep(sandbox, "main", {
      "working-directory": "project",
      run: "true",
      snapshot: "false",
    });
    await waitForOutput(main.child, /^::group::kvmci: boot$/m, 10 * 60_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect((await actionLeftovers(sandbox)).runFolders).toHaveLength(1);
    main.child.kill("SIGKILL");
    const killed = await main.result;
    expect(killed.state.folder).toBeDefined();

    const post = await (await actionStep(sandbox, "post", {}, { state: killed.state })).result;
    expect(post.exitCode, post.log).toBe(0);
    expect(post.log).toMatch(/removed .*kvmci-run-.*, left by the main step/);
    expect(await actionLeftovers(sandbox)).toEqual({ runFolders: [], qemu: [] });
  });
});
