/**
 * One guest's share of a shared terminal in a matrix run: every complete line goes out with
 * `[name] ` in front as it arrives (`prefixed`), or is held until the guest ends (`grouped`,
 * so each guest's output reads in one piece). Looks like a stream to TerminalReporter.
 */
export class GuestLines {
  readonly isTTY = false;
  private pending = "";
  private held: string[] = [];

  constructor(
    private readonly target: { write(text: string): unknown },
    private readonly name: string,
    private readonly mode: "prefixed" | "grouped",
  ) {}

  write(chunk: string | Buffer): boolean {
    this.pending += chunk.toString();
    for (let end = this.pending.indexOf("\n"); end !== -1; end = this.pending.indexOf("\n")) {
      this.emit(this.pending.slice(0, end + 1));
      this.pending = this.pending.slice(end + 1);
    }
    return true;
  }

  /** Ends a last line without a newline, and lets a grouped guest's lines out. */
  flush(): void {
    if (this.pending) this.emit(`${this.pending}\n`);
    this.pending = "";
    if (this.held.length) this.target.write(this.held.join(""));
    this.held = [];
  }

  private emit(line: string): void {
    const text = `[${this.name}] ${line}`;
    if (this.mode === "grouped") this.held.push(text);
    else this.target.write(text);
  }
}
