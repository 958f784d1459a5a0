import { describe, expect, it } from "vitest";
import { execa } from "execa";
import {
  identifyProcess,
  isProcessRunning,
  parseStartTicks,
} from "../../src/host/process-identity.js";

describe("process identity", () => {
  it("reads the start time from /proc/PID/stat, even with spaces and parentheses in the name", () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    expect(parseStartTicks(`42 (a (b) c) ${fields.join(" ")}`)).toBe(22);
  });

  it("tells a live process from one that ended, and from a reused pid", async () => {
    const self = await identifyProcess();
    const child = execa("sleep", ["30"]);
    const identity = await identifyProcess(child.pid);
    expect(await isProcessRunning(identity, self)).toBe(true);
    expect(await isProcessRunning({ ...identity, startTicks: identity.startTicks + 1 }, self)).toBe(
      false,
    );
    child.kill("SIGKILL");
    await child.catch(() => undefined);
    expect(await isProcessRunning(identity, self)).toBe(false);
    expect(await isProcessRunning({ ...identity, host: "elsewhere" }, self)).toBeUndefined();
  });
});
