import { describe, expect, it } from "vitest";
import { GuestLines } from "../../src/report/prefix.js";

function sink() {
  const writes: string[] = [];
  return { writes, target: { write: (t: string) => writes.push(t) } };
}

describe("GuestLines", () => {
  it("prefixes whole lines as they complete, however the chunks fall", () => {
    const { writes, target } = sink();
    const lines = new GuestLines(target, "debian-12", "prefixed");
    lines.write("one\ntw");
    lines.write(Buffer.from("o\nthr"));
    expect(writes).toEqual(["[debian-12] one\n", "[debian-12] two\n"]);
    lines.flush();
    expect(writes.at(-1)).toBe("[debian-12] thr\n");
  });

  it("holds a grouped guest's lines until it ends", () => {
    const { writes, target } = sink();
    const lines = new GuestLines(target, "a", "grouped");
    lines.write("1\n2\n");
    expect(writes).toEqual([]);
    lines.flush();
    expect(writes).toEqual(["[a] 1\n[a] 2\n"]);
  });
});
