import type { Emit, Phase, PhaseRecord } from "./events.js";

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

  /** Ends the open phase, if any. */
  end(ok: boolean): void {
    if (!this.open) return;
    const record = { phase: this.open.phase, ms: Math.round(this.now() - this.open.started), ok };
    this.open = undefined;
    this.records.push(record);
    this.emit({ type: "phase-end", ...record });
  }

  async time<T>(phase: Phase, work: () => Promise<T>): Promise<T> {
    this.start(phase);
    try {
      const result = await work();
      this.end(true);
      return result;
    } catch (error) {
      this.end(false);
      throw error;
    }
  }
}
