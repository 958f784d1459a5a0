import { execa } from "execa";
import { describe, expect, it } from "vitest";
import {
  buildCleanupCommand,
  buildInstallCommand,
  prepareKey,
  runScriptCommand,
} from "../../src/guest/provision.js";

const digest = "sha256:" + "a".repeat(64);
const provision = {
  packages: ["hello", "curl"],
  script: "echo hi",
  scriptSource: "x",
  cloudConfig: undefined,
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
    ];
    expect(new Set([key, ...others]).size).toBe(others.length + 1);
  });
});

describe("provisioning commands", () => {
  it("are valid shell", async () => {
    for (const command of [
      buildInstallCommand(["hello", "python3-pytest"]),
      runScriptCommand,
      buildCleanupCommand("debian"),
    ]) {
      const result = await execa("sh", ["-n"], { input: command, reject: false });
      expect(result.stderr, command).toBe("");
    }
  });

  it("quotes package names", () => {
    expect(buildInstallCommand(["a'b"])).toContain(`'a'\\''b'`);
  });
});
