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
  "sync",
  "command",
  "artifacts",
  "teardown",
] as const;
export type Phase = (typeof phases)[number];

/** What the orchestrator reports; reporters decide how it looks. The core never prints. */
export type RunEvent =
  | { type: "phase-start"; phase: Phase }
  | { type: "phase-end"; phase: Phase; ms: number; ok: boolean }
  | { type: "progress"; phase: Phase; message: string }
  | { type: "transfer"; phase: Phase; what: string; progress: TransferProgress }
  | { type: "output"; stream: "stdout" | "stderr"; chunk: Buffer }
  | { type: "note"; message: string }
  /** `about: "host"`: the same for every guest of the run (shown once in a matrix). */
  | { type: "warning"; message: string; about?: "host" };

export type Emit = (event: RunEvent) => void;

export interface PhaseRecord {
  phase: Phase;
  ms: number;
  ok: boolean;
}
