import type { RunEvent } from "../run/events.js";

type PhaseEnd = Extract<RunEvent, { type: "phase-end" }>;

/**
 * How a phase's end is shown: `✗` when the phase failed, and for the command phase also when
 * the command did not pass (the phase itself went well: the command ran); then what happened
 * to the command, as in `exit code 3` or `timed out`. Pure.
 */
export function phaseEndMark(event: PhaseEnd): { mark: "✓" | "✗"; outcome: string } {
  const end = event.command;
  const passed = event.ok && (end === undefined || end.outcome === "passed");
  const outcome =
    end === undefined
      ? ""
      : {
          passed: "",
          failed: `exit code ${end.exitCode}`,
          timeout: "timed out",
          error: "could not complete",
          interrupted: "interrupted",
        }[end.outcome];
  return { mark: passed ? "✓" : "✗", outcome };
}
