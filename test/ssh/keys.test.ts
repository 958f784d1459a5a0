import { execa } from "execa";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { describe, expect, it } from "vitest";
import { generateKeyPair, publicKeyBlob } from "../../src/ssh/keys.js";

describe("ed25519 key pairs", () => {
  it("are always well formed, though ssh2 gets one in 256 wrong", () => {
    // With the bug, 1000 pairs hold a malformed one 98% of the time.
    for (let i = 0; i < 1000; i++) {
      const pair = generateKeyPair("kvmci-test");
      expect(publicKeyBlob(pair.publicKey)).toHaveLength(51);
      expect(ssh2.utils.parseKey(pair.publicKey)).not.toBeInstanceOf(Error);
      expect(ssh2.utils.parseKey(pair.privateKey)).not.toBeInstanceOf(Error);
    }
  });

  it("draws again when ssh2 strips a leading zero byte from the key", () => {
    // A pair as ssh2 makes it when the key starts with 0x00: 31 bytes instead of 32.
    const short = `ssh-ed25519 ${Buffer.concat([
      Buffer.from([0, 0, 0, 11]),
      Buffer.from("ssh-ed25519"),
      Buffer.from([0, 0, 0, 31]),
      Buffer.alloc(31, 7),
    ]).toString("base64")} kvmci-test`;
    const good = ssh2.utils.generateKeyPairSync("ed25519");
    const draws = [{ private: "short", public: short }, good];
    const pair = generateKeyPair("kvmci-test", () => draws.shift()!);
    expect(pair.publicKey).toBe(good.public.trim());
    expect(draws).toEqual([]);
  });

  it("loads in OpenSSH, as sshd loads the guest's host key", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kvmci-keys-"));
    try {
      for (let i = 0; i < 50; i++) {
        const pair = generateKeyPair("kvmci-test");
        const file = join(dir, `key-${i}`);
        await writeFile(file, pair.privateKey);
        await chmod(file, 0o600);
        const derived = await execa("ssh-keygen", ["-y", "-f", file]);
        expect(pair.publicKey.startsWith(derived.stdout.trim())).toBe(true);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
