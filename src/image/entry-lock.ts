import { cachePath } from "../cache/layout.js";
import { acquireLock } from "../cache/lock.js";

/**
 * Runs `fn` holding the lock of one cache entry, so that two kvmci processes that need the same
 * image build or download it once: the second waits, then finds it cached.
 */
export async function withEntryLock<T>(
  options: { cacheDir: string; signal?: AbortSignal; onNote?: (message: string) => void },
  entryName: string,
  fn: () => Promise<T>,
): Promise<T> {
  await using _lock = await acquireLock(cachePath(options.cacheDir, "locks", `${entryName}.lock`), {
    signal: options.signal,
    onWait: (holder) =>
      options.onNote?.(
        `another kvmci (pid ${holder.pid}) is preparing ${entryName}; waiting for it instead of doing it twice`,
      ),
  });
  return await fn();
}
