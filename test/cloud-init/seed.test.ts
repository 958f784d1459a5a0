import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import yaml from "js-yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSeedImage } from "../../src/cloud-init/seed.js";
import { generateKeyPair } from "../../src/ssh/keys.js";

// The seed is checked by independent readers (blkid from util-linux, isoinfo from genisoimage),
// not by our own parser: cloud-init finds it through the kernel and blkid, not through us.
const spec = {
  instanceId: "kvmci-test-1",
  hostname: "kvmci-abc",
  user: "debian",
  authorizedKey: generateKeyPair("client").publicKey,
  hostKey: generateKeyPair("host"),
};

describe("cidata seed image", () => {
  let dir: string;
  let path: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kvmci-seed-test-"));
    path = join(dir, "seed.iso");
    await writeFile(path, buildSeedImage(spec, new Date("2026-01-02T03:04:05Z")));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("is an ISO 9660 volume labelled cidata according to blkid", async () => {
    const { stdout } = await execa("blkid", ["-o", "export", path]);
    expect(stdout).toContain("TYPE=iso9660");
    expect(stdout).toContain("LABEL=cidata");
  });

  it("lists the three NoCloud files under their Joliet names", async () => {
    const { stdout } = await execa("isoinfo", ["-J", "-l", "-i", path]);
    for (const name of ["user-data", "meta-data", "network-config"])
      expect(stdout).toMatch(new RegExp(` ${name}\\s*$`, "m"));
  });

  it("carries kvmci's first-boot script with kvmci's cloud-config alone, and not with a runcmd", async () => {
    const { stdout } = await execa("isoinfo", ["-J", "-x", "/kvmci-first-boot", "-i", path]);
    expect(stdout).toMatch(/^#!\/bin\/sh\n/);
    expect(stdout).toContain(spec.hostKey.publicKey.trimEnd());
    const withRuncmd = join(dir, "runcmd.iso");
    await writeFile(
      withRuncmd,
      buildSeedImage({ ...spec, extra: { runcmd: ["true"] } }, new Date("2026-01-02T03:04:05Z")),
    );
    const listed = await execa("isoinfo", ["-J", "-l", "-i", withRuncmd]);
    expect(listed.stdout).not.toContain("kvmci-first-boot");
  });

  it("holds user-data that is cloud-config with the user, key and pinned host key", async () => {
    const { stdout } = await execa("isoinfo", ["-J", "-x", "/user-data", "-i", path]);
    expect(stdout.startsWith("#cloud-config\n")).toBe(true);
    const config = yaml.load(stdout) as Record<string, unknown>;
    expect(config.ssh_pwauth).toBe(false);
    expect(config.ssh_keys).toEqual({
      ed25519_private: spec.hostKey.privateKey,
      ed25519_public: spec.hostKey.publicKey,
    });
    expect(config.users).toEqual([
      expect.objectContaining({
        name: "debian",
        lock_passwd: true,
        ssh_authorized_keys: [spec.authorizedKey],
      }),
    ]);
  });

  it("holds meta-data with the instance id and hostname", async () => {
    const { stdout } = await execa("isoinfo", ["-J", "-x", "/meta-data", "-i", path]);
    expect(yaml.load(stdout)).toEqual({
      "instance-id": "kvmci-test-1",
      "local-hostname": "kvmci-abc",
    });
  });

  it("keeps 8.3 names in the primary tree for readers without Joliet", async () => {
    const { stdout } = await execa("isoinfo", ["-l", "-i", path]);
    expect(stdout).toContain("USER_DAT.;1");
    expect(stdout).toContain("NETWORK_.;1");
  });
});
