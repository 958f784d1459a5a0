import { algorithmForHex, type Digest, type DigestAlgorithm } from "./digest.js";

/**
 * Finds a file's digest in a published checksum list. Pure. Understands both forms
 * distributions publish:
 * - GNU coreutils (`sha256sum`): `<hex>  <name>` or `<hex> *<name>` (Ubuntu SHA256SUMS, Debian
 *   SHA512SUMS, AlmaLinux CHECKSUM);
 * - BSD tags: `SHA256 (<name>) = <hex>` (Fedora and Rocky CHECKSUM files, which may be wrapped
 *   in a PGP clear-signature; those lines are skipped).
 */
export function findChecksum(text: string, fileName: string): Digest | undefined {
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const bsd = /^(SHA256|SHA512) \((.+)\) = ([0-9a-fA-F]+)$/.exec(line);
    if (bsd) {
      const algorithm = bsd[1]!.toLowerCase() as DigestAlgorithm;
      if (bsd[2] === fileName && algorithmForHex(bsd[3]!) === algorithm)
        return { algorithm, hex: bsd[3]!.toLowerCase() };
      continue;
    }
    const gnu = /^([0-9a-fA-F]+) [ *](.+)$/.exec(line);
    if (gnu && stripDotSlash(gnu[2]!) === fileName) {
      const algorithm = algorithmForHex(gnu[1]!);
      if (algorithm) return { algorithm, hex: gnu[1]!.toLowerCase() };
    }
  }
  return undefined;
}

/** The names a checksum list has digests for, to say what it did contain. Pure. */
export function listChecksumNames(text: string): string[] {
  const names: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const bsd = /^(?:SHA256|SHA512) \((.+)\) = [0-9a-fA-F]+$/.exec(line);
    const gnu = /^[0-9a-fA-F]{64,128} [ *](.+)$/.exec(line);
    const name = bsd?.[1] ?? gnu?.[1];
    if (name) names.push(stripDotSlash(name));
  }
  return names;
}

function stripDotSlash(name: string): string {
  return name.startsWith("./") ? name.slice(2) : name;
}
