import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadRunConfig } from "../../src/config/load.js";
import { KvmciError } from "../../src/errors.js";

let cwd: string;
beforeEach(async () => {
  cwd = await mkdtemp(join(tmpdir(), "kvmci-config-test-"));
});
afterEach(() => rm(cwd, { recursive: true, force: true }));

async function problemsOf(
  promise: Promise<unknown>,
): Promise<{ message: string; details: string[]; exitCode: number }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof KvmciError)
      return { message: error.message, details: error.details, exitCode: error.exitCode };
    throw error;
  }
  throw new Error("expected the config to be rejected");
}

describe("loadRunConfig", () => {
  it("applies defaults", async () => {
    const config = await loadRunConfig({ flags: {}, argv: ["true"], configPath: undefined, cwd });
    expect(config).toMatchObject({
      image: "debian-12",
      accel: "auto",
      workdir: "/work",
      sync: true,
      memoryBytes: 2 * 1024 ** 3,
      command: { argv: ["true"] },
    });
    expect(config.artifactsDir).toBe(join(cwd, "kvmci-artifacts"));
  });

  it("reads kvmci.yml, and flags win over it", async () => {
    await writeFile(join(cwd, "kvmci.yml"), "memory: 1G\ncpus: 1\nrun: make test\nenv:\n  A: 1\n");
    const config = await loadRunConfig({
      flags: { memory: "3G" },
      argv: [],
      configPath: undefined,
      cwd,
    });
    expect(config.memoryBytes).toBe(3 * 1024 ** 3);
    expect(config.cpus).toBe(1);
    expect(config.command).toEqual({ script: "make test" });
    expect(config.env).toEqual({ A: "1" });
  });

  it("takes arch: from kvmci.yml (a matrix entry's too), the host's when not given", async () => {
    const load = (hostArch: "x86_64" | "aarch64") =>
      loadRunConfig({ flags: {}, argv: ["true"], configPath: undefined, cwd, hostArch });
    expect((await load("aarch64")).arch).toBe("aarch64");
    await writeFile(join(cwd, "kvmci.yml"), "arch: aarch64\n");
    expect((await load("x86_64")).arch).toBe("aarch64");
    await writeFile(
      join(cwd, "kvmci.yml"),
      "matrix:\n  - name: x86\n  - name: arm\n    arch: aarch64\n",
    );
    expect((await load("x86_64")).matrix.map((m) => [m.name, m.arch])).toEqual([
      ["x86", "x86_64"],
      ["arm", "aarch64"],
    ]);
    await writeFile(join(cwd, "kvmci.yml"), "arch: arm64\nmatrix:\n  - arch: [x86_64]\n");
    const { details } = await problemsOf(load("x86_64"));
    expect(details).toEqual(
      expect.arrayContaining([
        'kvmci.yml: arch: expected x86_64 or aarch64, got "arm64" (that is aarch64 here)',
        expect.stringMatching(/^kvmci\.yml: matrix\[0\]\.arch: /),
      ]),
    );
  });

  it("reports every problem at once, each with where it came from", async () => {
    await writeFile(join(cwd, "kvmci.yml"), "memory: lots\naccel: fast\nbogus: 1\n");
    const { details, exitCode } = await problemsOf(
      loadRunConfig({
        flags: { cpus: "zero", env: ["NOEQUALS"], timeout: "soon" },
        argv: ["true"],
        configPath: undefined,
        cwd,
      }),
    );
    expect(exitCode).toBe(64);
    expect(details).toEqual(
      expect.arrayContaining([
        'kvmci.yml: memory: expected a size like 2G or 512M (a bare number is MiB), got "lots"',
        'kvmci.yml: accel: expected one of auto, kvm, tcg, got "fast"',
        "kvmci.yml: bogus: unknown setting",
        '--cpus: expected a whole number from 1 to 64, got "zero"',
        "--env: NOEQUALS is not set in kvmci's environment (export it first, or give NOEQUALS=VALUE)",
        '--timeout: expected a duration like 90s, 10m or 1h, got "soon"',
      ]),
    );
    expect(details).toHaveLength(6);
  });

  it("asks for a command when there is none", async () => {
    const { message } = await problemsOf(
      loadRunConfig({ flags: {}, argv: [], configPath: undefined, cwd }),
    );
    expect(message).toContain("no command");
  });

  it("rejects a missing --config file and a user-data file that is not a mapping", async () => {
    await writeFile(join(cwd, "ud.yml"), "- just\n- a list\n");
    const { details } = await problemsOf(
      loadRunConfig({
        flags: { "user-data": "ud.yml" },
        argv: ["true"],
        configPath: "nope.yml",
        cwd,
      }),
    );
    expect(details.some((d) => d.startsWith("--config: cannot read"))).toBe(true);
    expect(details.some((d) => d.includes("must be a cloud-config mapping"))).toBe(true);
  });

  it("rejects a relative workdir and bad environment names", async () => {
    const { details } = await problemsOf(
      loadRunConfig({
        flags: { workdir: "work", env: ["1A=x"] },
        argv: ["true"],
        configPath: undefined,
        cwd,
      }),
    );
    expect(details).toEqual(
      expect.arrayContaining([
        "--workdir: expected an absolute path in the guest, like /work",
        '--env: "1A" is not a valid environment variable name',
      ]),
    );
  });
});

describe("provision", () => {
  it("reads packages, a script file beside kvmci.yml and cloud-config; flags add and replace", async () => {
    await writeFile(
      join(cwd, "kvmci.yml"),
      "provision:\n  packages: [curl, hello]\n  script-file: setup.sh\n  cloud-config:\n    timezone: UTC\n",
    );
    await writeFile(join(cwd, "setup.sh"), "#!/bin/sh\necho from file\n");
    await writeFile(join(cwd, "other.sh"), "echo from flag\n");
    const fromFile = await loadRunConfig({ flags: {}, argv: ["true"], configPath: undefined, cwd });
    expect(fromFile.provision).toEqual({
      packages: ["curl", "hello"],
      script: "#!/bin/sh\necho from file\n",
      scriptSource: join(cwd, "setup.sh"),
      cloudConfig: { timezone: "UTC" },
    });
    const withFlags = await loadRunConfig({
      flags: { "provision-script": "other.sh", "provision-package": ["hello", "jq"] },
      argv: ["true"],
      configPath: undefined,
      cwd,
    });
    expect(withFlags.provision).toMatchObject({
      packages: ["curl", "hello", "jq"],
      script: "echo from flag\n",
    });
  });

  it("refuses the flags' shortcuts in kvmci.yml, saying what to write there instead", async () => {
    await writeFile(
      join(cwd, "kvmci.yml"),
      "provision-script: setup.sh\nprovision-package: [curl]\nprovision:\n  packages: [jq]\n",
    );
    await writeFile(join(cwd, "setup.sh"), "echo\n");
    const refused = await problemsOf(
      loadRunConfig({ flags: {}, argv: ["true"], configPath: undefined, cwd }),
    );
    expect(refused.exitCode).toBe(64);
    expect(refused.details).toEqual([
      "kvmci.yml: provision-script: only a flag (--provision-script); in kvmci.yml write provision: {script-file: FILE}",
      "kvmci.yml: provision-package: only a flag (--provision-package); in kvmci.yml write provision: {packages: [NAME, …]}",
    ]);
  });

  it("is undefined when nothing is provisioned", async () => {
    await writeFile(join(cwd, "kvmci.yml"), "provision: {}\n");
    const config = await loadRunConfig({ flags: {}, argv: ["true"], configPath: undefined, cwd });
    expect(config.provision).toBeUndefined();
  });

  it("reports a bad package name, script and script-file together, and an unreadable file", async () => {
    await writeFile(
      join(cwd, "kvmci.yml"),
      "provision:\n  packages: ['curl; rm -rf /']\n  script: echo\n  script-file: x.sh\n",
    );
    const bad = await problemsOf(
      loadRunConfig({ flags: {}, argv: ["true"], configPath: undefined, cwd }),
    );
    expect(bad.exitCode).toBe(64);
    expect(bad.details.join("\n")).toContain("expected a package name like curl");
    expect(bad.details.join("\n")).toContain("give script or script-file, not both");
    const missing = await problemsOf(
      loadRunConfig({
        flags: { "provision-script": "nope.sh" },
        argv: ["true"],
        configPath: undefined,
        cwd,
      }),
    );
    expect(missing.details).toContain(`--provision-script: cannot read ${join(cwd, "nope.sh")}`);
  });
});
