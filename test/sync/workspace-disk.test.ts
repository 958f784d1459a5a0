import { mkdir, mkdtemp, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  buildWorkspaceDisk,
  makeEmptyWorkspaceDisk,
  workspaceDiskBytes,
} from "../../src/sync/workspace-disk.js";

let root: string;
let project: string;
let disk: string;
const signal = new AbortController().signal;
const owner = { uid: 4242, gid: 4343 };

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "kvmci-wsdisk-"));
  project = join(root, "project");
  disk = join(root, "workspace.img");
  await mkdir(project);
  await makeEmptyWorkspaceDisk(disk);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** What the disk holds, as unsquashfs (squashfs-tools' own reader) lists it: path → line. */
async function listing(): Promise<Map<string, string>> {
  const listed = await execa("unsquashfs", ["-lln", "-d", "", disk]);
  const entries = new Map<string, string>();
  for (const line of listed.stdout.split("\n")) {
    const match = /^(\S+)\s+(\d+)\/(\d+)\s+\d+\s+\S+\s+\S+\s+(.*?)(?: -> .*)?$/.exec(line);
    if (match) entries.set(match[4]!, line);
  }
  return entries;
}

describe("buildWorkspaceDisk", () => {
  it("holds what git lists (not ignored files, --exclude or old artifacts), owned by the guest's user, with its times", async () => {
    await execa("git", ["init", "-q"], { cwd: project });
    await writeFile(join(project, ".gitignore"), ".env\nbuild/\n");
    await mkdir(join(project, "src"));
    await mkdir(join(project, "build"));
    await mkdir(join(project, "kvmci-artifacts"));
    for (const file of ["src/a.ts", "README.md", ".env", "build/out.js", "notes.log"])
      await writeFile(join(project, file), file);
    await writeFile(join(project, "kvmci-artifacts", "junit.xml"), "old");
    await writeFile(join(project, "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
    await symlink("src/a.ts", join(project, "link"));
    const old = new Date("2001-02-03T04:05:06Z");
    await utimes(join(project, "README.md"), old, old);
    await execa("git", ["add", ".gitignore", "src", "README.md", "run.sh", "link"], {
      cwd: project,
    });
    // A reproducible build's environment must not clamp the workspace's times.
    process.env.SOURCE_DATE_EPOCH = "1000";
    const result = await buildWorkspaceDisk(
      disk,
      {
        cwd: project,
        excludes: ["*.log"],
        artifactsDir: join(project, "kvmci-artifacts"),
      },
      owner,
      signal,
    ).finally(() => delete process.env.SOURCE_DATE_EPOCH);
    expect(result).toMatchObject({ kind: "built", sync: { mode: "git", files: 5 } });
    const entries = await listing();
    expect([...entries.keys()].sort()).toEqual(
      ["", "/.gitignore", "/README.md", "/link", "/run.sh", "/src", "/src/a.ts"].sort(),
    );
    for (const [path, line] of entries)
      if (path !== "") expect(line, path).toMatch(/^\S+\s+4242\/4343\s/);
    expect(entries.get("/run.sh")).toMatch(/^-rwxr-xr-x/);
    expect(entries.get("/link")).toMatch(/^l.* -> src\/a\.ts$/);
    expect(entries.get("/README.md")).toContain("2001-02-03");
    // The file system at its start, the rest a hole of the size the guest learnt at boot.
    expect((await stat(disk)).size).toBe(workspaceDiskBytes);
    expect((await stat(disk)).blocks * 512).toBeLessThan(1024 * 1024);
  });

  it("holds the whole folder outside a git work tree", async () => {
    await mkdir(join(project, "deep", "er"), { recursive: true });
    await writeFile(join(project, "deep", "er", "x.bin"), Buffer.alloc(300_000, 7));
    await writeFile(join(project, "top.txt"), "top");
    const result = await buildWorkspaceDisk(
      disk,
      { cwd: project, excludes: [], artifactsDir: join(project, "kvmci-artifacts") },
      owner,
      signal,
    );
    expect(result).toMatchObject({ kind: "built", sync: { mode: "folder", files: 2 } });
    const out = join(root, "out");
    await execa("unsquashfs", ["-d", out, disk]);
    expect((await stat(join(out, "deep", "er", "x.bin"))).size).toBe(300_000);
  });

  it("says the disk cannot be made without mksquashfs, and leaves it empty", async () => {
    const bin = join(root, "bin");
    await mkdir(bin);
    for (const tool of ["tar", "git"]) await symlink(`/usr/bin/${tool}`, join(bin, tool));
    const path = process.env.PATH;
    process.env.PATH = bin;
    try {
      const result = await buildWorkspaceDisk(
        disk,
        { cwd: project, excludes: [], artifactsDir: join(project, "kvmci-artifacts") },
        owner,
        signal,
      );
      expect(result).toEqual({
        kind: "unavailable",
        why: "mksquashfs is not installed (package squashfs-tools)",
      });
    } finally {
      process.env.PATH = path;
    }
    expect((await stat(disk)).blocks).toBe(0);
  });

  it("fails as the SSH path does when tar cannot pack the workspace", async () => {
    const result = await buildWorkspaceDisk(
      disk,
      { cwd: join(project, "missing"), excludes: [], artifactsDir: join(project, "x") },
      owner,
      signal,
    ).catch((error: unknown) => error);
    expect(result).toMatchObject({ exitCode: 64 });
  });
});
