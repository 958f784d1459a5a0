import { EventEmitter } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { failOnStall, Interrupts } from "../../src/cli/interrupts.js";

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

// The stall itself, as CI once met it: a subprocess killed while nobody read its output, whose
// execa promise then waits for an end of output that never comes.
const stallingWork = `
  const { execa } = await import(${JSON.stringify(import.meta.resolve("execa"))});
  const unread = execa("head", ["-c", "10000000", "/dev/zero"], { buffer: { stdout: false }, reject: false });
  setTimeout(() => unread.kill(), 200);
  await unread;
`;

describe("failOnStall", () => {
  it("is needed: Node ends a process whose main waits for ever on such work with code 0", async () => {
    const child = await execa("node", ["--input-type=module", "-e", stallingWork], {
      reject: false,
    });
    expect(child.exitCode).toBe(0);
    expect(child.stderr).toBe("");
  });

  it("reports the loop running empty while held, and not once disposed", () => {
    const proc = new EventEmitter();
    const reports: string[] = [];
    {
      using _stall = failOnStall(proc, () => reports.push("stalled"));
      proc.emit("beforeExit");
    }
    proc.emit("beforeExit");
    expect(reports).toEqual(["stalled"]);
    expect(proc.listenerCount("beforeExit")).toBe(0);
  });

  it("turns the stall of a real process into its report and exit code", async () => {
    // failOnStall's module, compiled for a plain Node process.
    const dir = await mkdtemp(join(tmpdir(), "kvmci-stall-"));
    try {
      const module = join(dir, "interrupts.mjs");
      await build({
        entryPoints: [fileURLToPath(new URL("../../src/cli/interrupts.ts", import.meta.url))],
        bundle: true,
        format: "esm",
        platform: "node",
        outfile: module,
        logLevel: "silent",
      });
      const script = `
        const { failOnStall } = await import(${JSON.stringify(module)});
        failOnStall(process, () => {
          process.stderr.write("stalled\\n");
          process.exit(70);
        });
        ${stallingWork}
      `;
      const child = await execa("node", ["--input-type=module", "-e", script], { reject: false });
      expect(child.exitCode, child.stderr).toBe(70);
      expect(child.stderr).toBe("stalled");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
