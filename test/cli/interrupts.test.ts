import { describe, expect, it } from "vitest";
import { Interrupts } from "../../src/cli/interrupts.js";

function setup() {
  const exits: number[] = [];
  const warnings: string[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const interrupts = new Interrupts({
    exit: (code) => exits.push(code),
    warn: (message) => warnings.push(message),
    setTimer: (fn, ms) => {
      timers.push({ fn, ms });
      return { unref: () => undefined };
    },
  });
  return { interrupts, exits, warnings, timers };
}

// Signals of one kind sent back to back can merge into one delivery, so a real process cannot
// show the second Ctrl-C reliably; the policy is checked here, the process-level guarantees
// (QEMU dies with kvmci, gc removes the folder) by the kill -9 integration test.
describe("interrupts", () => {
  it("aborts on the first signal and leaves the exit to teardown", () => {
    const { interrupts, exits, timers } = setup();
    interrupts.onSignal("SIGTERM");
    expect(interrupts.signal.aborted).toBe(true);
    expect(interrupts.signal.reason).toBe("SIGTERM");
    expect(exits).toEqual([]);
    expect(timers.map((t) => t.ms)).toEqual([60_000]);
  });

  it("exits at once on a second signal, saying why", () => {
    const { interrupts, exits, warnings } = setup();
    interrupts.onSignal("SIGINT");
    interrupts.onSignal("SIGINT");
    expect(exits).toEqual([130]);
    expect(warnings).toEqual(["kvmci: teardown did not finish (a second SIGINT); exiting now\n"]);
  });

  it("exits when teardown outlives the deadline", () => {
    const { interrupts, exits, warnings, timers } = setup();
    interrupts.onSignal("SIGTERM");
    timers[0]!.fn();
    expect(exits).toEqual([143]);
    expect(warnings[0]).toContain("(60 s)");
  });
});
