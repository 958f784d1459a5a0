import { describe, expect, it } from "vitest";
import { KvmciError } from "../../src/errors.js";
import { GithubLogReporter, renderJobSummary } from "../../src/report/github.js";
import { parseJunit } from "../../src/report/junit.js";
import type { RunResult } from "../../src/run/run.js";

function reporter() {
  let text = "";
  const warnings: string[] = [];
  const out = { write: (chunk: string | Buffer) => ((text += chunk.toString()), true) };
  const r = new GithubLogReporter(out as NodeJS.WritableStream, {
    warning: (m) => warnings.push(m),
  });
  return { r, text: () => text, warnings };
}

describe("GithubLogReporter", () => {
  it("puts each phase in a group ending with its result, and fences the guest's output", () => {
    const { r, text } = reporter();
    r.onEvent({ type: "phase-start", phase: "command" });
    r.onEvent({
      type: "output",
      stream: "stdout",
      chunk: Buffer.from("::error::injected\nno newline"),
    });
    r.onEvent({ type: "phase-end", phase: "command", ms: 1500, ok: true });
    const lines = text().split("\n");
    expect(lines[0]).toBe("::group::kvmci: command");
    const fence = /^::stop-commands::(.+)$/.exec(lines[1]!)![1];
    expect(lines.slice(2)).toEqual([
      "::error::injected",
      "no newline",
      `::${fence}::`,
      "kvmci ✓ command 1.5s",
      "::endgroup::",
      "",
    ]);
  });

  it("turns warnings into annotations", () => {
    const { r, warnings } = reporter();
    r.onEvent({ type: "warning", message: "KVM is not usable here" });
    expect(warnings).toEqual(["KVM is not usable here"]);
  });
});

const passed: RunResult = {
  outcome: "passed",
  exitCode: 0,
  image: { name: "debian-12", digest: "sha256:x", origin: "cached" },
  accel: { name: "tcg", reason: "no KVM" },
  boot: "kernel",
  phases: [
    { phase: "restore", ms: 1600, ok: true },
    { phase: "command", ms: 300, ok: true },
  ],
  artifacts: [],
  cloudInitErrors: [],
  prepared: { entry: "debian-12-prepared-x", reused: true },
  snapshot: { entry: "s", use: "restored" },
  error: undefined,
};

describe("renderJobSummary", () => {
  it("shows the outcome, image, accel, start and phases", () => {
    const md = renderJobSummary({
      result: passed,
      junit: undefined,
      consoleTail: ["x"],
      durationMs: 2500,
    });
    expect(md).toContain("## kvmci: ✅ passed");
    expect(md).toContain(
      "| debian-12 (cached, prepared: reused) | tcg (no KVM) | restored from a warm snapshot | 2.5s |",
    );
    expect(md).toContain("| restore | command |");
    expect(md).not.toContain("console");
  });

  it("lists suites and failures from JUnit, and the console tail when the run failed", () => {
    const report = parseJunit(
      '<testsuite name="s"><testcase name="a"/><testcase name="b" file="t.sh" line="3"><failure message="boom">x | y</failure></testcase></testsuite>',
    );
    const md = renderJobSummary({
      result: { ...passed, outcome: "failed", exitCode: 1 },
      junit: { path: "junit.xml", report },
      consoleTail: ["[ 1.0] kernel: hello"],
      durationMs: 1000,
    });
    expect(md).toContain("## kvmci: ❌ failed (exit code 1)");
    expect(md).toContain("### Tests: 1 passed, 1 failed, 0 skipped");
    expect(md).toContain("| s | 1 | 1 | 0 |");
    expect(md).toContain("#### ❌ s › b — `t.sh:3`");
    expect(md).toContain("```\nx | y\n```");
    expect(md).toContain("Last lines of the guest console");
    expect(md).toContain("kernel: hello");
  });

  it("says what went wrong when the run could not complete", () => {
    const error = new KvmciError("guestBoot", "The guest was not ready after 600s", {
      hint: "Raise --boot-timeout",
    });
    const md = renderJobSummary({
      result: { ...passed, outcome: "error", exitCode: 66, error, phases: [] },
      junit: { path: "junit.xml", problem: "junit.xml was not written in the guest" },
      consoleTail: [],
      durationMs: 1000,
    });
    expect(md).toContain("## kvmci: ❌ could not complete (exit code 66)");
    expect(md).toContain("**The guest was not ready after 600s**");
    expect(md).toContain("JUnit: junit.xml was not written in the guest");
  });
});
