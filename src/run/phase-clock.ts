import type { CommandEnd, Emit, Phase, PhaseRecord } from "./events.js";

/** Times phases, emits their start and end, and keeps the record for the report. */
export class PhaseClock {
  readonly records: PhaseRecord[] = [];
  private open: { phase: Phase; started: number } | undefined;

  constructor(
    private readonly emit: Emit,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(phase: Phase): void {
    if (this.open) this.end(true);
    this.open = { phase, started: this.now() };
    this.emit({ type: "phase-start", phase });
  }

  /** Ends the open phase, if any; `command`: how the command that ran in it ended. */
  end(ok: boolean, command?: CommandEnd): void {
    if (!this.open) return;
    const record = { phase: this.open.phase, ms: Math.round(this.now() - this.open.started), ok };
    this.open = undefined;
    this.records.push(record);
    this.emit({ type: "phase-end", ...record, ...(command ? { command } : {}) });
  }

  /**
   * The command phase: it went well when the command ran to an end, whatever its exit code (the
   * run's outcome says that); its end event also says how the command ended, for reporters.
   */
  time(phase: "command", work: () => Promise<CommandEnd>): Promise<CommandEnd>;
  time<T>(phase: Exclude<Phase, "command">, work: () => Promise<T>): Promise<T>;
  async time<T>(phase: Phase, work: () => Promise<T>): Promise<T> {
    this.start(phase);
    try {
      const result = await work();
      // The overloads above make the command phase's work return a CommandEnd.
      this.end(true, phase === "command" ? (result as CommandEnd) : undefined);
      return result;
    } catch (error) {
      this.end(false);
      throw error;
    }
  }
}
