import { formatDuration } from "../units/duration.js";
import { formatCommand } from "../host/command.js";
import type { KvmciError } from "../errors.js";
import type { RunEvent } from "../run/events.js";
import type { RunResult } from "../run/run.js";
import { phaseEndMark } from "./phase-end.js";
import { redactUrlCredentials } from "./redact.js";
import { formatTransfer } from "./transfer.js";

/** Where a reporter writes: a process's streams, or one guest's share of them in a matrix. */
export interface TextSink {
  write(chunk: string | Buffer): unknown;
  isTTY?: boolean;
}

export interface TerminalStreams {
  stdout: TextSink;
  stderr: TextSink;
}

/**
 * How much kvmci says of its own (`--quiet`, `--verbose`); the command's output, warnings,
 * errors and the last line are always shown.
 * - `quiet`: only those.
 * - `normal`: also each phase's result, notes, and on a terminal a live status line.
 * - `verbose`: also each host command kvmci starts (and how one that failed ended), and each
 *   step of a long phase as a line of its own, in a log too.
 */
export type Verbosity = "quiet" | "normal" | "verbose";

const prefix = "kvmci";
const plainProgressEveryMs = 5_000;

/**
 * Renders run events for a person: phase lines on stderr, the guest's output untouched on
 * stdout/stderr. On a terminal, long phases show a live status line (step and elapsed time);
 * elsewhere that line is left out so logs stay clean.
 */
export class TerminalReporter {
  private status: { phase: string; message: string; since: number } | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly tty: boolean;
  /** When a plain (non-terminal) progress line was last printed for a transfer. */
  private lastTransferLine = 0;

  constructor(
    private readonly streams: TerminalStreams,
    private readonly verbosity: Verbosity = "normal",
  ) {
    this.tty = Boolean(streams.stderr.isTTY);
  }

  /** A reporter on the same streams that says more or less. */
  withVerbosity(verbosity: Verbosity): TerminalReporter {
    return verbosity === this.verbosity ? this : new TerminalReporter(this.streams, verbosity);
  }

  /** `--verbose`: a host command kvmci started (QEMU, qemu-img, tar, git, apt-get…). */
  hostCommand(argv: readonly string[]): void {
    if (this.verbosity === "verbose") this.line(`${prefix} $ ${formatCommand(argv)}`);
  }

  /** `--verbose`: how a host command ended, when it did not end well. */
  hostCommandEnd(argv: readonly string[], code: number | null, signal: string | null): void {
    if (this.verbosity !== "verbose" || code === 0) return;
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    this.line(`${prefix} $ ${argv[0] ?? "?"} ${how}`);
  }

  readonly onEvent = (event: RunEvent): void => {
    // Quiet: the command's output and warnings, nothing of the phases.
    if (this.verbosity === "quiet" && event.type !== "output" && event.type !== "warning") return;
    switch (event.type) {
      case "phase-start":
        this.clearStatus();
        this.status = { phase: event.phase, message: "", since: Date.now() };
        if (event.phase === "command") this.line(`${prefix} › command output follows`);
        else if (this.tty) this.startTicker();
        break;
      case "phase-end": {
        this.clearStatus();
        this.stopTicker();
        // The phase's live line is done; printing its result must not draw it again.
        this.status = undefined;
        const { mark, outcome } = phaseEndMark(event);
        this.line(
          `${prefix} ${mark} ${event.phase.padEnd(9)} ${formatDuration(event.ms)}${outcome ? `, ${outcome}` : ""}`,
        );
        break;
      }
      case "progress":
        if (this.status) this.status.message = event.message;
        if (this.verbosity === "verbose") this.line(`${prefix} › ${event.phase}: ${event.message}`);
        else this.renderStatus();
        break;
      case "transfer": {
        const text = `downloading ${event.what}: ${formatTransfer(event.progress, Date.now())}`;
        if (this.tty) {
          if (this.status) this.status.message = text;
          this.renderStatus();
        } else if (Date.now() - this.lastTransferLine >= plainProgressEveryMs) {
          // In CI logs a line every few seconds, not a redrawn bar.
          this.lastTransferLine = Date.now();
          this.line(`${prefix} › ${text}`);
        }
        break;
      }
      case "output":
        this.clearStatus();
        (event.stream === "stdout" ? this.streams.stdout : this.streams.stderr).write(event.chunk);
        break;
      case "note":
        this.line(`${prefix} › ${event.message}`);
        break;
      case "warning":
        this.line(`${prefix} ! ${event.message}`);
        break;
    }
  };

  /** The run's last line; `passedAs` names success for a run without a command (`ready`). */
  summary(result: RunResult, passedAs = "passed"): void {
    this.stopTicker();
    this.clearStatus();
    const parts = result.phases.map((p) => `${p.phase} ${formatDuration(p.ms)}`);
    const total = result.phases.reduce((sum, p) => sum + p.ms, 0);
    const what = {
      passed: passedAs,
      failed: `failed with exit code ${result.exitCode}`,
      timeout: "timed out",
      error: "could not complete",
      interrupted: "interrupted",
    }[result.outcome];
    this.line(
      `${prefix} ${result.outcome === "passed" ? "✓" : "✗"} ${what} in ${formatDuration(total)}${result.accel ? ` (${result.accel.name})` : ""}${parts.length ? `: ${parts.join(", ")}` : ""}`,
    );
    if (result.error) this.error(result.error);
  }

  error(error: KvmciError): void {
    this.line(`${prefix}: error: ${error.message}`);
    for (const detail of error.details) this.line(`  ${detail}`);
    // A bug: what went wrong underneath is what whoever fixes it needs.
    if (error.code === "internal" && error.cause !== undefined)
      this.line(
        `  cause: ${error.cause instanceof Error ? (error.cause.stack ?? error.cause.message) : JSON.stringify(error.cause)}`,
      );
    if (error.hint) this.line(`${prefix}: hint: ${error.hint}`);
  }

  private line(text: string): void {
    this.clearStatus();
    this.streams.stderr.write(`${redactUrlCredentials(text)}\n`);
    this.renderStatus();
  }

  private startTicker(): void {
    this.stopTicker();
    this.ticker = setInterval(() => this.renderStatus(), 1000);
    this.ticker.unref();
  }

  private stopTicker(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
  }

  private renderStatus(): void {
    if (!this.tty || !this.status || this.status.phase === "command") return;
    const elapsed = formatDuration(Date.now() - this.status.since);
    this.streams.stderr.write(
      redactUrlCredentials(
        `\r\x1b[K${prefix} … ${this.status.phase} ${elapsed}${this.status.message ? `: ${this.status.message}` : ""}`,
      ),
    );
  }

  private clearStatus(): void {
    if (this.tty && this.status && this.status.phase !== "command")
      this.streams.stderr.write("\r\x1b[K");
  }
}
