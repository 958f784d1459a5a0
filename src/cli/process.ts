/** What the CLI uses of Node's `process`, passed in by bin/kvmci.js (and by tests). */
export interface Process {
  env: NodeJS.ProcessEnv;
  /** Ends the process at once; used only when teardown after a signal does not finish. */
  exit(code: number): never;
  cwd(): string;
  /** Read only to ask a question on a terminal (installing host packages). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: NodeJS.WritableStream & {
    isTTY?: boolean;
    columns?: number;
    rows?: number;
    on(event: "resize", listener: () => void): unknown;
    off(event: "resize", listener: () => void): unknown;
  };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  getuid?: () => number;
  /** Node's name for the host's CPU architecture (`x64`, `arm64`). */
  arch?: string;
  on(event: "SIGINT" | "SIGTERM" | "beforeExit", listener: () => void): unknown;
  off(event: "SIGINT" | "SIGTERM" | "beforeExit", listener: () => void): unknown;
}
