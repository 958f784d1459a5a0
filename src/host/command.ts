import { execa, type ResultPromise } from "execa";
import { KvmciError, type ExitCodeName } from "../errors.js";
import { tailLines } from "../units/text.js";

export interface CommandOptions {
  cwd?: string;
  /** Extra environment variables, on top of kvmci's own. */
  env?: Record<string, string>;
  signal?: AbortSignal;
  /** How a cancelled command is ended (SIGTERM, then SIGKILL 5 s later, unless set). */
  killSignal?: NodeJS.Signals;
  /** Called with each line of stdout and stderr as it arrives. */
  onLine?: (line: string) => void;
  /** Which kvmci exit code a failure maps to. */
  failureCode?: ExitCodeName;
  hint?: string;
  input?: string | Buffer;
}

/**
 * Runs a host tool given as data (`[file, ...args]`). A failure becomes a KvmciError that shows
 * the command, its exit code and the tail of its output.
 */
export async function runCommand(
  argv: readonly string[],
  options: CommandOptions = {},
): Promise<string> {
  const [file, ...args] = argv;
  if (!file) throw new Error("runCommand needs a command");
  const child: ResultPromise = execa(file, args, {
    cwd: options.cwd,
    env: options.env,
    cancelSignal: options.signal,
    killSignal: options.killSignal,
    all: true,
    reject: false,
    stdin: options.input === undefined ? "ignore" : "pipe",
    input: options.input,
    ...(options.onLine ? { lines: false } : {}),
  });
  if (options.onLine) {
    const onLine = options.onLine;
    let pending = "";
    child.all?.on("data", (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    });
  }
  const result = await child;
  if (result.isCanceled) {
    throw new KvmciError(options.failureCode ?? "internal", `${file} was cancelled`, {
      cause: result,
    });
  }
  if (result.failed) {
    const output = typeof result.all === "string" ? result.all : "";
    const why =
      result.exitCode !== undefined
        ? `exited with code ${result.exitCode}`
        : (result.shortMessage ?? "failed");
    throw new KvmciError(options.failureCode ?? "internal", `${formatCommand(argv)} ${why}`, {
      hint: options.hint,
      details: tailLines(output, 20),
      cause: result,
    });
  }
  return typeof result.stdout === "string" ? result.stdout : "";
}

/** A command line as a person would type it, for messages. */
export function formatCommand(argv: readonly string[]): string {
  return argv
    .map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`))
    .join(" ");
}
