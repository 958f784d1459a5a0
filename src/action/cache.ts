import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import type { RunConfig } from "../run/run-config.js";
import { cachePath } from "../cache/layout.js";
import { partialPrefix } from "../image/cache.js";
import { canonicalJson } from "../snapshot/key.js";
import type { Log } from "./host.js";

/** What the Action needs of @actions/cache (injected: tests and local runs have no service). */
export interface CacheService {
  isFeatureAvailable(): boolean;
  restoreCache(paths: string[], key: string, restoreKeys?: string[]): Promise<string | undefined>;
  saveCache(paths: string[], key: string): Promise<number>;
}

/** The cache folders kept between workflow runs: images (incl. prepared) and snapshots. */
export function cachedFolders(cacheDir: string): string[] {
  return [cachePath(cacheDir, "images"), cachePath(cacheDir, "snapshots")];
}

/**
 * `kvmci-1-<os>-<arch>-<settings>-`: the settings that decide which entries a run makes, so a
 * workflow with two jobs on different images keeps two caches. Pure.
 */
export function cacheKeyPrefix(config: RunConfig, env: NodeJS.ProcessEnv): string {
  const arches = [...new Set(config.matrix.map((m) => m.arch))];
  const settings = canonicalJson({
    image: config.image,
    // Only when a guest is not x86_64, so that caches saved before arm64 guests still match.
    ...(arches.some((a) => a !== "x86_64") ? { arch: arches } : {}),
    provision: config.provision ?? null,
    userData: config.userData ?? null,
    cpus: config.cpus,
    memory: config.memoryBytes,
    disk: config.diskBytes ?? null,
    accel: config.accel,
    boot: config.boot,
    network: config.network,
    snapshot: config.snapshot,
  });
  const hash = createHash("sha256").update(settings).digest("hex").slice(0, 16);
  return `kvmci-1-${env.RUNNER_OS ?? "Linux"}-${env.RUNNER_ARCH ?? process.arch}-${hash}-`;
}

/**
 * The full key: the prefix and a hash of the entry names now in the cache, which carry the
 * digests of images and the keys of prepared images and snapshots. Equal content, equal key.
 */
export async function cacheKey(prefix: string, cacheDir: string): Promise<string> {
  const names: string[] = [];
  for (const folder of ["images", "snapshots"] as const) {
    const entries = await readdir(cachePath(cacheDir, folder)).catch(() => [] as string[]);
    names.push(...entries.filter((e) => !e.startsWith(partialPrefix)).map((e) => `${folder}/${e}`));
  }
  return `${prefix}${createHash("sha256").update(names.sort().join("\n")).digest("hex").slice(0, 16)}`;
}

/** Restores the newest cache saved with these settings. Any failure is a warning. */
export async function restoreKvmciCache(
  service: CacheService,
  o: { cacheDir: string; prefix: string },
  log: Log,
  warn: Log,
): Promise<string | undefined> {
  if (!service.isFeatureAvailable()) {
    log("cache: the Actions cache service is not available here; images are made anew");
    return undefined;
  }
  const started = Date.now();
  try {
    const key = await service.restoreCache(cachedFolders(o.cacheDir), `${o.prefix}none`, [
      o.prefix,
    ]);
    log(
      key
        ? `cache: restored ${key} in ${((Date.now() - started) / 1000).toFixed(1)}s`
        : `cache: nothing saved yet for ${o.prefix}*`,
    );
    return key;
  } catch (error) {
    warn(`cache: restoring failed, going on without it: ${(error as Error).message}`);
    return undefined;
  }
}

/** Saves the cache when its content changed since the restore. Any failure is a warning. */
export async function saveKvmciCache(
  service: CacheService,
  o: { cacheDir: string; prefix: string; restoredKey: string | undefined },
  log: Log,
  warn: Log,
): Promise<void> {
  if (!service.isFeatureAvailable()) return;
  const key = await cacheKey(o.prefix, o.cacheDir);
  if (key === o.restoredKey) {
    log(`cache: ${key} is unchanged; not saving it again`);
    return;
  }
  const started = Date.now();
  try {
    const id = await service.saveCache(cachedFolders(o.cacheDir), key);
    if (id === -1) warn(`cache: saving ${key} did not succeed (see the lines above)`);
    else log(`cache: saved ${key} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  } catch (error) {
    warn(
      `cache: saving failed; the next workflow run makes its images again: ${(error as Error).message}`,
    );
  }
}
