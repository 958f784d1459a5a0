import { describe, expect, it } from "vitest";
import { findChecksum, listChecksumNames } from "../../src/image/checksums.js";
import { parseDigest } from "../../src/image/digest.js";

const a64 = "a".repeat(64);
const b64 = "b".repeat(64);
const c128 = "c".repeat(128);

describe("findChecksum", () => {
  it("reads GNU sha256sum lines, binary-mode asterisk included (Ubuntu SHA256SUMS)", () => {
    const text = `${a64} *ubuntu-24.04-server-cloudimg-amd64.img\n${b64} *ubuntu-24.04-server-cloudimg-amd64.tar.gz\n`;
    expect(findChecksum(text, "ubuntu-24.04-server-cloudimg-amd64.img")).toEqual({
      algorithm: "sha256",
      hex: a64,
    });
  });

  it("reads sha512 lines and knows them by length (Debian SHA512SUMS)", () => {
    const text = `${c128}  debian-12-genericcloud-amd64.json\n${c128.replace(/c/g, "d")}  debian-12-genericcloud-amd64.qcow2\n`;
    expect(findChecksum(text, "debian-12-genericcloud-amd64.qcow2")).toEqual({
      algorithm: "sha512",
      hex: "d".repeat(128),
    });
  });

  it("reads BSD tags inside a PGP clear-signature (Fedora CHECKSUM)", () => {
    const text = [
      "-----BEGIN PGP SIGNED MESSAGE-----",
      "Hash: SHA256",
      "",
      "# Fedora-Cloud-Base-Generic-44-1.7.x86_64.qcow2: 536870912 bytes",
      `SHA256 (Fedora-Cloud-Base-Generic-44-1.7.x86_64.qcow2) = ${a64.toUpperCase()}`,
      "-----BEGIN PGP SIGNATURE-----",
      "iQIzBAEBCAAdFiEE",
    ].join("\n");
    expect(findChecksum(text, "Fedora-Cloud-Base-Generic-44-1.7.x86_64.qcow2")).toEqual({
      algorithm: "sha256",
      hex: a64,
    });
  });

  it("matches the whole name only, and ignores a digest of the wrong length for its tag", () => {
    const text = `${a64}  disk.qcow2.sig\nSHA512 (disk.qcow2) = ${a64}\n`;
    expect(findChecksum(text, "disk.qcow2")).toBeUndefined();
    expect(findChecksum(`${a64}  ./disk.qcow2\r\n`, "disk.qcow2")?.hex).toBe(a64);
  });

  it("lists the names it could read, for the error message", () => {
    expect(listChecksumNames(`${a64}  x.img\nSHA256 (y.qcow2) = ${b64}\njunk\n`)).toEqual([
      "x.img",
      "y.qcow2",
    ]);
  });
});

describe("parseDigest", () => {
  it("takes sha256/sha512 with : or = and checks the length", () => {
    expect(parseDigest(`sha256=${a64.toUpperCase()}`)).toEqual({ algorithm: "sha256", hex: a64 });
    expect(parseDigest(`sha512:${c128}`)?.algorithm).toBe("sha512");
    expect(parseDigest(`sha256:${c128}`)).toBeUndefined();
    expect(parseDigest(`md5:${a64}`)).toBeUndefined();
  });
});
