import { describe, expect, it } from "vitest";
import { loadRunConfig } from "../../src/config/load.js";
import { planGuests } from "../../src/run/matrix.js";
import { checkBeforeStart } from "../../src/run/preflight.js";

const G = 1024 ** 3;

async function problems(
  flags: Parameters<typeof loadRunConfig>[0]["flags"],
  hostArch: "x86_64" | "aarch64",
) {
  const config = await loadRunConfig({
    flags: { node: "none", ...flags },
    argv: ["true"],
    configPath: undefined,
    cwd: "/nonexistent-kvmci-test",
    hostArch,
  });
  return checkBeforeStart(config, planGuests(config), { totalMemoryBytes: 16 * G, arch: hostArch });
}

describe("checkBeforeStart: the guest's architecture", () => {
  it("refuses --accel kvm for a guest of another architecture before its image is fetched", async () => {
    expect(await problems({ accel: "kvm", arch: "aarch64" }, "x86_64")).toEqual([
      "--accel: kvm runs guests of this host's own architecture (x86_64) only, and the guest is aarch64; leave accel at auto (or tcg) to emulate it",
    ]);
    expect(await problems({ accel: "kvm", arch: ["x86_64", "aarch64"] }, "x86_64")).toEqual([
      "--accel (debian-12-aarch64): kvm runs guests of this host's own architecture (x86_64) only, and the guest is aarch64; leave accel at auto (or tcg) to emulate it",
    ]);
  });

  it("lets --accel kvm through for the host's own architecture, and auto for any", async () => {
    expect(await problems({ accel: "kvm", arch: "aarch64" }, "aarch64")).toEqual([]);
    expect(await problems({ accel: "kvm" }, "x86_64")).toEqual([]);
    expect(await problems({ arch: ["x86_64", "aarch64"] }, "x86_64")).toEqual([]);
  });
});
