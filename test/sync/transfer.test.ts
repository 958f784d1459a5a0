import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import type { ExecIo, RemoteShell } from "../../src/ssh/session.js";
import { syncWorkspace } from "../../src/sync/transfer.js";

// A stand-in for the guest's SSH exec: it opens its "channel" late, as a real one does after a
// round trip, and hands what it receives to a real tar. Only the SSH transport is simulated.
function lateGuest(received: Buffer[]): RemoteShell {
  const exec = async (_command: string, io: ExecIo) => {
    await sleep(300);
    for await (const chunk of io.stdin as AsyncIterable<Buffer>) received.push(chunk);
    return { code: 0 };
  };
  return { exec };
}

describe("syncWorkspace", () => {
  it("loses none of the archive when the channel opens after tar has finished", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kvmci-sync-test-"));
    try {
      await writeFile(join(dir, "a.txt"), "a".repeat(100_000));
      await writeFile(join(dir, "b.txt"), "b");
      const received: Buffer[] = [];
      const result = await syncWorkspace(
        lateGuest(received),
        { cwd: dir, workdir: "/work", excludes: [], artifactsDir: join(dir, "kvmci-artifacts") },
        new AbortController().signal,
      );
      const archive = Buffer.concat(received);
      expect(result.bytes).toBe(archive.length);
      const listed = await execa("tar", ["-t", "-f", "-"], { input: archive });
      expect(listed.stdout.split("\n").sort()).toEqual(["./", "./a.txt", "./b.txt"]);
      expect(result).toMatchObject({ mode: "folder", files: 2 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("counts the files sent, not those tar leaves out (the artifacts folder, --exclude)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kvmci-sync-test-"));
    try {
      await execa("git", ["init", "-q"], { cwd: dir });
      await mkdir(join(dir, "src"));
      await mkdir(join(dir, "kvmci-artifacts", "reports"), { recursive: true });
      for (const file of ["src/a.ts", "src/b.ts", "notes.log", "README.md"])
        await writeFile(join(dir, file), file);
      // An earlier run's artifacts: untracked and not ignored, so git lists them.
      for (const file of [".kvmci-artifacts", "reports/junit.xml", "reports/summary.txt"])
        await writeFile(join(dir, "kvmci-artifacts", file), "old");
      await execa("git", ["add", "src", "README.md"], { cwd: dir });
      const received: Buffer[] = [];
      const result = await syncWorkspace(
        lateGuest(received),
        {
          cwd: dir,
          workdir: "/work",
          excludes: ["*.log"],
          artifactsDir: join(dir, "kvmci-artifacts"),
        },
        new AbortController().signal,
      );
      const listed = await execa("tar", ["-t", "-f", "-"], { input: Buffer.concat(received) });
      expect(listed.stdout.split("\n").sort()).toEqual(["README.md", "src/a.ts", "src/b.ts"]);
      expect(result).toMatchObject({ mode: "git", files: 3 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("says the guest failed when it stops unpacking half-way, and does not wait on tar", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kvmci-sync-test-"));
    try {
      await writeFile(join(dir, "big.bin"), randomBytes(8 * 1024 * 1024));
      // A guest whose tar dies after the first chunk (its disk filled up, say): the channel
      // closes and nothing reads the rest of the archive.
      const failing: RemoteShell = {
        exec: async (_command: string, io: ExecIo) => {
          for await (const _chunk of io.stdin as AsyncIterable<Buffer>) break;
          return { code: 2 };
        },
      };
      const outcome = await syncWorkspace(
        failing,
        { cwd: dir, workdir: "/work", excludes: [], artifactsDir: join(dir, "kvmci-artifacts") },
        new AbortController().signal,
      ).catch((error: unknown) => error);
      expect(outcome).toMatchObject({
        message: "Unpacking the workspace in the guest failed (exit code 2)",
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
