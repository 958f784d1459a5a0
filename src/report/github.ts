import { randomUUID } from "node:crypto";
import { formatDuration } from "../units/duration.js";
import type { KvmciError } from "../errors.js";
import type { RunEvent } from "../run/events.js";
import type { GuestOutcome } from "../run/matrix.js";
import type { RunResult } from "../run/run.js";
import { guestVerdict } from "./matrix.js";
import type { JunitReport } from "./junit.js";
import { code, fence, plain } from "./markdown.js";
import { phaseEndMark } from "./phase-end.js";
import { redactUrlCredentials } from "./redact.js";
import { formatTransfer } from "./transfer.js";

/** What the GitHub log reporter needs of @actions/core (injected, so tests can watch it). */
export interface Annotator {
  warning(message: string, properties?: { title?: string }): void;
}

const plainProgressEveryMs = 5_000;

/**
 * Renders run events into a GitHub Actions log: one collapsible group per phase ending with its
 * result and duration, the guest's output live, warnings as annotations. The guest's output
 * is fenced with `::stop-commands::`, so nothing a test prints can act as a workflow command.
 */
export class GithubLogReporter {
  private fence: string | undefined;
  private atLineStart = true;
  private lastTransferLine = 0;

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly annotate: Annotator,
  ) {}

  readonly onEvent = (event: RunEvent): void => {
    switch (event.type) {
      case "phase-start":
        this.line(`::group::kvmci: ${event.phase}`);
        break;
      case "phase-end": {
        this.endFence();
        const { mark, outcome } = phaseEndMark(event);
        this.line(
          `kvmci ${mark} ${event.phase} ${formatDuration(event.ms)}${outcome ? `, ${outcome}` : ""}`,
        );
        this.line("::endgroup::");
        break;
      }
      case "output":
        if (!this.fence) {
          this.fence = randomUUID();
          this.line(`::stop-commands::${this.fence}`);
        }
        this.out.write(event.chunk);
        this.atLineStart = event.chunk.length === 0 || event.chunk.at(-1) === 0x0a;
        break;
      case "progress":
        this.line(`kvmci › ${event.message}`);
        break;
      case "transfer":
        if (Date.now() - this.lastTransferLine >= plainProgressEveryMs) {
          this.lastTransferLine = Date.now();
          this.line(
            `kvmci › downloading ${event.what}: ${formatTransfer(event.progress, Date.now())}`,
          );
        }
        break;
      case "note":
        this.line(`kvmci › ${event.message}`);
        break;
      case "warning":
        this.endFence();
        this.newline();
        this.annotate.warning(redactUrlCredentials(event.message), { title: "kvmci" });
        break;
    }
  };

  /** Writes a line of kvmci's own, on a line of its own. */
  line(text: string): void {
    this.newline();
    this.out.write(`${redactUrlCredentials(text)}\n`);
    this.atLineStart = true;
  }

  private newline(): void {
    if (!this.atLineStart) this.out.write("\n");
    this.atLineStart = true;
  }

  private endFence(): void {
    if (!this.fence) return;
    this.line(`::${this.fence}::`);
    this.fence = undefined;
  }
}

export interface SummaryInput {
  /** `## kvmci` for a single guest; `### <guest>` under a matrix summary. */
  heading?: string;
  result: RunResult;
  junit: { path: string; report: JunitReport } | { path: string; problem: string } | undefined;
  consoleTail: string[];
  durationMs: number;
}

const maxFailuresShown = 30;
const maxDetailChars = 2_000;
const maxWarningsShown = 20;

/** The job summary, as Markdown: outcome, image, accel, phases, JUnit results, console tail. Pure. */
export function renderJobSummary(s: SummaryInput): string {
  const { result } = s;
  const out: string[] = [];
  const verdict = {
    passed: "✅ passed",
    failed: `❌ failed (exit code ${result.exitCode})`,
    timeout: "⏱️ timed out (exit code 124)",
    error: `❌ could not complete (exit code ${result.exitCode})`,
    interrupted: "⏹️ interrupted",
  }[result.outcome];
  out.push(`${s.heading ?? "## kvmci"}: ${verdict}`, "");
  const image = result.image
    ? `${result.image.name} (${result.image.origin}${result.prepared ? `, prepared: ${result.prepared.reused ? "reused" : "made now"}` : ""})`
    : "—";
  const start = result.snapshot
    ? result.snapshot.use === "restored"
      ? "restored from a warm snapshot"
      : "cold boot (snapshot saved)"
    : "cold boot";
  out.push(
    "| image | accel | start | duration |",
    "| --- | --- | --- | --- |",
    `| ${plain(image)} | ${plain(result.accel ? `${result.accel.name} (${result.accel.reason})` : "—")} | ${start} | ${formatDuration(s.durationMs)} |`,
    "",
  );
  if (result.phases.length) {
    out.push(
      `| ${result.phases.map((p) => p.phase).join(" | ")} |`,
      `|${result.phases.map(() => " --- ").join("|")}|`,
      `| ${result.phases.map((p) => `${p.ok ? "" : "✗ "}${formatDuration(p.ms)}`).join(" | ")} |`,
      "",
    );
  }
  if (result.error) out.push(...errorBlock(result.error), "");
  const warnings = [
    ...result.warnings,
    ...(s.junit && "problem" in s.junit ? [`JUnit: ${s.junit.problem}`] : []),
  ];
  if (warnings.length > 0) {
    out.push(...warnings.slice(0, maxWarningsShown).map((w) => `> ⚠️ ${plain(w)}`), "");
  }
  if (s.junit && "problem" in s.junit) {
    // Said among the warnings above; no test results to show.
  } else if (s.junit) {
    const { report } = s.junit;
    const t = report.totals;
    out.push(
      `### Tests: ${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped`,
      "",
      "| suite | passed | failed | skipped |",
      "| --- | ---: | ---: | ---: |",
      ...report.suites.map(
        (suite) =>
          `| ${code(suite.name, "cell")} | ${suite.passed} | ${suite.failed} | ${suite.skipped} |`,
      ),
      "",
    );
    for (const failure of report.failures.slice(0, maxFailuresShown)) {
      const where = failure.file
        ? ` — ${code(`${failure.file}${failure.line ? `:${failure.line}` : ""}`)}`
        : "";
      out.push(
        `#### ❌ ${code(failure.suite)} › ${code(failure.test)}${where}`,
        "",
        fence(failure.details || failure.message, maxDetailChars),
        "",
      );
    }
    if (report.failures.length > maxFailuresShown)
      out.push(`…and ${report.failures.length - maxFailuresShown} more failures.`, "");
  }
  if (result.outcome !== "passed" && s.consoleTail.length) {
    out.push(
      "<details><summary>Last lines of the guest console</summary>",
      "",
      fence(s.consoleTail.join("\n"), maxDetailChars),
      "",
      "</details>",
      "",
    );
  }
  return redactUrlCredentials(out.join("\n"));
}

/** The top of a matrix run's summary: one row per guest. Pure. */
export function renderMatrixSummary(outcomes: GuestOutcome[], durationMs: number): string {
  const passed = outcomes.filter((o) => o.result?.outcome === "passed").length;
  const mark = passed === outcomes.length ? "✅" : "❌";
  const arches = new Set(outcomes.map((o) => o.config.arch)).size > 1;
  const lines = [
    `## kvmci: ${mark} ${passed} of ${outcomes.length} guests passed in ${formatDuration(durationMs)}`,
    "",
    "| guest | image | accel | result | exit code |",
    "| --- | --- | --- | --- | ---: |",
    ...outcomes.map(
      (o) =>
        `| ${plain(o.name)} | ${plain(o.result?.image?.name ?? o.config.image)}${arches ? ` (${o.config.arch})` : ""} | ${o.result?.accel?.name ?? "—"} | ${guestVerdict(o)} | ${o.result && !o.stoppedBy ? o.result.exitCode : "—"} |`,
    ),
    "",
  ];
  return redactUrlCredentials(lines.join("\n"));
}

function errorBlock(error: KvmciError): string[] {
  return [`**${plain(error.message)}**`, ...(error.hint ? ["", plain(error.hint)] : [])];
}
