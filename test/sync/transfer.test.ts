import { mkdtemp, rm, writeFile } from "node:fs/promises";
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
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
