import yaml from "js-yaml";
import { describe, expect, it } from "vitest";
import {
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
