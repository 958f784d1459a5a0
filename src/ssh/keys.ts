import ssh2 from "ssh2";

const { utils } = ssh2;

export interface KeyPair {
  /** OpenSSH private key (PEM-like, `-----BEGIN OPENSSH PRIVATE KEY-----`). */
  privateKey: string;
  /** One line: `ssh-ed25519 AAAA… comment`. */
  publicKey: string;
}

type Generate = (comment: string) => { private: string; public: string };

const ssh2Generate: Generate = (comment) => utils.generateKeyPairSync("ed25519", { comment });

/** An ed25519 public key blob: string "ssh-ed25519" (4 + 11 bytes), string key (4 + 32). */
const ed25519BlobBytes = 51;

/**
 * A fresh ed25519 key pair; kvmci makes two per run (client, guest host key) and never reuses
 * them. ssh2 strips a leading zero byte from the public key (mscdex/ssh2#1390, open), so one
 * key in 256 comes out 31 bytes long: sshd cannot load it as a host key ("error in libcrypto")
 * and the guest never answers SSH. Such a key is drawn again.
 */
export function generateKeyPair(comment: string, generate: Generate = ssh2Generate): KeyPair {
  for (let attempt = 0; attempt < 16; attempt++) {
    const pair = generate(comment);
    const publicKey = pair.public.trim();
    if (publicKeyBlob(publicKey).length === ed25519BlobBytes)
      return { privateKey: pair.private, publicKey };
  }
  throw new Error("ssh2 kept generating malformed ed25519 keys");
}

/** The binary key blob of a public key line, which is what an SSH server presents. */
export function publicKeyBlob(publicKey: string): Buffer {
  const [, base64] = publicKey.trim().split(/\s+/);
  if (!base64) throw new Error(`Not an OpenSSH public key line: ${publicKey.slice(0, 40)}`);
  return Buffer.from(base64, "base64");
}
