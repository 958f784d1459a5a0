import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { KvmProblem, ProbeMemo } from "./accel.js";

/** A ProbeMemo kept as one small JSON file in the cache folder. */
export function fileProbeMemo(cacheDir: string): ProbeMemo {
  const path = join(cacheDir, "kvm-probe.json");
  const read = async (): Promise<Record<string, KvmProblem | null>> => {
    try {
      return JSON.parse(await readFile(path, "utf8")) as Record<string, KvmProblem | null>;
    } catch {
      return {};
    }
  };
  return {
    async get(key) {
      const all = await read();
      return key in all ? all[key] : undefined;
    },
    async set(key, value) {
      // Only the current host boot matters; older keys are dropped.
      const bootId = key.split("|")[0] ?? "";
      const kept = Object.fromEntries(
        Object.entries(await read()).filter(([k]) => k.startsWith(`${bootId}|`)),
      );
      kept[key] = value;
      await mkdir(dirname(path), { recursive: true });
      const temporary = `${path}.${process.pid}.tmp`;
      await writeFile(temporary, JSON.stringify(kept));
      await rename(temporary, path);
    },
  };
}
