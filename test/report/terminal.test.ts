import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { loadRunConfig } from "../../src/config/load.js";
import { buildJsonReport } from "../../src/report/json.js";
import { TerminalReporter } from "../../src/report/terminal.js";
import { PhaseClock } from "../../src/run/phase-clock.js";
import type { RunResult } from "../../src/run/run.js";

function sink(isTTY: boolean) {
  let text = "";
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString();
        done();
      },
    }),
    { isTTY },
  );
  return { stream, text: () => text };
}

describe("terminal reporter", () => {
  it("shows build progress on a terminal and stays quiet in a log", () => {
    for (const tty of [true, false]) {
      const err = sink(tty);
      const out = sink(false);
      const reporter = new TerminalReporter({ stdout: out.stream, stderr: err.stream });
      reporter.onEvent({ type: "phase-start", phase: "image" });
      reporter.onEvent({ type: "progress", phase: "image", message: "installing packages" });
      reporter.onEvent({ type: "phase-end", phase: "image", ms: 42_000, ok: true });
      if (tty) {
        expect(err.text()).toMatch(/image \d+ms: installing packages/);
        // The live line is cleared and the result printed last, with nothing drawn after it.
        expect(err.text().endsWith("\r\x1b[Kkvmci ✓ image     42.0s\n")).toBe(true);
      } else expect(err.text()).toBe("kvmci ✓ image     42.0s\n");
    }
  });

  it("shows a download's progress live on a terminal, and every few seconds in a log", () => {
    const progress = { received: 1 << 20, total: 4 << 20, resumedFrom: 0, startedAt: Date.now() };
    for (const tty of [true, false]) {
      const err = sink(tty);
      const reporter = new TerminalReporter({ stdout: sink(false).stream, stderr: err.stream });
      reporter.onEvent({ type: "phase-start", phase: "image" });
      for (let i = 0; i < 3; i++)
        reporter.onEvent({ type: "transfer", phase: "image", what: "ubuntu-24.04", progress });
      const lines = err
        .text()
        .split(/\r|\n/)
        .filter((l) => l.includes("downloading"));
      expect(lines[0]).toContain("downloading ubuntu-24.04: 1.0 MiB / 4.0 MiB (25%)");
      // On a terminal each event redraws the line; in a log only the first within 5 s is printed.
      expect(lines).toHaveLength(tty ? 3 : 1);
    }
  });

  it("marks the command's line with how the command ended, not only that it ran", async () => {
    const cases = [
      [{ exitCode: 0, outcome: "passed" }, "kvmci ✓ command   500ms\n"],
      [{ exitCode: 3, outcome: "failed" }, "kvmci ✗ command   500ms, exit code 3\n"],
      [{ exitCode: 124, outcome: "timeout" }, "kvmci ✗ command   500ms, timed out\n"],
    ] as const;
    for (const [end, line] of cases) {
      const err = sink(false);
      const reporter = new TerminalReporter({ stdout: sink(false).stream, stderr: err.stream });
      // The run times its command phase with a PhaseClock, as here.
      let now = 0;
      const clock = new PhaseClock(reporter.onEvent, () => (now += 500));
      await clock.time("command", () => Promise.resolve(end));
      expect(err.text()).toBe(`kvmci › command output follows\n${line}`);
      expect(clock.records).toEqual([{ phase: "command", ms: 500, ok: true }]);
    }
  });

  it("--quiet: only the command's output, warnings, errors and the last line", () => {
    const err = sink(true);
    const out = sink(false);
    const reporter = new TerminalReporter({ stdout: out.stream, stderr: err.stream }, "quiet");
    reporter.onEvent({ type: "phase-start", phase: "image" });
    reporter.onEvent({ type: "progress", phase: "image", message: "installing packages" });
    reporter.onEvent({ type: "phase-end", phase: "image", ms: 42_000, ok: true });
    reporter.onEvent({ type: "note", message: "accel: tcg (no KVM)" });
    reporter.onEvent({ type: "warning", message: "KVM is not usable here" });
    reporter.onEvent({ type: "phase-start", phase: "command" });
    reporter.onEvent({ type: "output", stream: "stdout", chunk: Buffer.from("ok 1\n") });
    reporter.onEvent({ type: "phase-end", phase: "command", ms: 500, ok: true });
    reporter.hostCommand(["qemu-img", "create"]);
    reporter.summary(result("passed", 0));
    expect(out.text()).toBe("ok 1\n");
    expect(err.text()).toBe(
      "kvmci ! KVM is not usable here\nkvmci ✓ passed in 42.5s (tcg): image 42.0s, command 500ms\n",
    );
  });

  it("--verbose: also each host command and each step of a phase, in a log too", () => {
    const err = sink(false);
    const reporter = new TerminalReporter(
      { stdout: sink(false).stream, stderr: err.stream },
      "verbose",
    );
    reporter.onEvent({ type: "phase-start", phase: "overlay" });
    reporter.hostCommand(["qemu-img", "create", "-f", "qcow2", "/tmp/run folder/disk.qcow2"]);
    reporter.hostCommandEnd(["qemu-img"], 0, null);
    reporter.hostCommandEnd(["qemu-img"], 1, null);
    reporter.hostCommandEnd(["qemu-system-x86_64"], null, "SIGKILL");
    reporter.onEvent({ type: "progress", phase: "overlay", message: "a step" });
    reporter.onEvent({ type: "phase-end", phase: "overlay", ms: 15, ok: true });
    expect(err.text().split("\n")).toEqual([
      "kvmci $ qemu-img create -f qcow2 '/tmp/run folder/disk.qcow2'",
      "kvmci $ qemu-img exited with code 1",
      "kvmci $ qemu-system-x86_64 was killed by SIGKILL",
      "kvmci › overlay: a step",
      "kvmci ✓ overlay   15ms",
      "",
    ]);
    // Without --verbose, host commands are not shown.
    const plain = sink(false);
    new TerminalReporter({ stdout: sink(false).stream, stderr: plain.stream }).hostCommand(["tar"]);
    expect(plain.text()).toBe("");
  });

  it("passes guest output through untouched", () => {
    const err = sink(false);
    const out = sink(false);
    const reporter = new TerminalReporter({ stdout: out.stream, stderr: err.stream });
    reporter.onEvent({ type: "output", stream: "stdout", chunk: Buffer.from("no newline") });
    reporter.onEvent({ type: "output", stream: "stderr", chunk: Buffer.from("warn\n") });
    expect(out.text()).toBe("no newline");
    expect(err.text()).toBe("warn\n");
  });
});

function result(outcome: RunResult["outcome"], exitCode: number): RunResult {
  return {
    outcome,
    exitCode,
    image: { name: "debian-12", digest: "sha256:x", origin: "cached" },
    accel: { name: "tcg", reason: "no KVM" },
    boot: "kernel",
    phases: [
      { phase: "image", ms: 42_000, ok: true },
      { phase: "command", ms: 500, ok: true },
    ],
    artifacts: [],
    cloudInitErrors: [],
    warnings: [],
    prepared: undefined,
    snapshot: undefined,
    error: undefined,
  };
}

describe("JSON report", () => {
  it("names the --env keys but never their values", async () => {
    const config = await loadRunConfig({
      flags: { env: ["TOKEN=s3cret"] },
      argv: ["true"],
      configPath: undefined,
      cwd: "/tmp",
    });
    const result: RunResult = {
      outcome: "passed",
      exitCode: 0,
      image: { name: "debian-12", digest: "sha256:x", origin: "cached" },
      accel: { name: "tcg", reason: "r" },
      boot: "kernel",
      phases: [{ phase: "command", ms: 5, ok: true }],
      artifacts: [],
      cloudInitErrors: [],
      warnings: [],
      prepared: undefined,
      snapshot: undefined,
      error: undefined,
    };
    const report = buildJsonReport(config, result, new Date(0));
    expect(report.env).toEqual(["TOKEN"]);
    expect(JSON.stringify(report)).not.toContain("s3cret");
  });
});
