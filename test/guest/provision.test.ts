import { execa } from "execa";
import { describe, expect, it } from "vitest";
import {
  buildCleanupCommand,
  buildInstallCommand,
  nodeInstallCommand,
  prepareKey,
  runScriptCommand,
} from "../../src/guest/provision.js";

const digest = "sha256:" + "a".repeat(64);
const provision = {
  packages: ["hello", "curl"],
  script: "echo hi",
  scriptSource: "x",
  cloudConfig: undefined,
  node: undefined,
};

const node = {
  binary: "/usr/bin/node",
  prefix: "/usr",
  version: "v20.20.2",
  npmVersion: "11.19.1",
  arch: "x86_64" as const,
  sizeBytes: 98_932_688,
  entries: ["bin/node"],
};

describe("prepareKey", () => {
  it("depends on what is provisioned, not on package order or where the script came from", () => {
    const key = prepareKey(digest, provision, undefined);
    expect(
      prepareKey(
        digest,
        { ...provision, packages: ["curl", "hello"], scriptSource: "y" },
        undefined,
      ),
    ).toBe(key);
    const others = [
      prepareKey("sha256:" + "b".repeat(64), provision, undefined),
      prepareKey(digest, { ...provision, packages: ["hello"] }, undefined),
      prepareKey(digest, { ...provision, script: "echo bye" }, undefined),
      prepareKey(digest, { ...provision, cloudConfig: { timezone: "UTC" } }, undefined),
      prepareKey(digest, provision, 8 * 1024 ** 3),
      prepareKey(digest, { ...provision, node }, undefined),
      prepareKey(digest, { ...provision, node: { ...node, version: "v22.1.0" } }, undefined),
    ];
    expect(new Set([key, ...others]).size).toBe(others.length + 1);
    // Where the same Node.js lies on the host does not matter.
    expect(
      prepareKey(digest, { ...provision, node: { ...node, prefix: "/opt/node" } }, undefined),
    ).toBe(prepareKey(digest, { ...provision, node }, undefined));
  });
});

describe("provisioning commands", () => {
  it("are valid shell", async () => {
    for (const command of [
      buildInstallCommand(["hello", "python3-pytest"]),
      runScriptCommand,
      buildCleanupCommand("debian"),
      nodeInstallCommand,
    ]) {
      const result = await execa("sh", ["-n"], { input: command, reject: false });
      expect(result.stderr, command).toBe("");
    }
  });

  it("quotes package names", () => {
    expect(buildInstallCommand(["a'b"])).toContain(`'a'\\''b'`);
  });
});
