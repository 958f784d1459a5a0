import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createRunFolder, removeStaleRunFolders, RunFiles } from "../../src/guest/run-folder.js";
import { identifyProcess } from "../../src/host/process-identity.js";

let root: string;
let tmp: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "kvmci-stale-"));
  tmp = join(root, "tmp");
  await mkdir(tmp);
});
afterEach(() => rm(root, { recursive: true, force: true }));

/** A run folder as a kvmci that was killed leaves it: its owner record names a process gone. */
async function staleFolder(at: string, mode = 0o700): Promise<void> {
  await mkdir(at, { mode });
  await chmod(at, mode);
  const dead = { ...(await identifyProcess()), startTicks: 1 };
  await writeFile(join(at, RunFiles.owner), JSON.stringify(dead), { mode: 0o600 });
  await writeFile(join(at, RunFiles.overlay), "overlay");
}

describe("createRunFolder", () => {
  it("makes a private folder with its owner record, deleted with its contents on dispose", async () => {
    const folder = await createRunFolder(tmp);
    expect(folder.path.startsWith(join(tmp, "kvmci-run-"))).toBe(true);
    expect((await lstat(folder.path)).mode & 0o777).toBe(0o700);
    expect(await readdir(folder.path)).toEqual([RunFiles.owner]);
    await mkdir(join(folder.path, "sub"));
    await writeFile(folder.file(RunFiles.overlay), "overlay");
    await folder[Symbol.asyncDispose]();
    expect(await readdir(tmp)).toEqual([]);
  });
});

describe("removeStaleRunFolders", () => {
  it("removes this user's folders of runs that are gone, and no live one", async () => {
    await staleFolder(join(tmp, "kvmci-run-dead"));
    const live = await createRunFolder(tmp);
    try {
      expect(await removeStaleRunFolders(tmp)).toEqual([join(tmp, "kvmci-run-dead")]);
      expect(await readdir(tmp)).toEqual([live.path.slice(tmp.length + 1)]);
    } finally {
      await live[Symbol.asyncDispose]();
    }
  });

  it("never follows a link with a run folder's name", async () => {
    const victim = join(root, "victim");
    await staleFolder(victim);
    await symlink(victim, join(tmp, "kvmci-run-link"));
    expect(await removeStaleRunFolders(tmp)).toEqual([]);
    expect((await readdir(victim)).sort()).toEqual([RunFiles.overlay, RunFiles.owner].sort());
    expect((await lstat(join(tmp, "kvmci-run-link"))).isSymbolicLink()).toBe(true);
  });

  it("leaves a folder that is not private, or whose owner record is a link", async () => {
    await staleFolder(join(tmp, "kvmci-run-open"), 0o755);
    await mkdir(join(tmp, "kvmci-run-forged"), { mode: 0o700 });
    await staleFolder(join(root, "elsewhere"));
    await symlink(
      join(root, "elsewhere", RunFiles.owner),
      join(tmp, "kvmci-run-forged", RunFiles.owner),
    );
    expect(await removeStaleRunFolders(tmp)).toEqual([]);
    expect((await readdir(tmp)).sort()).toEqual(["kvmci-run-forged", "kvmci-run-open"]);
  });

  it.runIf(process.getuid?.() === 0)("as root, leaves another user's folder alone", async () => {
    const theirs = join(tmp, "kvmci-run-theirs");
    await staleFolder(theirs);
    await chown(theirs, 65534, 65534);
    await chown(join(theirs, RunFiles.owner), 65534, 65534);
    expect(await removeStaleRunFolders(tmp)).toEqual([]);
    expect(await readdir(tmp)).toEqual(["kvmci-run-theirs"]);
  });
});
