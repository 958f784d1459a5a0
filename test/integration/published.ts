import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { createSandbox, repoRoot, type Kvmci, type Sandbox } from "./harness.js";
import { ImageServer } from "./image-server.js";

// Images "published" on a loopback server, the way distributions publish theirs: the locally
// built debian-12 image with a Debian-style SHA512SUMS, a small qcow2 with a Fedora-style
// CHECKSUM, and some broken publications. Each test gets an empty cache of its own.

export interface Published {
  server: ImageServer;
  /** A folder of catalog entries (loop-debian, loop-small, …) pointing at the server. */
  catalog: string;
  /** The files served, for tests that use them as local images too. */
  fixtures: string;
  smallSha256: string;
}

export interface EmptyCache {
  sandbox: Sandbox;
  cache: string;
  /** kvmci with this test's cache and the published catalog, no proxy. */
  kvmci(args: string[], extra?: NodeJS.ProcessEnv): Kvmci;
  /** What is in the cache's images/ and downloads/ folders. */
  contents(): Promise<{ images: string[]; downloads: string[] }>;
}

export async function digest(path: string, algorithm: "sha256" | "sha512"): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function entry(name: string, url: string, checksums: string): string {
  return [
    "kind: download",
    `name: ${name}`,
    "description: served from loopback by the test",
    "arch: x86_64",
    `url: ${url}`,
    `checksums: ${checksums}`,
    "format: qcow2",
    "user: debian",
    "boot: bios",
    "",
  ].join("\n");
}

/**
 * Publishes the images for this test file (beforeAll) and gives each test an empty cache of its
 * own (beforeEach). Returns accessors, valid inside tests.
 */
export function usePublishedImages(): { published: () => Published; each: () => EmptyCache } {
  let published: Published | undefined;
  let root: string | undefined;
  let current: EmptyCache | undefined;

  beforeAll(async () => {
    const built = await execa("node", [
      join(repoRoot, "bin", "kvmci.js"),
      "image",
      "build",
      "debian-12",
    ]);
    const path = built.stdout.trim().split(" ")[2]!;
    root = await mkdtemp(join(tmpdir(), "kvmci-dl-"));
    const fixtures = join(root, "files");
    const catalog = join(root, "catalog");
    await mkdir(fixtures);
    await mkdir(catalog);
    const small = join(fixtures, "small.qcow2");
    await execa("qemu-img", ["create", "-q", "-f", "qcow2", small, "64M"]);
    const smallSha256 = await digest(small, "sha256");
    const notDisk = join(fixtures, "notes.qcow2");
    await writeFile(notDisk, "these are notes, not a disk image\n");

    const server = await ImageServer.start();
    server.serveFile("/debian/disk.qcow2", path);
    server.serveText(
      "/debian/SHA512SUMS",
      `${"0".repeat(128)}  disk.json\n${await digest(path, "sha512")}  disk.qcow2\n`,
    );
    server.serveFile("/small/small.qcow2", small);
    server.serveText(
      "/small/CHECKSUM",
      `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n# small.qcow2: 1 bytes\nSHA256 (small.qcow2) = ${smallSha256}\n-----BEGIN PGP SIGNATURE-----\nxyz\n`,
    );
    server.serveFile("/bad/notes.qcow2", notDisk);
    server.serveText("/bad/SHA256SUMS", `${await digest(notDisk, "sha256")} *notes.qcow2\n`);
    server.serveText("/wrong/SHA256SUMS", `${"e".repeat(64)}  small.qcow2\n`);
    server.serveText("/gone/SHA256SUMS", `${"e".repeat(64)}  here.qcow2\n`);

    const write = (name: string, text: string) => writeFile(join(catalog, `${name}.yml`), text);
    const pairs: [string, string, string][] = [
      ["loop-debian", "/debian/disk.qcow2", "/debian/SHA512SUMS"],
      ["loop-small", "/small/small.qcow2", "/small/CHECKSUM"],
      ["loop-notdisk", "/bad/notes.qcow2", "/bad/SHA256SUMS"],
      ["loop-wrong", "/small/small.qcow2", "/wrong/SHA256SUMS"],
      ["loop-gone", "/gone/here.qcow2", "/gone/SHA256SUMS"],
    ];
    for (const [name, file, sums] of pairs)
      await write(name, entry(name, server.url(file), server.url(sums)));
    published = { server, catalog, fixtures, smallSha256 };
  });

  afterAll(async () => {
    await published?.server.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  beforeEach(async () => {
    const sandbox = await createSandbox();
    const cache = join(sandbox.root, "cache");
    const env = {
      KVMCI_CACHE_DIR: cache,
      KVMCI_CATALOG: published!.catalog,
      HTTP_PROXY: "",
      http_proxy: "",
      NO_PROXY: "",
    };
    published!.server.requests.length = 0;
    published!.server.bytesPerSecond = undefined;
    current = {
      sandbox,
      cache,
      kvmci: (args, extra = {}) => sandbox.start(args, sandbox.root, { ...env, ...extra }),
      async contents() {
        const list = (dir: string) => readdir(join(cache, dir)).catch(() => [] as string[]);
        return { images: await list("images"), downloads: await list("downloads") };
      },
    };
  });
  afterEach(() => current?.sandbox.dispose());

  return { published: () => published!, each: () => current! };
}
