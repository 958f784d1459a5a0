import { mkdir, mkdtemp, open, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { copyZeroBlocks, digestZeroBlocks } from "../../src/image/digest.js";
import { readDataRuns } from "../../src/image/sparse-data.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "kvmci-digest-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function sparseFile(name: string, writes: [offset: number, text: string][]) {
  const path = join(dir, name);
  await writeFile(path, "");
  await truncate(path, 8 << 20);
  const file = await open(path, "r+");
  for (const [offset, text] of writes) await file.write(Buffer.from(text), 0, undefined, offset);
  await file.close();
  return path;
}

describe("digestZeroBlocks", () => {
  it("is the same for the same content, and changes with any byte, in a hole or in data", async () => {
    const a = await sparseFile("a", [[3 << 20, "data"]]);
    const same = await sparseFile("same", [[3 << 20, "data"]]);
    const inData = await sparseFile("in-data", [[3 << 20, "dat4"]]);
    const inHole = await sparseFile("in-hole", [
      [3 << 20, "data"],
      [6 << 20, "\u0001"],
    ]);
    const moved = await sparseFile("moved", [[4 << 20, "data"]]);
    const digest = await digestZeroBlocks(a);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(await digestZeroBlocks(same)).toBe(digest);
    for (const other of [inData, inHole, moved])
      expect(await digestZeroBlocks(other)).not.toBe(digest);
  });

  it("tells a file of zeros from a shorter or longer one", async () => {
    const eight = await sparseFile("eight", []);
    const nine = join(dir, "nine");
    await writeFile(nine, "");
    await truncate(nine, 9 << 20);
    const short = join(dir, "short");
    await writeFile(short, Buffer.alloc(100));
    const digests = new Set(
      await Promise.all([eight, nine, short].map((p) => digestZeroBlocks(p))),
    );
    expect(digests.size).toBe(3);
  });
});

describe("copyZeroBlocks", () => {
  it("copies the file byte for byte, leaves its empty blocks as holes, and gives the same digest", async () => {
    const source = await sparseFile("source", [
      [1 << 20, "data"],
      [(8 << 20) - 3, "end"],
    ]);
    const target = join(dir, "target");
    const digest = await copyZeroBlocks(source, target);
    expect(digest).toBe(await digestZeroBlocks(source));
    expect((await readFile(target)).equals(await readFile(source))).toBe(true);
    const copied = await stat(target);
    expect(copied.mode & 0o777).toBe(0o600);
    // Two of eight 1 MiB blocks hold data: the rest are not written.
    expect(copied.blocks * 512).toBeLessThanOrEqual(2 << 20);
  });

  it("keeps the size of a file that ends in zeros", async () => {
    const source = await sparseFile("source", [[0, "start"]]);
    const target = join(dir, "target");
    await copyZeroBlocks(source, target);
    expect((await stat(target)).size).toBe(8 << 20);
  });
});

/** The digest as defined, from a plain read of every byte (holes included). */
async function plainDigest(path: string): Promise<string> {
  const data = await readFile(path);
  const hash = createHash("sha256");
  for (let at = 0; at < data.length || at === 0; at += 1 << 20) {
    const block = data.subarray(at, at + (1 << 20));
    if (block.length === 1 << 20 && block.equals(Buffer.alloc(1 << 20))) hash.update("Z");
    else hash.update("D").update(block);
    if (at + (1 << 20) >= data.length) break;
  }
  return hash.digest("hex");
}

describe("the digest, reading only the data", () => {
  it("is the digest of every byte, however the data and holes lie", async () => {
    const cases: [string, () => Promise<string>][] = [
      ["data across a block boundary", () => sparseFile("across", [[(2 << 20) - 2, "span"]])],
      ["data in the last bytes", () => sparseFile("last", [[(8 << 20) - 1, "x"]])],
      [
        "more runs than one tar header holds",
        () =>
          sparseFile(
            "many",
            Array.from({ length: 40 }, (_, i): [number, string] => [i * 200_000, `run ${i}`]),
          ),
      ],
      [
        "no holes at all",
        async () => {
          const path = join(dir, "full");
          await writeFile(path, randomBytes(3 << 20));
          return path;
        },
      ],
      [
        "zeros written, not holes",
        async () => {
          const path = join(dir, "zeros");
          await writeFile(path, Buffer.alloc(2 << 20));
          return path;
        },
      ],
      [
        "a size that is not whole blocks",
        async () => {
          const path = join(dir, "odd");
          await writeFile(path, "");
          await truncate(path, (5 << 20) + 1234);
          const file = await open(path, "r+");
          await file.write(Buffer.from("tail"), 0, undefined, 5 << 20);
          await file.close();
          return path;
        },
      ],
    ];
    for (const [what, make] of cases) {
      const path = await make();
      const target = `${path}.copy`;
      expect(await copyZeroBlocks(path, target), what).toBe(await plainDigest(path));
      expect((await readFile(target)).equals(await readFile(path)), what).toBe(true);
    }
  });

  it("lets tar go when stopped halfway through its output", async () => {
    const path = join(dir, "data");
    await writeFile(path, randomBytes(16 << 20));
    const stop = new AbortController();
    let runs = 0;
    await expect(
      (async () => {
        for await (const run of readDataRuns(path, stop.signal)) {
          runs += run.data.length > 0 ? 1 : 0;
          stop.abort();
          stop.signal.throwIfAborted();
        }
      })(),
    ).rejects.toThrow();
    expect(runs).toBe(1);
  });

  it("stops when asked to, and says so", async () => {
    const path = await sparseFile("big", [[0, "data"]]);
    await expect(digestZeroBlocks(path, AbortSignal.abort())).rejects.toThrow();
  });

  it("says to install GNU tar when the tar it finds cannot read a sparse file", async () => {
    const bin = join(dir, "bin");
    await mkdir(bin);
    await writeFile(join(bin, "tar"), "#!/bin/sh\necho unsupported >&2\nexit 2\n", { mode: 0o755 });
    const path = await sparseFile("any", [[0, "data"]]);
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved ?? ""}`;
    try {
      await expect(digestZeroBlocks(path)).rejects.toThrow(/install GNU tar/);
    } finally {
      process.env.PATH = saved;
    }
  });

  it("says which file it could not read", async () => {
    await expect(digestZeroBlocks(join(dir, "absent"))).rejects.toThrow(/absent/);
  });
});
