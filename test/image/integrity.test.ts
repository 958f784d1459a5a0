import { createHash } from "node:crypto";
import { mkdtemp, open, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ImageInfo } from "../../src/image/cache.js";
import { findDamage, stampEntry, stampFileName } from "../../src/image/integrity.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "kvmci-integrity-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const sha256 = (data: string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

async function entry(disk = "disk contents"): Promise<ImageInfo> {
  await writeFile(join(dir, "disk.qcow2"), disk);
  await writeFile(join(dir, "vmlinuz"), "kernel");
  return {
    name: "t",
    arch: "x86_64",
    digest: sha256(disk),
    format: "qcow2",
    user: "debian",
    virtualSize: 1,
    source: { kind: "recipe", key: "k" },
    boot: { firmware: "bios", kernel: "vmlinuz" },
    createdAt: new Date(0).toISOString(),
  };
}

/** Overwrites bytes in place, the size unchanged. */
async function scribble(file: string, at: number, text: string): Promise<void> {
  const handle = await open(join(dir, file), "r+");
  await handle.write(Buffer.from(text), 0, text.length, at);
  await handle.close();
}

/** findDamage, counting how often it had to hash a file. */
async function check(info: ImageInfo): Promise<{ damage: string | undefined; hashed: number }> {
  let hashed = 0;
  const damage = await findDamage(dir, info, "disk.qcow2", { onStep: () => (hashed += 1) });
  return { damage, hashed };
}

describe("cache entry integrity", () => {
  it("finds an entry as it was stamped intact, without hashing anything", async () => {
    const info = await entry();
    await stampEntry(dir, info, "disk.qcow2");
    expect(await check(info)).toEqual({ damage: undefined, hashed: 0 });
  });

  it("finds a disk changed in place (same size) by its digest", async () => {
    const info = await entry();
    await stampEntry(dir, info, "disk.qcow2");
    await scribble("disk.qcow2", 3, "XX");
    const later = new Date(Date.now() + 5000);
    await utimes(join(dir, "disk.qcow2"), later, later);
    const { damage } = await check(info);
    expect(damage).toBe(
      "disk.qcow2 changed after it was cached: its digest no longer matches the one recorded then",
    );
  });

  it("finds a kernel changed after it was cached, and a file that is gone", async () => {
    const info = await entry();
    await stampEntry(dir, info, "disk.qcow2");
    await writeFile(join(dir, "vmlinuz"), "another kernel");
    expect((await check(info)).damage).toMatch(/^vmlinuz changed after it was cached/);
    await rm(join(dir, "vmlinuz"));
    expect((await check(info)).damage).toBe("vmlinuz is missing");
  });

  it("hashes a file touched but unchanged once, then trusts the new time", async () => {
    const info = await entry();
    await stampEntry(dir, info, "disk.qcow2");
    const later = new Date(Date.now() + 5000);
    await utimes(join(dir, "disk.qcow2"), later, later);
    expect(await check(info)).toEqual({ damage: undefined, hashed: 1 });
    expect(await check(info)).toEqual({ damage: undefined, hashed: 0 });
  });

  it("checks an entry from before stamps against the image's digest, and stamps it", async () => {
    const info = await entry();
    expect(await check(info)).toEqual({ damage: undefined, hashed: 2 });
    const stamp = JSON.parse(await readFile(join(dir, stampFileName), "utf8")) as Record<
      string,
      { size: number; digest: string }
    >;
    expect(stamp["disk.qcow2"]).toMatchObject({ size: 13, digest: info.digest });
    expect(stamp.vmlinuz).toMatchObject({ digest: sha256("kernel") });
    const wrong = { ...info, digest: sha256("something else") };
    await rm(join(dir, stampFileName));
    expect((await check(wrong)).damage).toMatch(/^disk.qcow2 changed after it was cached/);
  });

  it("finds a change in the same second as the stamp, since it keeps the time to the fraction", async () => {
    const info = await entry();
    await stampEntry(dir, info, "disk.qcow2");
    const { mtimeMs } = await stat(join(dir, "disk.qcow2"));
    await scribble("disk.qcow2", 3, "XX");
    const sameSecond = new Date(Math.floor(mtimeMs / 1000) * 1000 + ((mtimeMs + 1) % 1000));
    await utimes(join(dir, "disk.qcow2"), sameSecond, sameSecond);
    expect((await check(info)).damage).toMatch(/^disk.qcow2 changed after it was cached/);
  });

  it("accepts a time cut to whole seconds, as tar restores it", async () => {
    const info = await entry();
    await stampEntry(dir, info, "disk.qcow2");
    const { mtime } = await stat(join(dir, "disk.qcow2"));
    const truncated = new Date(Math.floor(mtime.getTime() / 1000) * 1000);
    await utimes(join(dir, "disk.qcow2"), truncated, truncated);
    expect(await check(info)).toEqual({ damage: undefined, hashed: 0 });
  });
});
