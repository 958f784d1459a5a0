import { collectArtifacts, type CollectedArtifacts } from "../sync/artifacts.js";
import type { RemoteShell } from "../ssh/session.js";
import { formatSize } from "../units/size.js";
import type { Emit } from "./events.js";
import type { RunConfig } from "./run-config.js";

/** Without --timeout, the artifacts phase ends after this long whatever the guest does. */
export const artifactsTimeoutMs = 10 * 60_000;
/** After a command stopped by --timeout, artifacts (its logs, say) still get this long. */
export const artifactsGraceMs = 30_000;

/**
 * When copying artifacts back must end: what is left of --timeout (which counts from the
 * command's start), at least the grace period; without --timeout, the phase's own limit. Pure.
 */
export function artifactsDeadline(timeoutMs: number | undefined, commandStarted: number): number {
  const now = Date.now();
  if (timeoutMs === undefined) return now + artifactsTimeoutMs;
  return Math.max(commandStarted + timeoutMs, now + artifactsGraceMs);
}

/** The artifacts phase: what matches comes back as data (see sync/artifacts.ts), then is said. */
export async function bringBackArtifacts(
  guest: RemoteShell,
  config: RunConfig,
  o: {
    umask: number;
    commandStarted: number;
    signal: AbortSignal;
    emit: Emit;
    /** The guest's artifacts disk file (Guest.artifactsDiskPath); over SSH without. */
    disk?: string;
  },
): Promise<string[]> {
  const collected = await collectArtifacts(
    guest,
    {
      workdir: config.workdir,
      globs: config.artifacts,
      dir: config.artifactsDir,
      limits: config.artifactsLimits,
      umask: o.umask,
      deadline: artifactsDeadline(config.timeoutMs, o.commandStarted),
      disk: o.disk,
    },
    o.signal,
  );
  reportArtifacts(collected, config, o.emit);
  return collected.files;
}

/** One note for what came back, one warning for each way the guest's archive fell short. */
function reportArtifacts(collected: CollectedArtifacts, config: RunConfig, emit: Emit): void {
  const count = collected.files.length;
  emit({
    type: "note",
    message: count
      ? `${count} artifact file${count === 1 ? "" : "s"} (${formatSize(collected.bytes)}) copied to ${config.artifactsDir}`
      : `no files matched ${config.artifacts.join(", ")}`,
  });
  if (collected.overSsh)
    emit({ type: "note", message: `the artifacts came over SSH: ${collected.overSsh}` });
  if (collected.refused.length > 0) {
    const shown = collected.refused.slice(0, 10).map((r) => `${quoteName(r.path)}: ${r.why}`);
    const more = collected.refused.length - shown.length;
    emit({
      type: "warning",
      message: `${collected.refused.length} entr${collected.refused.length === 1 ? "y" : "ies"} from the guest's artifacts were not copied: ${shown.join("; ")}${more ? `; and ${more} more` : ""}`,
    });
  }
  if (collected.incomplete) {
    emit({
      type: "warning",
      message: `copying artifacts stopped early: ${collected.incomplete}; ${count} file${count === 1 ? "" : "s"} copied, the rest was not (limits: --artifacts-max-size ${formatSize(config.artifactsLimits.maxBytes)}, --artifacts-max-files ${config.artifactsLimits.maxEntries}, and --timeout)`,
    });
  }
  if (collected.packProblem) {
    emit({
      type: "warning",
      message: `packing the artifacts in the guest reported a problem (${collected.packProblem}); what it packed was copied`,
    });
  }
}

/** A name from the guest, quoted so that control characters cannot act on a terminal. */
function quoteName(name: string): string {
  return JSON.stringify(name);
}
