import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { collectGarbage } from "../../src/housekeeping/gc.js";
import { markInUse } from "../../src/cache/in-use.js";
import type { ImageInfo } from "../../src/image/cache.js";
import type { SnapshotInfo } from "../../src/snapshot/store.js";

// A cache made of real folders and files (tiny ones): a base image, a prepared image over it,
// a snapshot over the prepared image, and an unrelated image.
const MiB = 1024 * 1024;

async function cache() {
  const dir = await mkdtemp(join(tmpdir(), "kvmci-gc-test-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function image(
  cacheDir: string,
  entry: string,
  o: { usedMinutesAgo: number; base?: string; bytes?: number },
) {
  const dir = join(cacheDir, "images", entry);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "disk.qcow2"), Buffer.alloc(o.bytes ?? MiB, 1));
  const info: ImageInfo = {
    name: "debian-12",
    arch: "x86_64",
    digest: `sha256:${"a".repeat(64)}`,
    format: "qcow2",
    user: "debian",
    virtualSize: 3 * 1024 * MiB,
    source: o.base
      ? { kind: "prepared", key: "k", base: o.base, baseDigest: "d", packages: [] }
      : { kind: "url", url: "https://example.invalid/x.qcow2" },
    boot: { firmware: "bios" },
    createdAt: new Date(0).toISOString(),
  };
  await writeFile(join(dir, "image.json"), JSON.stringify(info));
  await age(join(dir, "last-used"), o.usedMinutesAgo);
}

async function snapshot(
  cacheDir: string,
  entry: string,
  o: { of: string; usedMinutesAgo: number },
) {
  const dir = join(cacheDir, "snapshots", entry);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "memory.bin"), Buffer.alloc(MiB, 1));
  await writeFile(join(dir, "disk.qcow2"), Buffer.alloc(MiB, 1));
  const file = { bytes: MiB, sha256: "0".repeat(64) };
  const info: SnapshotInfo = {
    key: "k",
    image: { name: "debian-12", entry: o.of, digest: "d" },
    made: {
      accel: "tcg",
      cpus: 2,
      memoryBytes: 1024 * MiB,
      boot: "kernel",
      network: "user",
      qemuVersion: "QEMU 7.2",
    },
    user: "debian",
    hostPublicKey: "ssh-ed25519 AAAA",
    files: { memory: file, disk: file },
    saveMs: 1000,
    createdAt: new Date(0).toISOString(),
  };
  await writeFile(join(dir, "snapshot.json"), JSON.stringify(info));
  await age(join(dir, "last-used"), o.usedMinutesAgo);
}

async function age(path: string, minutes: number) {
  await writeFile(path, "");
  const when = new Date(Date.now() - minutes * 60_000);
  await utimes(path, when, when);
}

async function contents(cacheDir: string) {
  const list = async (folder: string) =>
    (await readdir(join(cacheDir, folder)).catch(() => [])).sort();
  return { images: await list("images"), snapshots: await list("snapshots") };
}

async function layered(cacheDir: string) {
  await image(cacheDir, "base", { usedMinutesAgo: 30, bytes: 4 * MiB });
  await image(cacheDir, "prepared", { usedMinutesAgo: 20, base: "base" });
  await snapshot(cacheDir, "snap", { of: "prepared", usedMinutesAgo: 1 });
  await image(cacheDir, "other", { usedMinutesAgo: 10 });
}

describe("collectGarbage with layered entries", () => {
  it("ages a tree by its most recent use: the unrelated image goes before a base used a minute ago", async () => {
    const cacheDir = await cache();
    await layered(cacheDir);
    const report = await collectGarbage(cacheDir, { maxBytes: 8 * MiB });
    expect(report.removed.map((r) => r.what)).toEqual(["other"]);
    expect(await contents(cacheDir)).toEqual({
      images: ["base", "prepared"],
      snapshots: ["snap"],
    });
  });

  it("removes what is layered on top first, and the base last", async () => {
    const cacheDir = await cache();
    await layered(cacheDir);
    const report = await collectGarbage(cacheDir, { maxBytes: 5 * MiB });
    expect(report.removed.map((r) => r.what)).toEqual(["other", "snap", "prepared"]);
    expect(await contents(cacheDir)).toEqual({ images: ["base"], snapshots: [] });
  });

  it("removes the layers over an image that goes, and orphans whose image is gone", async () => {
    const cacheDir = await cache();
    await layered(cacheDir);
    await snapshot(cacheDir, "orphan", { of: "removed-long-ago", usedMinutesAgo: 0 });
    const report = await collectGarbage(cacheDir, {
      unreachable: (i) => (i.entry === "base" ? "built from an older recipe" : undefined),
    });
    expect(report.removed.map((r) => [r.what, r.why])).toEqual([
      ["orphan", "the image it was made from (removed-long-ago) is no longer cached"],
      ["snap", "layered over base, which goes"],
      ["prepared", "layered over base, which goes"],
      ["base", "built from an older recipe"],
    ]);
    expect(await contents(cacheDir)).toEqual({ images: ["other"], snapshots: [] });
  });

  it("keeps a whole tree while a guest uses any part of it", async () => {
    const cacheDir = await cache();
    await layered(cacheDir);
    await using _inUse = await markInUse(cacheDir, "snap");
    const report = await collectGarbage(cacheDir, { maxBytes: 0 });
    expect(report.removed.map((r) => r.what)).toEqual(["other"]);
    expect(report.keptInUse.map((k) => k.entry)).toEqual(["snap", "prepared", "base"]);
    expect(await contents(cacheDir)).toEqual({
      images: ["base", "prepared"],
      snapshots: ["snap"],
    });
  });
});
