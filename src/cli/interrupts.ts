import { ExitCode } from "../errors.js";

export type SignalName = "SIGINT" | "SIGTERM";

export interface InterruptOptions {
  /** Ends the process at once. */
  exit: (code: number) => void;
  warn: (message: string) => void;
  /**
   * How long teardown may take after the first signal before kvmci exits regardless. Generous,
   * because an interrupted image build waits for mmdebstrap to unmount and clean up (~40 s).
   */
  deadlineMs?: number;
  setTimer?: (fn: () => void, ms: number) => { unref(): unknown };
}

/**
 * Ctrl-C and SIGTERM: the first aborts whatever runs, so teardown still happens and kvmci exits
 * 130/143 by itself. Should anything ignore the abort (a library stuck on a dead connection), a
 * second signal, or the deadline, ends the process anyway: QEMU dies with it (parent-death
 * signal) and the next run removes the run folder left behind.
 */
export class Interrupts {
  readonly controller = new AbortController();

  constructor(private readonly options: InterruptOptions) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  readonly onSignal = (name: SignalName): void => {
    const code = name === "SIGTERM" ? ExitCode.sigterm : ExitCode.sigint;
    if (this.controller.signal.aborted) {
      this.forceExit(code, `a second ${name}`);
      return;
    }
    this.controller.abort(name);
    const deadlineMs = this.options.deadlineMs ?? 60_000;
    const setTimer = this.options.setTimer ?? setTimeout;
    setTimer(() => this.forceExit(code, `${deadlineMs / 1000} s`), deadlineMs).unref();
  };

  private forceExit(code: number, after: string): void {
    this.options.warn(`kvmci: teardown did not finish (${after}); exiting now\n`);
    this.options.exit(code);
  }
}

/** What failOnStall needs of Node's `process`. */
export interface StallSource {
  on(event: "beforeExit", listener: () => void): unknown;
  off(event: "beforeExit", listener: () => void): unknown;
}

/**
 * Work that waits for something that can no longer happen (a promise nothing will settle: a
 * bug) leaves Node's event loop empty, and Node then ends the process with code 0, since
 * execa's exit hook sets it: a run cut short would pass in silence. Until disposed, that moment
 * calls `report`, which says so and ends the process with an error code instead.
 */
export function failOnStall(proc: StallSource, report: () => void): Disposable {
  proc.on("beforeExit", report);
  return { [Symbol.dispose]: () => void proc.off("beforeExit", report) };
}

/** The words of a stall, for the CLI's stderr and the Action's log. */
export const stalledMessage =
  "kvmci: internal error (a bug in kvmci, not something you did: please report it with this output): it stopped while waiting for work that could no longer finish, so it could not tear down; `kvmci gc` removes what was left";
