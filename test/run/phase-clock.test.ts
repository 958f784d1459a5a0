import { describe, expect, it } from "vitest";
import type { RunEvent } from "../../src/run/events.js";
import { PhaseClock } from "../../src/run/phase-clock.js";

function clock() {
  const events: RunEvent[] = [];
  let now = 0;
  const c = new PhaseClock(
    (e) => events.push(e),
    () => (now += 500),
  );
  return { c, events };
}

describe("PhaseClock", () => {
  it("ends the command phase well when the command ran, and says how the command ended", async () => {
    const { c, events } = clock();
    const end = await c.time("command", () => Promise.resolve({ exitCode: 3, outcome: "failed" }));
    expect(end).toEqual({ exitCode: 3, outcome: "failed" });
    expect(events).toEqual([
      { type: "phase-start", phase: "command" },
      {
        type: "phase-end",
        phase: "command",
        ms: 500,
        ok: true,
        command: { exitCode: 3, outcome: "failed" },
      },
    ]);
    // The record (the JSON report's phases) keeps what the phase did, not the command's verdict.
    expect(c.records).toEqual([{ phase: "command", ms: 500, ok: true }]);
  });

  it("says nothing of a command on other phases, and fails a phase whose work throws", async () => {
    const { c, events } = clock();
    await c.time("sync", () => Promise.resolve({ files: 3 }));
    await expect(c.time("artifacts", () => Promise.reject(new Error("x")))).rejects.toThrow("x");
    expect(events.filter((e) => e.type === "phase-end")).toEqual([
      { type: "phase-end", phase: "sync", ms: 500, ok: true },
      { type: "phase-end", phase: "artifacts", ms: 500, ok: false },
    ]);
  });
});
