import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { execa } from "execa";
import {
  buildWakeLine,
  mountableWorkdir,
  WakeChannel,
  wakeAgentScript,
} from "../../src/guest/wake.js";
import { parseUserIds } from "../../src/guest/guest.js";

describe("buildWakeLine", () => {
  it("carries time (ms precision), host name, seed and the key without its comment", () => {
    const line = buildWakeLine({
      now: new Date(Date.UTC(2026, 10, 26, 10, 0, 0, 42)),
      hostname: "kvmci-abc123",
      seed: "00ff",
      authorizedKey: "ssh-ed25519 AAAAC3Nza kvmci-client-abc123\n",
    });
    expect(line).toBe(
      "wake 1795687200.042 2026-11-26T10:00:00Z kvmci-abc123 00ff - ssh-ed25519 AAAAC3Nza\n",
    );
  });

  it("names the workdir to mount the workspace disk on, when there is one", () => {
    const line = buildWakeLine({
      now: new Date(0),
      hostname: "kvmci-abc123",
      seed: "00ff",
      authorizedKey: "ssh-ed25519 AAAA",
      workspaceDir: "/home/kvmci/work",
    });
    expect(line).toBe(
      "wake 0.000 1970-01-01T00:00:00Z kvmci-abc123 00ff /home/kvmci/work ssh-ed25519 AAAA\n",
    );
  });

  it("refuses words that could break the agent's parsing", () => {
    const m = { now: new Date(0), seed: "00", authorizedKey: "ssh-ed25519 AAAA" };
    expect(() => buildWakeLine({ ...m, hostname: "a b" })).toThrow(/Unsafe/);
    expect(() => buildWakeLine({ ...m, hostname: "a;reboot" })).toThrow(/Unsafe/);
    expect(() => buildWakeLine({ ...m, hostname: "ok", authorizedKey: "nokey" })).toThrow();
    expect(() => buildWakeLine({ ...m, hostname: "ok", workspaceDir: "/a b" })).toThrow(/Unsafe/);
  });
});

describe("mountableWorkdir", () => {
  it("takes absolute paths of plain characters only", () => {
    for (const ok of ["/home/kvmci/work", "/w", "/srv/my-app_1.0"])
      expect(mountableWorkdir(ok)).toBe(true);
    for (const bad of [
      "relative/work",
      "/",
      "/work/",
      "/a b",
      "/a,upperdir=/etc",
      "/a:b",
      "/a/../etc",
      "/a\nb",
      "/a;reboot",
      "/a$(x)",
    ])
      expect(mountableWorkdir(bad)).toBe(false);
  });
});

describe("parseUserIds", () => {
  it("reads the uid and gid the agent says with armed, and nothing else", () => {
    expect(parseUserIds(["1000", "1000"])).toEqual({ uid: 1000, gid: 1000 });
    expect(parseUserIds(["0", "4"])).toEqual({ uid: 0, gid: 4 });
    expect(parseUserIds([])).toBeUndefined();
    expect(parseUserIds(["1000"])).toBeUndefined();
    expect(parseUserIds(["-1", "0"])).toBeUndefined();
    expect(parseUserIds(["1e3", "0"])).toBeUndefined();
    expect(parseUserIds(["4294967295", "0"])).toBeUndefined();
  });
});

describe("wakeAgentScript", () => {
  it("is valid POSIX shell", async () => {
    const result = await execa("sh", ["-n"], { input: wakeAgentScript, reject: false });
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
  });
});

describe("the wake channel, from a hostile guest", () => {
  it("keeps only a few short lines, whatever is written to it, and still hears its word", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kvmci-wake-"));
    const path = join(dir, "wake.sock");
    // 20 MB without a newline, then many lines, then the word. A buffer made before the
    // measurement, outside the heap: only what the channel keeps counts.
    const junk = Buffer.alloc(20 * 1024 ** 2, "x");
    const server = createServer((socket) => {
      socket.write(junk);
      socket.write("\n");
      for (let i = 0; i < 10_000; i++) socket.write(`noise ${i}\n`);
      socket.write("armed 1000 1001\n");
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const before = process.memoryUsage().heapUsed;
      await using channel = await WakeChannel.connect(path);
      expect(await channel.waitFor("armed", 10_000)).toEqual(["1000", "1001"]);
      expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 * 1024 ** 2);
    } finally {
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
