import { describe, expect, it } from "vitest";
import { buildChecks, foreignBuildCheck } from "../../src/doctor/checks.js";
import { decideBuildMode, type BuildHost } from "../../src/image/build-mode.js";

// The probes (sudo -n, unshare, /etc/subuid) run on the host; what doctor makes of what they
// found is checked here as data, for each kind of host.
const refused = {
  ok: false,
  why: "refused here: unshare: write failed /proc/self/uid_map",
} as const;
const lacksUserns = [`unprivileged user namespaces (${refused.why})`];
const user = (o: Partial<BuildHost>): BuildHost => ({
  isRoot: false,
  username: "alice",
  unshareLacks: [],
  sudo: false,
  ...o,
});

describe("doctor's sudo, user namespaces and image build checks", () => {
  it("as root: builds run as root, sudo and user namespaces are not needed", () => {
    const checks = buildChecks(user({ isRoot: true }), refused);
    expect(checks.map((c) => [c.name, c.status, c.detail])).toEqual([
      ["sudo", "ok", "not needed: kvmci runs as root"],
      [
        "user namespaces",
        "ok",
        `unprivileged user namespaces do not work (${refused.why}); not needed as root`,
      ],
      ["image builds", "ok", "as root (kvmci runs as root)"],
    ]);
  });

  it("an ordinary user with user namespaces and subordinate ids builds in them", () => {
    const checks = buildChecks(user({}), { ok: true });
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ["sudo", "warn"],
      ["user namespaces", "ok"],
      ["image builds", "ok"],
    ]);
    expect(checks[2]!.detail).toBe("as alice, in user namespaces (mmdebstrap's unshare mode)");
  });

  it("a runner's user whose user namespaces AppArmor refuses builds through sudo -n", () => {
    const checks = buildChecks(user({ sudo: true, unshareLacks: lacksUserns }), refused);
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ["sudo", "ok"],
      ["user namespaces", "warn"],
      ["image builds", "ok"],
    ]);
    expect(checks[0]!.detail).toBe(
      "sudo -n works: kvmci can install what the host lacks with apt-get",
    );
    expect(checks[1]!.fix).toContain("kernel.apparmor_restrict_unprivileged_userns=0");
    expect(checks[2]!.detail).toBe(
      `as root through sudo -n: building as alice would need ${lacksUserns[0]}`,
    );
  });

  it("a user with neither says there is no way to build, and what would make one", () => {
    const lacks = [...lacksUserns, "a range for alice in /etc/subuid"];
    const checks = buildChecks(user({ unshareLacks: lacks }), refused);
    const build = checks[2]!;
    expect(build.status).toBe("warn");
    expect(build.detail).toContain("no way to build an image from its recipe here");
    expect(build.fix).toContain("sudo usermod --add-subuids 100000-165535");
    // Every check that is not fine says what fixes it.
    for (const check of checks)
      if (check.status !== "ok") expect(check.fix, check.name).toBeTruthy();
  });
});

describe("decideBuildMode", () => {
  it("is the same decision chooseBuildMode acts on", () => {
    expect(decideBuildMode(user({ isRoot: true, unshareLacks: lacksUserns }))).toMatchObject({
      mode: "root",
    });
    expect(decideBuildMode(user({ sudo: true }))).toMatchObject({ mode: "unshare" });
    expect(decideBuildMode(user({ sudo: true, unshareLacks: lacksUserns }))).toMatchObject({
      mode: "sudo",
    });
    expect(decideBuildMode(user({ unshareLacks: lacksUserns }))).toMatchObject({
      problem: `Building an image as alice needs ${lacksUserns[0]}, or passwordless sudo`,
    });
  });
});

describe("doctor's check of image builds for the other architecture", () => {
  const entry = {
    enabled: true,
    interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P",
    flags: "PF",
  };
  const have = { archTest: true, qemuUser: true, mayRoot: false };

  it("is fine when binfmt_misc runs arm64 programs and arch-test is there", () => {
    const check = foreignBuildCheck("aarch64", "x86_64", { mounted: true, entry }, have);
    expect(check).toMatchObject({ name: "aarch64 image builds", status: "ok" });
    expect(check.detail).toMatch(
      /^arm64 programs run through \/usr\/libexec\/qemu-binfmt\/aarch64-binfmt-P \(flags PF\)/,
    );
  });

  it("is fine when kvmci may set it up itself (root or sudo -n), and says it will", () => {
    const check = foreignBuildCheck(
      "aarch64",
      "x86_64",
      { mounted: true, entry: undefined },
      { archTest: false, qemuUser: false, mayRoot: true },
    );
    expect(check.status).toBe("ok");
    expect(check.detail).toBe(
      "binfmt_misc has no qemu-aarch64 entry; arch-test and qemu-aarch64-static not installed: kvmci sets this up itself (as root) when it first builds an aarch64 image",
    );
  });

  it("warns an ordinary user without sudo, with the administrator's commands", () => {
    const check = foreignBuildCheck(
      "aarch64",
      "x86_64",
      { mounted: false, entry: undefined },
      have,
    );
    expect(check.status).toBe("warn");
    expect(check.detail).toMatch(
      /^binfmt_misc is not mounted: aarch64 images cannot be built here/,
    );
    expect(check.fix).toMatch(/^sudo apt-get install qemu-user-static binfmt-support arch-test/);
  });
});
