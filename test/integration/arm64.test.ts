import { randomUUID } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFixtureProject, createSandbox, type Sandbox } from "./harness.js";

// arm64 guests on this (x86-64) host: the arm64 debian-12 is built from Debian's packages with
// its programs under qemu-user, once, into the shared cache (like the x86-64 image .ci/run
// builds), and every guest is emulated (TCG). The tests run in order: the cold run saves the
// snapshot the warm run and the matrix restore. A nonce in the runs' cloud-config makes that
// snapshot this file's own; the last step removes what the file saved.

const buildTimeoutMs = 45 * 60_000;
const nonce = randomUUID();

interface GuestReport {
  outcome: string;
  exitCode: number;
  accel?: { name: string; reason: string };
  boot?: string;
  guest?: { arch: string };
  snapshot?: { entry: string; use: string };
  phases: { phase: string; ms: number }[];
}

let sandbox: Sandbox;
let project: string;
const saved = new Set<string>();

beforeAll(async () => {
  sandbox = await createSandbox();
  project = await createFixtureProject(sandbox);
  await writeFile(
    join(project, "arm64-user-data.yml"),
    [
      "#cloud-config",
      "write_files:",
      "  - path: /etc/kvmci-fixture",
      "    content: from user-data",
      "  - path: /etc/kvmci-nonce",
      `    content: ${nonce}`,
      "runcmd:",
      '  - [sh, -c, "echo from runcmd > /etc/kvmci-runcmd"]',
      "",
    ].join("\n"),
  );
  const build = await sandbox.start(["image", "build", "debian-12", "--arch", "aarch64"], project);
  expect(build.exitCode, build.all).toBe(0);
}, buildTimeoutMs);

afterAll(async () => {
  if (saved.size > 0) await sandbox.start(["image", "rm", ...saved], project);
  const left = await sandbox.leftovers();
  await sandbox.dispose();
  expect(left, "no run folder and no QEMU may outlive a run").toEqual({ runFolders: [], qemu: [] });
});

async function run(name: string, args: string[]) {
  const reportPath = join(sandbox.root, `${name}.json`);
  const result = await sandbox.start(
    ["run", "--memory", "1G", "--user-data", "arm64-user-data.yml", "--json", reportPath, ...args],
    project,
  );
  const report = JSON.parse(await readFile(reportPath, "utf8")) as GuestReport & {
    guests?: (GuestReport & { name: string })[];
  };
  for (const r of [report, ...(report.guests ?? [])])
    if (r.snapshot?.use === "saved") saved.add(r.snapshot.entry);
  return { result, report, phases: report.phases?.map((p) => p.phase) ?? [] };
}

describe("arm64 guests on an x86-64 host", () => {
  let cold: GuestReport;

  it("boots the arm64 debian-12 cold under TCG and runs the fixture's suite there", async () => {
    const { result, report, phases } = await run("cold", [
      "--arch",
      "aarch64",
      "--artifact",
      "reports/*",
      "--env",
      "FIXTURE_GREETING=hello from the host",
      "--",
      "sh",
      "-c",
      './run-tests.sh && echo "arch=$(uname -m) nonce=$(cat /etc/kvmci-nonce)"',
    ]);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toContain("8 passed, 0 failed");
    expect(result.stdout).toContain(`arch=aarch64 nonce=${nonce}`);
    expect(await readFile(join(project, "kvmci-artifacts", "reports", "summary.txt"), "utf8")).toBe(
      "8 passed, 0 failed\n",
    );
    expect(report).toMatchObject({
      outcome: "passed",
      boot: "kernel",
      guest: { arch: "aarch64" },
      accel: { name: "tcg" },
      snapshot: { use: "saved" },
    });
    // Emulating another architecture is what was asked for: a note, not a warning about KVM.
    expect(report.accel!.reason).toMatch(/aarch64 guest on an x86_64 host/);
    expect(result.stderr).not.toMatch(/KVM is not usable/);
    expect(phases).toEqual(expect.arrayContaining(["boot", "ready", "snapshot"]));
    cold = report;
  });

  it("starts warm from the snapshot: kvmci run --arch aarch64 -- uname -m prints aarch64", async () => {
    const { result, report, phases } = await run("warm", [
      "--arch",
      "aarch64",
      "--no-sync",
      "--",
      "uname",
      "-m",
    ]);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout.trim()).toBe("aarch64");
    expect(report.snapshot).toEqual({ entry: cold.snapshot!.entry, use: "restored" });
    expect(phases).toContain("restore");
    expect(phases).not.toContain("boot");
  });

  it("runs guests of both architectures in one run, each named after its architecture", async () => {
    const { result, report } = await run("matrix", [
      "--arch",
      "x86_64",
      "--arch",
      "aarch64",
      "--no-sync",
      "--",
      "sh",
      "-c",
      'echo "arch=$(uname -m)"',
    ]);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toMatch(/^\[debian-12-x86_64\] arch=x86_64$/m);
    expect(result.stdout).toMatch(/^\[debian-12-aarch64\] arch=aarch64$/m);
    expect(result.stderr).toMatch(/^GUEST\s+IMAGE\s+ARCH\s+ACCEL\s+RESULT\s+EXIT/m);
    expect(result.stderr).toMatch(/^debian-12-aarch64\s+debian-12\s+aarch64\s+tcg\s+passed\s+0/m);
    expect(report.guests!.map((g) => [g.name, g.guest?.arch, g.outcome])).toEqual([
      ["debian-12-x86_64", "x86_64", "passed"],
      ["debian-12-aarch64", "aarch64", "passed"],
    ]);
    // The arm64 guest starts from the cold run's snapshot; the x86-64 one is another machine.
    const arm = report.guests!.find((g) => g.name === "debian-12-aarch64")!;
    expect(arm.snapshot).toEqual({ entry: cold.snapshot!.entry, use: "restored" });
    const x86 = report.guests!.find((g) => g.name === "debian-12-x86_64")!;
    expect(x86.snapshot?.entry).not.toBe(cold.snapshot!.entry);
  });
});
