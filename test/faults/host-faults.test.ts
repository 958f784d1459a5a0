import { mkdir, open, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { waitForOutput } from "../integration/harness.js";
import { usePublishedImages } from "../integration/published.js";

// Faults of the host and of the image phase: signals during a download and a build, a cache
// damaged on disk, a backing file gone. Images come from a loopback server into an empty cache
// of each test's own (see published.ts).
const images = usePublishedImages();
const server = () => images.published().server;
const sandbox = () => images.each().sandbox;
const kvmci = (args: string[]) => images.each().kvmci(args);
const cacheContents = () => images.each().contents();

describe("interrupts during the image phase", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    it(`${signal} during a run's download: ${signal === "SIGINT" ? 130 : 143} within 5 s, ✗ image, nothing usable left`, async () => {
      // Slow enough that the download is far from done when the signal comes.
      server().bytesPerSecond = 4 * 1024 * 1024;
      const child = kvmci(["run", "--image", "loop-debian", "--accel", "tcg", "--", "true"]);
      await waitForOutput(child, /downloading http/, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const sent = Date.now();
      child.kill(signal);
      const result = await child;
      expect(result.exitCode, result.all).toBe(signal === "SIGINT" ? 130 : 143);
      expect(Date.now() - sent).toBeLessThan(5000);
      expect(result.stderr).toMatch(/✗ image\b/);
      expect((await cacheContents()).images).toEqual([]);
      expect(await sandbox().leftovers()).toEqual({ runFolders: [], qemu: [] });
    });

  it("ends an interrupted build within 5 s and leaves nothing that looks usable", async () => {
    const cache = join(sandbox().root, "cache");
    await mkdir(cache);
    const child = sandbox().start(["image", "build", "debian-12"], sandbox().root, {
      KVMCI_CACHE_DIR: cache,
    });
    // Long enough for mmdebstrap to be downloading or installing, far from done.
    await new Promise((resolve) => setTimeout(resolve, 8000));
    const signalledAt = Date.now();
    child.kill("SIGINT");
    const result = await child;
    const secondsToExit = (Date.now() - signalledAt) / 1000;
    expect(result.exitCode, result.all).toBe(130);
    expect(secondsToExit).toBeLessThan(5);
    // Nothing of the build (mmdebstrap, apt, dpkg in the chroot) is still running.
    const ps = await execa("ps", ["-eo", "pid,args"]);
    expect(ps.stdout.split("\n").filter((line) => line.includes(cache))).toEqual([]);
    expect(await readdir(join(cache, "images"))).toEqual([]);
    const list = await sandbox().start(["image", "ls"], sandbox().root, { KVMCI_CACHE_DIR: cache });
    expect(list.stdout).toContain("No images cached");
    // mmdebstrap's own temporary root went away with it.
    expect(await readdir(sandbox().tmp)).toEqual([]);
  });
});

describe("a cache or image damaged on disk", () => {
  it("a cached image deleted or changed on disk is removed with a note and fetched again", async () => {
    expect((await kvmci(["image", "pull", "loop-debian"])).exitCode).toBe(0);
    const [entryName] = (await cacheContents()).images;
    const disk = join(images.each().cache, "images", entryName!, "disk.qcow2");

    await rm(disk);
    const afterDelete = await kvmci(["image", "pull", "loop-debian"]);
    expect(afterDelete.exitCode, afterDelete.all).toBe(0);
    expect(afterDelete.stderr).toContain(
      `the cached image ${entryName} was damaged (image.json or the disk is missing or unreadable); removed it`,
    );
    expect(server().downloads("/debian/disk.qcow2")).toHaveLength(2);

    // A few bytes changed in the middle, the size the same: found by the digest, before booting.
    const handle = await open(disk, "r+");
    await handle.write(Buffer.from("kvmci was here"), 0, 14, 200 * 1024 * 1024);
    await handle.close();
    const run = await kvmci([
      "run",
      "--image",
      "loop-debian",
      "--accel",
      "tcg",
      "--no-sync",
      "--no-snapshot",
      "--",
      "true",
    ]);
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stderr).toContain(
      `the cached image ${entryName} was damaged (disk.qcow2 changed after it was cached: its digest no longer matches the one recorded then)`,
    );
    expect(server().downloads("/debian/disk.qcow2")).toHaveLength(3);
    expect(await cacheContents()).toEqual({ images: [entryName], downloads: [] });
    expect(await sandbox().leftovers()).toEqual({ runFolders: [], qemu: [] });
  });

  it("a qcow2 whose backing file is gone: 72, naming it and how to make a copy that stands alone", async () => {
    const base = join(sandbox().root, "base.qcow2");
    const mine = join(sandbox().root, "mine.qcow2");
    await execa("qemu-img", ["create", "-q", "-f", "qcow2", base, "64M"]);
    await execa("qemu-img", [
      "create",
      "-q",
      "-f",
      "qcow2",
      "-b",
      "base.qcow2",
      "-F",
      "qcow2",
      mine,
    ]);
    await rm(base);
    const run = await kvmci(["run", "--image", mine, "--", "true"]);
    expect(run.exitCode, run.all).toBe(72);
    expect(run.stderr).toContain(
      `${mine} is not a disk image kvmci can use: its backing file base.qcow2 cannot be opened (Could not open '${base}': No such file or directory)`,
    );
    expect(run.stderr).toContain(`qemu-img convert -O qcow2 ${mine} standalone.qcow2`);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(await sandbox().leftovers()).toEqual({ runFolders: [], qemu: [] });
  });
});
