import { describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import yaml from "js-yaml";
import { actionInputs, readActionInputs } from "../../src/action/inputs.js";
import { loadRunConfig } from "../../src/config/load.js";
import { KvmciError } from "../../src/errors.js";

const files = { report: "/t/report.json", consoleLog: "/t/console.log" };
const read = (inputs: Record<string, string>) =>
  readActionInputs((name) => inputs[name] ?? "", { workspace: "/ws", files });

describe("readActionInputs", () => {
  it("maps inputs onto the settings of kvmci run", async () => {
    const settings = read({
      image: "ubuntu-24.04",
      run: "npm test",
      memory: "4G",
      env: "A=1\n# a comment\n\nB=two words",
      artifacts: "reports/**/*.xml\ncoverage/lcov.info",
      junit: "junit.xml",
      provision: "packages: [hello]\nscript: echo hi\n",
      "working-directory": "app",
      snapshot: "false",
    });
    expect(settings.junit).toBe("junit.xml");
    expect(settings.cache).toBe(true);
    expect(settings.load.cwd).toBe("/ws/app");
    const config = await loadRunConfig({ ...settings.load, cwd: "/nonexistent-kvmci-test" });
    expect(config).toMatchObject({
      image: "ubuntu-24.04",
      command: { script: "npm test" },
      memoryBytes: 4 * 1024 ** 3,
      env: { A: "1", B: "two words" },
      artifacts: ["reports/**/*.xml", "coverage/lcov.info", "junit.xml"],
      snapshot: false,
      json: files.report,
      consoleLog: files.consoleLog,
      provision: { packages: ["hello"], script: "echo hi" },
    });
  });

  it("takes arch: one line is the guest's architecture, several make one guest per line", async () => {
    const load = (inputs: Record<string, string>) =>
      loadRunConfig({
        ...read({ run: "uname -m", ...inputs }).load,
        cwd: "/nonexistent-kvmci-test",
        hostArch: "x86_64",
      });
    expect((await load({})).arch).toBe("x86_64");
    expect((await load({ arch: "aarch64" })).matrix.map((m) => m.arch)).toEqual(["aarch64"]);
    expect((await load({ arch: "x86_64\naarch64" })).matrix.map((m) => [m.name, m.arch])).toEqual([
      ["debian-12-x86_64", "x86_64"],
      ["debian-12-aarch64", "aarch64"],
    ]);
    const error = await load({ arch: "arm64" }).catch((e: unknown) => e);
    expect((error as KvmciError).message).toBe(
      'Invalid configuration: input arch: expected x86_64 or aarch64, got "arm64" (that is aarch64 here)',
    );
  });

  it("reports the inputs' own problems together with the configuration's, named as inputs", async () => {
    const settings = read({ cache: "maybe", memory: "lots", junit: "../x.xml", provision: "[" });
    const error = await loadRunConfig(settings.load).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KvmciError);
    const { details, exitCode, hint } = error as KvmciError;
    expect(exitCode).toBe(64);
    expect(details).toEqual([
      expect.stringMatching(/^input provision: /),
      'input junit: expected a path relative to the working directory in the guest, got "../x.xml"',
      'input cache: expected true or false, got "maybe"',
      'input memory: expected a size like 2G or 512M (a bare number is MiB), got "lots"',
      "no command: set the input run, or run: in kvmci.yml",
    ]);
    const artifacts = await loadRunConfig(read({ artifacts: "/etc/*", run: "x" }).load).catch(
      (e: unknown) => e,
    );
    expect((artifacts as KvmciError).message).toMatch(/^Invalid configuration: input artifacts: /);
    expect(hint).toContain("action.yml");
  });
});

describe("action.yml", () => {
  it("declares exactly the inputs kvmci reads: the settings' and the Action's own", async () => {
    const declared = yaml.load(
      await readFile(new URL("../../action.yml", import.meta.url), "utf8"),
    ) as {
      inputs: Record<string, { description: string; default?: string }>;
    };
    expect(Object.keys(declared.inputs).sort()).toEqual([...actionInputs].sort());
    for (const [name, input] of Object.entries(declared.inputs))
      expect(input.description.length, name).toBeGreaterThan(10);
  });
});
