import type { RemoteShell } from "../ssh/session.js";

/** The person's terminal, for an interactive shell in the guest. */
export interface Terminal {
  input: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  output: NodeJS.WritableStream;
  /** TERM for the guest's side. */
  term: string;
  size(): { columns: number; rows: number };
  /** Calls `listener` when the terminal is resized; returns how to stop. */
  onResize(listener: () => void): () => void;
  /** One shell at a time on it (several guests may fail at once). */
  exclusive<T>(use: () => Promise<T>): Promise<T>;
}

/**
 * Runs `command` (an interactive shell) in the guest on the person's terminal: a pseudo-terminal
 * of the same size, following it when it is resized, the terminal in raw mode so that Ctrl-C,
 * Ctrl-D and Ctrl-Z go to the guest. Resolves with the exit code when it ends; the terminal is
 * given back as it was.
 */
export async function openShell(
  guest: RemoteShell,
  terminal: Terminal,
  command: string,
): Promise<number> {
  const { input, output } = terminal;
  input.setRawMode?.(true);
  input.resume();
  try {
    const size = terminal.size();
    const result = await guest.exec(command, {
      pty: { term: terminal.term, rows: size.rows, cols: size.columns },
      window: (resize) =>
        terminal.onResize(() => {
          const now = terminal.size();
          resize({ rows: now.rows, cols: now.columns });
        }),
      stdin: input,
      onStdout: (chunk) => output.write(chunk),
      onStderr: (chunk) => output.write(chunk),
    });
    return result.code;
  } finally {
    input.setRawMode?.(false);
    input.pause();
  }
}
