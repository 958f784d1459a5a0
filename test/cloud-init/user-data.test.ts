import { execFileSync } from "node:child_process";
import yaml from "js-yaml";
import { describe, expect, it } from "vitest";
import {
  finalStageIdle,
  mergeCloudConfig,
  renderNetworkConfig,
  renderUserData,
} from "../../src/cloud-init/user-data.js";

const spec = {
  instanceId: "i",
  hostname: "h",
  user: "debian",
  authorizedKey: "ssh-ed25519 AAAA client",
  hostKey: { privateKey: "PRIVATE", publicKey: "ssh-ed25519 BBBB host" },
};

describe("user-data", () => {
  it("merges extra cloud-config: lists appended, maps merged, kvmci's access settings kept", () => {
    const merged = mergeCloudConfig(
      { users: [{ name: "debian" }], ssh_pwauth: false, ssh_keys: { a: 1 } },
      { users: [{ name: "extra" }], ssh_pwauth: true, ssh_keys: { b: 2 }, packages: ["jq"] },
    );
    expect(merged).toEqual({
      users: [{ name: "debian" }, { name: "extra" }],
      ssh_pwauth: false,
      ssh_keys: { a: 1 },
      packages: ["jq"],
    });
  });

  it("renders valid YAML after the #cloud-config header, extras included", () => {
    const text = renderUserData({ ...spec, extra: { runcmd: ["touch /x"] } });
    expect(text.split("\n")[0]).toBe("#cloud-config");
    const config = yaml.load(text) as Record<string, unknown>;
    expect(config.runcmd).toEqual(["touch /x"]);
    expect(config.disable_root).toBe(true);
  });

  it("turns off SSH's message of the day before sshd starts; a user's bootcmd runs after", () => {
    const config = yaml.load(renderUserData({ ...spec, extra: { bootcmd: ["echo mine"] } })) as {
      bootcmd: (string | string[])[];
    };
    expect(config.bootcmd).toHaveLength(2);
    const [sed, file] = [config.bootcmd[0]!.at(-2)!, config.bootcmd[0]!.at(-1)];
    expect(file).toBe("/etc/pam.d/sshd");
    expect(config.bootcmd[1]).toBe("echo mine");
    // What the expression does to Debian's two pam_motd lines, and to nothing else.
    const pam = [
      "session    optional     pam_motd.so  motd=/run/motd.dynamic",
      "session    optional     pam_motd.so noupdate",
      "session    required     pam_limits.so",
    ].join("\n");
    const edited = execFileSync("sed", ["-E", sed], { input: pam, encoding: "utf8" });
    expect(edited.split("\n")).toEqual([
      "# kvmci: session    optional     pam_motd.so  motd=/run/motd.dynamic",
      "# kvmci: session    optional     pam_motd.so noupdate",
      "session    required     pam_limits.so",
    ]);
  });

  it("asks for DHCP on both interface naming schemes", () => {
    const network = yaml.load(renderNetworkConfig()) as {
      version: number;
      ethernets: Record<string, { match: { name: string } }>;
    };
    expect(network.version).toBe(2);
    expect(
      Object.values(network.ethernets)
        .map((e) => e.match.name)
        .sort(),
    ).toEqual(["en*", "eth*"]);
  });
});

describe("finalStageIdle", () => {
  it("says the final stage has nothing to do only for init-stage keys and files written at once", () => {
    expect(finalStageIdle(undefined)).toBe(true);
    expect(
      finalStageIdle({
        bootcmd: ["echo hi"],
        write_files: [{ path: "/etc/x", content: "x" }],
        users: [{ name: "extra" }],
        hostname: "h",
      }),
    ).toBe(true);
    for (const extra of [
      { runcmd: ["touch /x"] },
      { packages: ["jq"] },
      { package_update: true },
      { power_state: { mode: "reboot" } },
      { write_files: [{ path: "/etc/x", content: "x", defer: true }] },
      { something_new: 1 },
    ])
      expect(finalStageIdle(extra), JSON.stringify(extra)).toBe(false);
  });
});
