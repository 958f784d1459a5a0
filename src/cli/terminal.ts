import type { Terminal } from "../guest/shell.js";
import type { Process } from "./process.js";

/**
 * The person's terminal, when kvmci's input and output both are one: for a shell in the guest
 * (--shell-on-failure, kvmci ssh). Undefined in CI, where there is nobody to type.
 */
export function terminalOf(proc: Process): Terminal | undefined {
  const input = proc.stdin;
  const output = proc.stdout;
  if (!input?.isTTY || !output.isTTY) return undefined;
  let queue: Promise<unknown> = Promise.resolve();
  return {
    input,
    output,
    term: proc.env.TERM || "xterm-256color",
    size: () => ({ columns: output.columns ?? 80, rows: output.rows ?? 24 }),
    onResize: (listener) => {
      output.on("resize", listener);
      return () => output.off("resize", listener);
    },
    exclusive: <T>(use: () => Promise<T>): Promise<T> => {
      const turn = queue.then(use, use);
      queue = turn.catch(() => undefined);
      return turn;
    },
  };
}
