import ssh2 from "ssh2";

const { utils } = ssh2;

export interface KeyPair {
  /** OpenSSH private key (PEM-like, `-----BEGIN OPENSSH PRIVATE KEY-----`). */
  privateKey: string;
  /** One line: `ssh-ed25519 AAAA… comment`. */
  publicKey: string;
}

/** A fresh ed25519 key pair; kvmci makes two per run (client, guest host key) and never reuses them. */
export function generateKeyPair(comment: string): KeyPair {
  const pair = utils.generateKeyPairSync("ed25519", { comment });
  return { privateKey: pair.private, publicKey: pair.public.trim() };
}

/** The binary key blob of a public key line, which is what an SSH server presents. */
export function publicKeyBlob(publicKey: string): Buffer {
  const [, base64] = publicKey.trim().split(/\s+/);
  if (!base64) throw new Error(`Not an OpenSSH public key line: ${publicKey.slice(0, 40)}`);
  return Buffer.from(base64, "base64");
}
