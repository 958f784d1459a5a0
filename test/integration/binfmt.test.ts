import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ExitCode } from "../../src/errors.js";
import { createSandbox, repoRoot, type Sandbox } from "./harness.js";

// A fresh machine has no binfmt_misc entry for arm64, sometimes not even binfmt_misc mounted.
// That is simulated without touching the host's: in a user and mount namespace of its own, an
// empty tmpfs hides the host's binfmt_misc (a mount inherited from the host cannot be
// unmounted there), and kvmci, root there, mounts a new binfmt_misc (private to the namespace
// since Linux 6.7) and registers qemu-aarch64 in it before an arm64 build. The build
// itself then fails at once on a mirror that does not answer: what is tested is the set-up.

const cli = join(repoRoot, "bin", "kvmci.js");

/** Whether this kernel gives a user namespace a binfmt_misc of its own (Linux 6.7 and later). */
async function privateBinfmt(): Promise<boolean> {
  const probe = await execa(
    "unshare",
    [
      "--user",
      "--map-root-user",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc && ! ls /proc/sys/fs/binfmt_misc | grep -q qemu",
    ],
    { reject: false },
  );
  return probe.exitCode === 0;
}

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await createSandbox();
});
afterEach(() => sandbox.dispose());

describe("building an arm64 image on a host not set up for it", () => {
  it("mounts binfmt_misc and registers qemu-aarch64 as root, saying so, then builds", async (t) => {
    if (!(await privateBinfmt()))
      t.skip("this kernel has no binfmt_misc of a user namespace's own (Linux 6.7+)");
    const cache = join(sandbox.root, "cache");
    await mkdir(cache);
    const result = await execa(
      "unshare",
      [
        "--user",
        "--map-root-user",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount -t tmpfs hidden /proc/sys/fs/binfmt_misc && exec "$@"',
        "sh",
        "node",
        cli,
        "image",
        "build",
        "debian-12",
        "--arch",
        "aarch64",
        // Nothing listens there: the build stops at its first download.
        "--mirror",
        "http://127.0.0.1:9/debian",
      ],
      { reject: false, all: true, env: { ...sandbox.env, KVMCI_CACHE_DIR: cache } },
    );
    expect(result.all).toContain(
      "mounted binfmt_misc at /proc/sys/fs/binfmt_misc, to build an aarch64 image on this x86_64 host",
    );
    expect(result.all).toMatch(
      /registered \S*qemu-aarch64-static with binfmt_misc for aarch64 programs \(qemu-aarch64, flag F\)/,
    );
    // arch-test passed: the failure is the build's (the mirror), not the host's.
    expect(result.exitCode, result.all).toBe(ExitCode.image);
    expect(result.all).not.toMatch(/arm64 programs do not run|only root can change that/);
  }, 120_000);
});
