import { ExitCode } from "../errors.js";
import { buildGuestCommandLine } from "../guest/command-line.js";
import type { RemoteShell } from "../ssh/session.js";
import { formatDuration } from "../units/duration.js";
import type { Emit } from "./events.js";
import type { RunConfig } from "./run-config.js";

export type CommandOutcome = "passed" | "failed" | "timeout";

/**
 * The user's command in the guest, its output live as events, within --timeout and
 * --idle-timeout (each stops it with exit 124 and a warning saying which). In a pseudo-terminal
 * when `config.tty`, of `size`.
 */
export async function runCommand(
  guest: RemoteShell,
  config: RunConfig,
  o: { signal: AbortSignal; emit: Emit; size?: { columns: number; rows: number } },
): Promise<{ exitCode: number; outcome: CommandOutcome }> {
  const { signal, emit } = o;
  const timeout =
    config.timeoutMs === undefined ? undefined : AbortSignal.timeout(config.timeoutMs);
  // --idle-timeout: a command that prints nothing for that long is taken to hang.
  const idle = new AbortController();
  let idleTimer: NodeJS.Timeout | undefined;
  const heard = () => {
    if (config.idleTimeoutMs === undefined) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => idle.abort(), config.idleTimeoutMs);
  };
  heard();
  const combined = AbortSignal.any([signal, idle.signal, ...(timeout ? [timeout] : [])]);
  const commandLine = buildGuestCommandLine(config.command, {
    workdir: config.workdir,
    env: { ...config.baseEnv, ...config.env },
  });
  const size = o.size ?? { columns: 80, rows: 24 };
  let exit;
  try {
    exit = await guest.exec(commandLine, {
      pty: config.tty
        ? { term: config.baseEnv.TERM ?? "xterm", rows: size.rows, cols: size.columns }
        : undefined,
      onStdout: (chunk) => {
        heard();
        emit({ type: "output", stream: "stdout", chunk });
      },
      onStderr: (chunk) => {
        heard();
        emit({ type: "output", stream: "stderr", chunk });
      },
      signal: combined,
    });
  } finally {
    clearTimeout(idleTimer);
  }
  signal.throwIfAborted();
  if (timeout?.aborted) {
    emit({
      type: "warning",
      message: `the command was stopped after --timeout ${formatDuration(config.timeoutMs ?? 0)}`,
    });
    return { exitCode: ExitCode.timeout, outcome: "timeout" };
  }
  if (idle.signal.aborted) {
    emit({
      type: "warning",
      message: `the command printed nothing for --idle-timeout ${formatDuration(config.idleTimeoutMs ?? 0)} and was stopped`,
    });
    return { exitCode: ExitCode.timeout, outcome: "timeout" };
  }
  return { exitCode: exit.code, outcome: exit.code === 0 ? "passed" : "failed" };
}
