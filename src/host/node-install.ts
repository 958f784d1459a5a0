import { constants } from "node:fs";
import { access, lstat, open, readFile, realpath } from "node:fs/promises";
import { delimiter, dirname, join } from "node:path";
import { execa } from "execa";

/**
 * A Node.js installation on the host, to be copied into the guest as it is: the `node` binary
 * and, beside it in the usual layout (<prefix>/bin/node, <prefix>/lib/node_modules/npm), npm
 * and corepack. This is the layout of nodejs.org's archives, of nvm, of actions/setup-node and
 * of NodeSource's packages.
 */
export interface NodeInstall {
  /** The binary's real path. */
  binary: string;
  prefix: string;
  /** `v20.20.2`. */
  version: string;
  npmVersion: string | undefined;
  /** The binary's CPU, from its ELF header. */
  arch: "x86_64" | "aarch64" | "other";
  sizeBytes: number;
  /** What is copied, relative to the prefix: bin/node, and npm's and corepack's files and links. */
  entries: string[];
}

/** The `node` on PATH (what a person running `npm test` here gets), else this process's. */
export async function findHostNode(env: NodeJS.ProcessEnv, fallback: string): Promise<string> {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, "node");
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return fallback;
}

/** Describes the installation of the `node` at `path` (a binary, or a link to one). */
export async function readNodeInstall(path: string): Promise<NodeInstall> {
  const binary = await realpath(path);
  const prefix = dirname(dirname(binary));
  const { stdout } = await execa(binary, ["--version"], { timeout: 30_000 });
  const entries = ["bin/node"];
  let npmVersion: string | undefined;
  const npmPackage = join(prefix, "lib", "node_modules", "npm", "package.json");
  try {
    npmVersion = (JSON.parse(await readFile(npmPackage, "utf8")) as { version?: string }).version;
    entries.push("lib/node_modules/npm");
    for (const link of ["bin/npm", "bin/npx"])
      if (await isLink(join(prefix, link))) entries.push(link);
  } catch {
    // No npm beside this node (Debian's own nodejs package keeps it elsewhere).
  }
  if (await isLink(join(prefix, "bin", "corepack")))
    entries.push("lib/node_modules/corepack", "bin/corepack");
  return {
    binary,
    prefix,
    version: stdout.trim(),
    npmVersion,
    arch: await elfArch(binary),
    sizeBytes: (await lstat(binary)).size,
    entries,
  };
}

async function isLink(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined))?.isSymbolicLink() ?? false;
}

/** The CPU an ELF binary is for, from e_machine (bytes 18–19, little-endian). */
async function elfArch(path: string): Promise<NodeInstall["arch"]> {
  const handle = await open(path, "r");
  try {
    const header = Buffer.alloc(20);
    await handle.read(header, 0, 20, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46) return "other";
    const machine = header.readUInt16LE(18);
    return machine === 62 ? "x86_64" : machine === 183 ? "aarch64" : "other";
  } finally {
    await handle.close();
  }
}
