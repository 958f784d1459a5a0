import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSandbox, type Sandbox } from "./harness.js";

// The debian-13 recipe (trixie) built from Debian's packages and booted cold, like debian-12.
// The x86-64 build is in every run of the tests. The arm64 one is built under qemu-user and
// booted under TCG: several more minutes, so only in `npm run test:all` (KVMCI_TEST_ALL=1).

const buildTimeoutMs = 45 * 60_000;
const all = process.env.KVMCI_TEST_ALL === "1";

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(async () => {
  const left = await sandbox.leftovers();
  await sandbox.dispose();
  expect(left, "no run folder and no QEMU may outlive a run").toEqual({ runFolders: [], qemu: [] });
});

async function buildAndBoot(arch: "x86_64" | "aarch64") {
  const build = await sandbox.start(["image", "build", "debian-13", "--arch", arch], sandbox.root);
  expect(build.exitCode, build.all).toBe(0);
  const reportPath = join(sandbox.root, "report.json");
  const result = await sandbox.start(
    [
      "run",
      "--image",
      "debian-13",
      "--arch",
      arch,
      "--memory",
      "1G",
      "--no-snapshot",
      "--no-sync",
      "--json",
      reportPath,
      "--",
      "sh",
      "-c",
      '. /etc/os-release; echo "$VERSION_CODENAME $(uname -m) $(cat /etc/debian_version)"; cloud-init status',
    ],
    sandbox.root,
  );
  expect(result.exitCode, result.all).toBe(0);
  expect(result.stdout).toMatch(new RegExp(`^trixie ${arch} 13\\.\\d+$`, "m"));
  expect(result.stdout).toMatch(/^status: done$/m);
  const report = JSON.parse(await readFile(reportPath, "utf8")) as Record<string, unknown>;
  expect(report).toMatchObject({
    outcome: "passed",
    boot: "kernel",
    image: { name: "debian-13" },
    guest: { arch },
    cloudInitErrors: [],
  });
}

describe("the debian-13 recipe", () => {
  it("builds for x86_64 and boots", () => buildAndBoot("x86_64"), buildTimeoutMs);

  it.runIf(all)(
    "builds for aarch64 and boots (npm run test:all)",
    () => buildAndBoot("aarch64"),
    buildTimeoutMs,
  );
});
