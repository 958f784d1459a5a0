import type { TransferProgress } from "../image/download.js";

export const phases = [
  "image",
  "queue",
  "prepare",
  "overlay",
  "seed",
  "boot",
  "ready",
  "restore",
  "snapshot",
  "network",
  "sync",
  "services",
  "command",
  "artifacts",
  "teardown",
] as const;
export type Phase = (typeof phases)[number];

/** What the orchestrator reports; reporters decide how it looks. The core never prints. */
export type RunEvent =
  | { type: "phase-start"; phase: Phase }
  | {
      type: "phase-end";
      phase: Phase;
      ms: number;
      /** The phase did its work: for `command`, the command ran, whatever its exit code. */
      ok: boolean;
      /** On the `command` phase's end: how the command itself ended. */
      command?: CommandEnd;
    }
  | { type: "progress"; phase: Phase; message: string }
  | { type: "transfer"; phase: Phase; what: string; progress: TransferProgress }
  | { type: "output"; stream: "stdout" | "stderr"; chunk: Buffer }
  | { type: "note"; message: string }
  /** `about: "host"`: the same for every guest of the run (shown once in a matrix). */
  | { type: "warning"; message: string; about?: "host" };

/**
 * How a command that ran ended: its exit code (kvmci's 124 after --timeout or --idle-timeout)
 * and what that makes the run. The same words as the run's outcome.
 */
export interface CommandEnd {
  exitCode: number;
  outcome: "passed" | "failed" | "timeout" | "error" | "interrupted";
}

export type Emit = (event: RunEvent) => void;

export interface PhaseRecord {
  phase: Phase;
  ms: number;
  ok: boolean;
}
