import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { dir } from "tmp-promise";

/** Files inside a guest's run folder. */
export const RunFiles = {
  overlay: "overlay.qcow2",
  seed: "seed.iso",
  console: "console.log",
  /** Who owns the folder: lets a later kvmci recognise folders left by a killed run. */
  owner: "owner.json",
} as const;

export const runFolderPrefix = "kvmci-run-";

export interface RunFolder extends AsyncDisposable {
  path: string;
  file(name: (typeof RunFiles)[keyof typeof RunFiles]): string;
}

/** A private (0700) folder for one guest, deleted with everything in it on dispose. */
export async function createRunFolder(tmpdir?: string): Promise<RunFolder> {
  const folder = await dir({ prefix: runFolderPrefix, mode: 0o700, unsafeCleanup: true, tmpdir });
  await writeFile(
    join(folder.path, RunFiles.owner),
    JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() }),
    { mode: 0o600 },
  );
  return {
    path: folder.path,
    file: (name) => join(folder.path, name),
    [Symbol.asyncDispose]: () => folder.cleanup(),
  };
}
