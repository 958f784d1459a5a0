import { describe, expect, it } from "vitest";
import { mayStart, parseShard, selectShard } from "../../src/run/schedule.js";

const G = 1024 ** 3;

describe("selectShard", () => {
  const parts = (entries: string[], total: number) =>
    Array.from({ length: total }, (_, i) =>
      selectShard(entries, i + 1, total).map((p) => `${p.entry} ${p.part.index}/${p.part.total}`),
    );

  it("deals entries round-robin when there are at least as many as shards", () => {
    expect(parts(["a", "b", "c", "d", "e"], 2)).toEqual([
      ["a 1/1", "c 1/1", "e 1/1"],
      ["b 1/1", "d 1/1"],
    ]);
    expect(parts(["a", "b"], 2)).toEqual([["a 1/1"], ["b 1/1"]]);
  });

  it("splits an entry's suite over several shards when there are fewer entries", () => {
    expect(parts(["a"], 4)).toEqual([["a 1/4"], ["a 2/4"], ["a 3/4"], ["a 4/4"]]);
    expect(parts(["a", "b"], 4)).toEqual([["a 1/2"], ["b 1/2"], ["a 2/2"], ["b 2/2"]]);
    expect(parts(["a", "b"], 3)).toEqual([["a 1/2"], ["b 1/1"], ["a 2/2"]]);
  });

  it("covers every entry's whole suite exactly once across the shards", () => {
    for (const m of [1, 2, 3, 5])
      for (let n = 1; n <= 7; n++) {
        const all = Array.from({ length: n }, (_, i) =>
          selectShard([...Array(m).keys()], i + 1, n),
        ).flat();
        for (let e = 0; e < m; e++) {
          const mine = all.filter((p) => p.entry === e);
          expect(mine.length, `${m} entries, ${n} shards`).toBeGreaterThan(0);
          expect(mine.map((p) => p.part.index).sort()).toEqual(mine.map((_, i) => i + 1));
          expect(new Set(mine.map((p) => p.part.total))).toEqual(new Set([mine.length]));
        }
      }
  });
});

describe("parseShard", () => {
  it("reads I/N and refuses the rest", () => {
    expect(parseShard("2/4")).toEqual({ index: 2, total: 4 });
    for (const bad of ["0/4", "5/4", "1", "a/b", "1/0", "-1/2"])
      expect(parseShard(bad)).toHaveProperty("problem");
  });
});

describe("mayStart", () => {
  const limits = { maxGuests: 2, memoryBytes: 5 * G };
  it("starts one guest whatever it needs, then within the count and the memory", () => {
    expect(mayStart({ memoryBytes: 64 * G }, [], limits)).toBe(true);
    expect(mayStart({ memoryBytes: 2 * G }, [{ memoryBytes: 2 * G }], limits)).toBe(true);
    expect(mayStart({ memoryBytes: 4 * G }, [{ memoryBytes: 2 * G }], limits)).toBe(false);
    expect(mayStart({ memoryBytes: 1 }, [{ memoryBytes: 1 }, { memoryBytes: 1 }], limits)).toBe(
      false,
    );
  });
});
