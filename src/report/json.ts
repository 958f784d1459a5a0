import { writeFile } from "node:fs/promises";
import type { RunConfig } from "../config/load.js";
import { describeCommand } from "../guest/command-line.js";
import type { RunResult } from "../run/run.js";

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
      cpus: config.cpus,
      memoryBytes: config.memoryBytes,
      diskBytes: config.diskBytes,
      workdir: config.workdir,
    },
    env: Object.keys(config.env),
    phases: result.phases,
    artifacts: result.artifacts,
    cloudInitErrors: result.cloudInitErrors,
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

export async function writeJsonReport(
  path: string,
  report: ReturnType<typeof buildJsonReport>,
): Promise<void> {
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}
