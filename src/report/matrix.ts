import { formatDuration } from "../units/duration.js";
import type { GuestOutcome } from "../run/matrix.js";
import { phases } from "../run/events.js";
import { formatTable } from "./table.js";

/**
 * One line per guest: image (and architecture, when the guests have more than one), accel,
 * result, exit code and each phase's duration. Pure.
 */
export function formatMatrixTable(outcomes: GuestOutcome[]): string {
  const used = phases.filter((phase) =>
    outcomes.some((o) => o.result?.phases.some((p) => p.phase === phase)),
  );
  const arches = new Set(outcomes.map((o) => o.config.arch)).size > 1;
  const rows = outcomes.map((o) => {
    const r = o.result;
    const phaseCells = used.map((phase) => {
      const record = r?.phases.find((p) => p.phase === phase);
      return record ? `${record.ok ? "" : "✗"}${formatDuration(record.ms)}` : "-";
    });
    return [
      o.name,
      r?.image?.name ?? o.config.image,
      ...(arches ? [o.config.arch] : []),
      r?.accel?.name ?? "-",
      guestVerdict(o),
      r && o.stoppedBy === undefined ? String(r.exitCode) : "-",
      ...phaseCells,
    ];
  });
  return formatTable([
    // Phase columns keep their lower-case names: "image" the phase is not "IMAGE" the name.
    ["GUEST", "IMAGE", ...(arches ? ["ARCH"] : []), "ACCEL", "RESULT", "EXIT", ...used],
    ...rows,
  ]);
}

export function guestVerdict(o: GuestOutcome): string {
  if (o.stoppedBy === "fail-fast") return o.result ? "stopped (fail-fast)" : "not run (fail-fast)";
  if (o.stoppedBy === "another guest") return "stopped (another guest failed)";
  if (!o.result) return "not run";
  if (o.serves && o.result.outcome === "passed") return "served";
  return {
    passed: "passed",
    failed: "failed",
    timeout: "timed out",
    error: "error",
    interrupted: "interrupted",
  }[o.result.outcome];
}
