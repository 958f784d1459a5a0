import { writeFile } from "node:fs/promises";
import type { RunConfig } from "../run/run-config.js";
import { describeCommand } from "../guest/command-line.js";
import type { GuestOutcome } from "../run/matrix.js";
import type { RunResult } from "../run/run.js";
import { redactUrlCredentials } from "./redact.js";
import { junitSummary, type JunitRead } from "./junit-file.js";
import { guestVerdict } from "./matrix.js";

/** The machine-readable report (`--json FILE`). Values of --env never appear in it. Pure. */
export function buildJsonReport(config: RunConfig, result: RunResult, startedAt: Date) {
  return {
    version: 1,
    startedAt: startedAt.toISOString(),
    outcome: result.outcome,
    exitCode: result.exitCode,
    command: describeCommand(config.command),
    image: result.image ?? { name: config.image },
    accel: result.accel,
    boot: result.boot,
    guest: {
      arch: config.arch,
      cpus: config.cpus,
      memoryBytes: config.memoryBytes,
      diskBytes: config.diskBytes,
      workdir: config.workdir,
    },
    env: Object.keys(config.env),
    phases: result.phases,
    artifacts: result.artifacts,
    cloudInitErrors: result.cloudInitErrors,
    warnings: result.warnings,
    prepared: result.prepared,
    snapshot: result.snapshot,
    error: result.error
      ? {
          code: result.error.code,
          message: result.error.message,
          hint: result.error.hint,
          details: result.error.details,
        }
      : undefined,
  };
}

/** The report of a matrix run: the overall outcome, and each guest's own report. Pure. */
export function buildMatrixReport(
  outcomes: GuestOutcome[],
  startedAt: Date,
  junit: Map<string, JunitRead | undefined> = new Map(),
) {
  const passed = outcomes.every((o) => o.result?.outcome === "passed");
  return {
    version: 1,
    startedAt: startedAt.toISOString(),
    outcome: passed ? "passed" : "failed",
    guests: outcomes.map((o) => ({
      name: o.name,
      verdict: guestVerdict(o),
      ...(o.result
        ? {
            ...buildJsonReport(o.config, o.result, startedAt),
            junit: junitSummary(junit.get(o.name)),
          }
        : { image: { name: o.config.image } }),
    })),
  };
}

export async function writeJsonReport(path: string, report: object): Promise<void> {
  await writeFile(path, `${redactUrlCredentials(JSON.stringify(report, null, 2))}\n`);
}
