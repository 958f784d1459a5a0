import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { helpWidth } from "../../src/cli/help.js";
import { main } from "../../src/cli/main.js";
import { runOptions } from "../../src/cli/options.js";
import type { Process } from "../../src/cli/process.js";

/** What `kvmci <argv>` prints on a terminal `columns` wide (or, without, not a terminal). */
async function helpText(argv: string[], columns?: number): Promise<{ code: number; text: string }> {
  let text = "";
  const stdout = Object.assign(new PassThrough(), { isTTY: columns !== undefined, columns });
  stdout.on("data", (c: Buffer) => (text += c.toString()));
  const proc: Process = {
    env: { PATH: process.env.PATH },
    exit: () => {
      throw new Error("exit called");
    },
    cwd: () => "/nonexistent",
    stdout,
    stderr: new PassThrough(),
    on: () => undefined,
    off: () => undefined,
  };
  const code = await main(argv, proc);
  return { code, text };
}

const helps = [
  ["--help"],
  ["run", "--help"],
  ["prepare", "--help"],
  ["image", "--help"],
  ["image", "build", "--help"],
  ["gc", "--help"],
  ["doctor", "--help"],
  ["help", "run"],
];
const width = (line: string) => [...line].length;

describe("--help", () => {
  it.each(helps)("kvmci %s %s: no line is wider than the terminal", async (...argv) => {
    for (const columns of [40, 60, 80, 100, 132]) {
      const { code, text } = await helpText(argv, columns);
      expect(code).toBe(0);
      const wide = text.split("\n").filter((line) => width(line) > columns);
      expect(wide, `${columns} columns`).toEqual([]);
    }
    // Not a terminal (a pipe, a CI log): 100 columns.
    const { text } = await helpText(argv);
    expect(Math.max(...text.split("\n").map(width))).toBeLessThanOrEqual(100);
  });

  it("aligns an option's wrapped text under its first line", async () => {
    const { text } = await helpText(["run", "--help"], 80);
    const lines = text.split("\n");
    const first = lines.findIndex((line) => line.startsWith("  --image NAME "));
    const column = /^ {2}--image NAME +/.exec(lines[first]!)![0].length;
    const next = lines.findIndex((line, i) => i > first && line.startsWith("  --"));
    expect(next - first).toBeGreaterThan(1);
    for (const line of lines.slice(first + 1, next)) {
      expect(line.slice(0, column).trim()).toBe("");
      expect(line[column]).not.toBe(" ");
    }
    // Every option is there, each at the start of a row.
    expect(lines.filter((line) => /^ {2}--[a-z]/.test(line))).toHaveLength(runOptions.length);
  });

  it("is 100 columns wide off a terminal, and the terminal's width on one", () => {
    expect(helpWidth({ isTTY: false, columns: 300 })).toBe(100);
    expect(helpWidth(undefined)).toBe(100);
    expect(helpWidth({ isTTY: true, columns: 72 })).toBe(72);
  });

  it("`kvmci help <command>` is `kvmci <command> --help`", async () => {
    expect((await helpText(["help", "gc"])).text).toBe((await helpText(["gc", "--help"])).text);
  });
});
