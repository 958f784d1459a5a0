import type { ChildProcess } from "node:child_process";
import { subscribe, unsubscribe } from "node:diagnostics_channel";

export interface HostCommandWatch {
  /** A process this one started, as its argv. */
  started(argv: readonly string[]): void;
  /** How it ended: an exit code, or the signal that ended it. */
  ended(argv: readonly string[], code: number | null, signal: NodeJS.Signals | null): void;
}

/**
 * Tells of every process kvmci starts (QEMU, qemu-img, tar, git, sudo…) until disposed, for
 * `--verbose`. Read from Node's own `child_process` diagnostics channel, which sees each one
 * whatever started it, so no layer below has to report its own.
 */
export function watchHostCommands(watch: HostCommandWatch): Disposable {
  const listener = (message: unknown) => {
    const child = (message as { process?: ChildProcess }).process;
    if (!child) return;
    // The argv is known once the process has been spawned; one that could not be is an error.
    child.once("spawn", () => {
      const argv = child.spawnargs;
      watch.started(argv);
      child.once("exit", (code, signal) => watch.ended(argv, code, signal));
    });
  };
  subscribe("child_process", listener);
  return { [Symbol.dispose]: () => void unsubscribe("child_process", listener) };
}
