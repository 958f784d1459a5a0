import { createInterface } from "node:readline/promises";
import { toolInstaller, type EnsureTools } from "../host/packages.js";
import type { Process } from "./process.js";

/**
 * The installer the CLI gives the run: on a terminal it asks before installing anything;
 * `--no-install` (or KVMCI_NO_INSTALL=1) turns it off. What it installs lands in the system's
 * folders, which kvmci then adds to PATH (its children, QEMU among them, must find it).
 */
export function cliToolInstaller(
  proc: Process,
  o: { install: boolean; signal: AbortSignal; log: (line: string) => void },
): EnsureTools {
  const terminal = Boolean(proc.stdin?.isTTY && proc.stderr.isTTY);
  return toolInstaller({
    mode: o.install && !/^(1|true|yes)$/i.test(proc.env.KVMCI_NO_INSTALL ?? "") ? "auto" : "never",
    isRoot: proc.getuid?.() === 0,
    signal: o.signal,
    log: o.log,
    path: proc.env.PATH,
    extendPath: (dirs) => {
      proc.env.PATH = proc.env.PATH ? `${proc.env.PATH}:${dirs}` : dirs;
    },
    ask: terminal
      ? async (question) => {
          const rl = createInterface({ input: proc.stdin!, output: proc.stderr });
          try {
            return /^y(es)?$/i.test((await rl.question(question)).trim());
          } finally {
            rl.close();
          }
        }
      : undefined,
  });
}
