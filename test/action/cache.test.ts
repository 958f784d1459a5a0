import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { loadRunConfig } from "../../src/config/load.js";
import {
  cacheKey,
  cacheKeyPrefix,
  restoreKvmciCache,
  saveKvmciCache,
  type CacheService,
} from "../../src/action/cache.js";

async function cacheDir(...entries: string[]) {
  const dir = await mkdtemp(join(tmpdir(), "kvmci-action-cache-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  for (const entry of entries) await mkdir(join(dir, entry), { recursive: true });
  return dir;
}

function service(o: Partial<CacheService> = {}) {
  const calls: string[] = [];
  const s: CacheService = {
    isFeatureAvailable: () => true,
    restoreCache: (paths, key, restoreKeys) => {
      calls.push(`restore ${key} ${restoreKeys?.join(",")}`);
      return Promise.resolve(undefined);
    },
    saveCache: (paths, key) => {
      calls.push(`save ${key} ${paths.map((p) => p.split("/").pop()).join(",")}`);
      return Promise.resolve(1);
    },
    ...o,
  };
  return { s, calls };
}

describe("the Action's cache", () => {
  it("keeps guests of other architectures in caches of their own", async () => {
    const prefix = async (arch: string | string[] | undefined) =>
      cacheKeyPrefix(
        await loadRunConfig({
          flags: arch === undefined ? {} : { arch },
          argv: ["true"],
          configPath: undefined,
          cwd: "/nonexistent-kvmci-test",
          hostArch: "x86_64",
        }),
        { RUNNER_OS: "Linux", RUNNER_ARCH: "X64" },
      );
    const x86 = await prefix(undefined);
    expect(x86).toMatch(/^kvmci-1-Linux-X64-[0-9a-f]{16}-$/);
    // The host's architecture named or not: the same settings, the same cache.
    expect(await prefix("x86_64")).toBe(x86);
    const arm = await prefix("aarch64");
    const both = await prefix(["x86_64", "aarch64"]);
    expect(new Set([x86, arm, both]).size).toBe(3);
  });

  it("keys the content by its entry names, which carry digests", async () => {
    const a = await cacheDir("images/debian-12-aaaa", "snapshots/debian-12-snapshot-bbbb");
    const b = await cacheDir("images/debian-12-aaaa", "snapshots/debian-12-snapshot-cccc");
    const partial = await cacheDir(
      "images/debian-12-aaaa",
      "snapshots/debian-12-snapshot-bbbb",
      "images/.partial-x-1-2",
    );
    expect(await cacheKey("p-", a)).toMatch(/^p-[0-9a-f]{16}$/);
    expect(await cacheKey("p-", a)).not.toBe(await cacheKey("p-", b));
    // Unfinished work is not content; where the cache lives is not either.
    expect(await cacheKey("p-", partial)).toBe(await cacheKey("p-", a));
  });

  it("restores the newest cache with these settings, and saves only when the content changed", async () => {
    const dir = await cacheDir("images/debian-12-aaaa");
    const { s, calls } = service();
    const logs: string[] = [];
    await restoreKvmciCache(
      s,
      { cacheDir: dir, prefix: "kvmci-1-Linux-X64-abc-" },
      (l) => logs.push(l),
      (l) => logs.push(`! ${l}`),
    );
    expect(calls[0]).toBe("restore kvmci-1-Linux-X64-abc-none kvmci-1-Linux-X64-abc-");
    const key = await cacheKey("kvmci-1-Linux-X64-abc-", dir);
    await saveKvmciCache(
      s,
      { cacheDir: dir, prefix: "kvmci-1-Linux-X64-abc-", restoredKey: key },
      (l) => logs.push(l),
      (l) => logs.push(`! ${l}`),
    );
    expect(calls).toHaveLength(1);
    expect(logs.at(-1)).toContain("unchanged");
    await saveKvmciCache(
      s,
      { cacheDir: dir, prefix: "kvmci-1-Linux-X64-abc-", restoredKey: undefined },
      (l) => logs.push(l),
      (l) => logs.push(`! ${l}`),
    );
    expect(calls[1]).toBe(`save ${key} images,snapshots`);
  });

  it("turns any cache service failure into a warning, and says when there is no service", async () => {
    const dir = await cacheDir("images/x");
    const warnings: string[] = [];
    const logs: string[] = [];
    const broken = service({
      restoreCache: () => Promise.reject(new Error("503 from the cache service")),
      saveCache: () => Promise.reject(new Error("reservation failed")),
    });
    const restored = await restoreKvmciCache(
      broken.s,
      { cacheDir: dir, prefix: "p-" },
      (l) => logs.push(l),
      (w) => warnings.push(w),
    );
    expect(restored).toBeUndefined();
    await saveKvmciCache(
      broken.s,
      { cacheDir: dir, prefix: "p-", restoredKey: undefined },
      (l) => logs.push(l),
      (w) => warnings.push(w),
    );
    expect(warnings).toEqual([
      "cache: restoring failed, going on without it: 503 from the cache service",
      "cache: saving failed; the next workflow run makes its images again: reservation failed",
    ]);
    const none = service({ isFeatureAvailable: () => false });
    await restoreKvmciCache(
      none.s,
      { cacheDir: dir, prefix: "p-" },
      (l) => logs.push(l),
      (w) => warnings.push(w),
    );
    expect(logs.at(-1)).toContain("not available here");
    expect(none.calls).toEqual([]);
  });
});
