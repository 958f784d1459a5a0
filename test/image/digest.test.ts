import { mkdtemp, open, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { copyZeroBlocks, digestZeroBlocks } from "../../src/image/digest.js";

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
