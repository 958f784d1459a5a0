import { describe, expect, it } from "vitest";
import { execa } from "execa";
import { buildWakeLine, wakeAgentScript } from "../../src/guest/wake.js";

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
