import { shellJoin, shellQuote } from "../ssh/shell-quote.js";

/** What to run in the guest: an argv (after `--`) or a shell script (`run:` in kvmci.yml). */
export type GuestCommand = { argv: string[] } | { script: string };

export interface CommandContext {
  workdir: string;
  env: Record<string, string>;
}

/**
 * The remote command line for the user's command: change to the workdir, export the
 * environment, then replace the shell with the command so signals and exit codes pass straight
 * through. Pure.
 */
export function buildGuestCommandLine(command: GuestCommand, context: CommandContext): string {
  const exports = Object.entries(context.env).map(
    ([key, value]) => `export ${key}=${shellQuote(value)}`,
  );
  const run =
    "argv" in command
      ? `exec ${shellJoin(command.argv)}`
      : `exec bash -c ${shellQuote(command.script)}`;
  return [`cd ${shellQuote(context.workdir)}`, ...exports, run].join(" && ");
}

export function describeCommand(command: GuestCommand): string {
  return "argv" in command ? shellJoin(command.argv) : command.script;
}
