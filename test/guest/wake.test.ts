import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { execa } from "execa";
import { buildWakeLine, WakeChannel, wakeAgentScript } from "../../src/guest/wake.js";

describe("buildWakeLine", () => {
  it("carries time (ms precision), host name, seed and the key without its comment", () => {
    const line = buildWakeLine({
      now: new Date(Date.UTC(2026, 10, 26, 10, 0, 0, 42)),
      hostname: "kvmci-abc123",
      seed: "00ff",
      authorizedKey: "ssh-ed25519 AAAAC3Nza kvmci-client-abc123\n",
    });
    expect(line).toBe("wake 1795687200.042 kvmci-abc123 00ff ssh-ed25519 AAAAC3Nza\n");
  });

  it("refuses words that could break the agent's parsing", () => {
    const m = { now: new Date(0), seed: "00", authorizedKey: "ssh-ed25519 AAAA" };
    expect(() => buildWakeLine({ ...m, hostname: "a b" })).toThrow(/Unsafe/);
    expect(() => buildWakeLine({ ...m, hostname: "a;reboot" })).toThrow(/Unsafe/);
    expect(() => buildWakeLine({ ...m, hostname: "ok", authorizedKey: "nokey" })).toThrow();
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
    const server = createServer((socket) => {
      // 20 MB without a newline, then many lines, then the word.
      socket.write("x".repeat(20 * 1024 ** 2));
      socket.write("\n");
      for (let i = 0; i < 10_000; i++) socket.write(`noise ${i}\n`);
      socket.write("armed\n");
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const before = process.memoryUsage().heapUsed;
      await using channel = await WakeChannel.connect(path);
      await channel.waitFor("armed", 10_000);
      expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 * 1024 ** 2);
    } finally {
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
