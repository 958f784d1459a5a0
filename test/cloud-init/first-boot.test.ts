import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { firstBootCovers, renderFirstBoot } from "../../src/cloud-init/first-boot.js";
import { trustCloudConfig } from "../../src/cloud-init/trust.js";
import { generateKeyPair } from "../../src/ssh/keys.js";

const spec = {
  instanceId: "kvmci-test-1",
  hostname: "kvmci-abc",
  user: "debian",
  authorizedKey: generateKeyPair("client").publicKey,
  hostKey: generateKeyPair("host"),
};

describe("firstBootCovers", () => {
  it("covers kvmci's own cloud-config and the host's certificates", () => {
    expect(firstBootCovers(undefined)).toBe(true);
    expect(firstBootCovers(trustCloudConfig(["-----BEGIN CERTIFICATE-----\nx\n"]))).toBe(true);
    expect(firstBootCovers({ bootcmd: ["echo hi", ["touch", "/x"]] })).toBe(true);
    expect(
      firstBootCovers({ write_files: [{ path: "/etc/x", content: "y", permissions: "0600" }] }),
    ).toBe(true);
  });

  it("leaves to cloud-init anything else: other keys, file owners, encodings, odd shapes", () => {
    for (const extra of [
      { runcmd: ["true"] },
      { packages: ["curl"] },
      { users: [{ name: "other" }] },
      { write_files: [{ path: "/etc/x", content: "y", owner: "nobody:nogroup" }] },
      { write_files: [{ path: "/etc/x", content: "eQ==", encoding: "b64" }] },
      { write_files: [{ path: "/etc/x", content: "y", defer: true }] },
      { write_files: [{ path: "relative", content: "y" }] },
      { write_files: [{ path: "/etc/x", permissions: "u+rw" }] },
      { bootcmd: "not a list" },
      { bootcmd: [[]] },
      { bootcmd: [["echo", 1]] },
    ])
      expect(firstBootCovers(extra as Record<string, unknown>), JSON.stringify(extra)).toBe(false);
  });
});

describe("renderFirstBoot", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kvmci-first-boot-"));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("is a shell script sh accepts", async () => {
    const script = renderFirstBoot({ ...spec, extra: trustCloudConfig(["a", "b"]) });
    await execa("sh", ["-n"], { input: script });
  });

  it("runs a per-instance bootcmd at once, with no cloud-init-per mark, and keeps `once`", () => {
    const script = renderFirstBoot({
      ...spec,
      extra: {
        bootcmd: [
          ["cloud-init-per", "instance", "mark", "touch", "/a"],
          ["cloud-init-per", "once", "other", "touch", "/b"],
        ],
      },
    });
    expect(script).toMatch(/^touch \/a \|\| failed '"bootcmd 2 /m);
    expect(script).toMatch(/^cloud-init-per once other touch \/b \|\| failed '"bootcmd 3 /m);
  });

  // The whole script changes the machine it runs on (users, host keys): it runs in a guest, in
  // the integration tests. Its bootcmd and write_files lines are run here, each as the script
  // has it, to show that what they carry stays data.
  it("runs bootcmd and writes files with their content as given, whatever it holds", async () => {
    const hostile = `it's "$(touch ${dir}/pwned)" \`touch ${dir}/pwned\` $HOME\n\\n %s`;
    const script = renderFirstBoot({
      ...spec,
      extra: {
        bootcmd: [["sh", "-c", 'printf "%s" "$1" > "$2"', "-", hostile, join(dir, "argv")]],
        write_files: [
          { path: join(dir, "sub", "file"), content: hostile, permissions: "0600" },
          { path: join(dir, "missing", "x"), content: "y" },
        ],
      },
    });
    const lines = script
      .split("\n")
      .filter((l) => l.includes(dir) && !l.startsWith("printf '%s\\n'"));
    const failedDef = script.split("\n").find((l) => l.startsWith("failed()"))!;
    const outcome = await execa("sh", ["-c", [failedDef, ...lines, 'echo "[$errors]"'].join("\n")]);
    expect(await readFile(join(dir, "argv"), "utf8")).toBe(hostile);
    expect(await readFile(join(dir, "sub", "file"), "utf8")).toBe(hostile);
    expect((await stat(join(dir, "sub", "file"))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, "missing", "x"), "utf8")).toBe("y");
    await expect(stat(join(dir, "pwned"))).rejects.toThrow();
    expect(outcome.stdout).toBe("[]");
  });

  it("records a failing command as an error of the stage, and goes on", async () => {
    const script = renderFirstBoot({ ...spec, extra: { bootcmd: ["exit 3", ["true"]] } });
    const failedDef = script.split("\n").find((l) => l.startsWith("failed()"))!;
    // kvmci's own bootcmd (the pam_motd edit, not for this host) is the first; the user's
    // come after it.
    const lines = script.split("\n").filter((l) => /\|\| failed '"bootcmd [23] /.test(l));
    expect(lines).toHaveLength(2);
    const outcome = await execa("sh", ["-c", [failedDef, ...lines, 'echo "[$errors]"'].join("\n")]);
    expect(JSON.parse(outcome.stdout)).toEqual(["bootcmd 2 (exit 3) failed with exit code 3"]);
  });

  it("reports a file it cannot write by its path, quotes and all, as valid JSON", async () => {
    await writeFile(join(dir, "a-file"), "");
    const path = join(dir, "a-file", `"it's"`);
    const script = renderFirstBoot({ ...spec, extra: { write_files: [{ path, content: "x" }] } });
    const failedDef = script.split("\n").find((l) => l.startsWith("failed()"))!;
    const lines = script.split("\n").filter((l) => l.includes(dir));
    const outcome = await execa("sh", ["-c", [failedDef, ...lines, 'echo "[$errors]"'].join("\n")]);
    expect(JSON.parse(outcome.stdout.split("\n").at(-1)!)).toEqual([
      "write_files: making their folders failed",
      `write_files: writing ${path} failed`,
      "write_files: chmod 0644 failed",
    ]);
  });
});
