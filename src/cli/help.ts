import { formatColumns, wrapText } from "../units/text.js";

/** Rows of a two-column list: a name (an option, a command, an exit code) and what it is. */
export type HelpRow = readonly [string, string];

/**
 * A `--help` text as data, so that it can be wrapped to any width: paragraphs (reflowed) and
 * lists under a heading (two columns, each text aligned under itself).
 */
export type HelpBlock = string | { heading: string; rows: readonly HelpRow[] };

/** Help for a terminal this wide: its own width, or 100 columns when it is not one. */
export function helpWidth(stdout: { isTTY?: boolean; columns?: number } | undefined): number {
  return stdout?.isTTY && stdout.columns ? stdout.columns : 100;
}

/** The blocks as text no line of which is wider than `width`, blank lines between. Pure. */
export function renderHelp(blocks: readonly HelpBlock[], width: number): string {
  return blocks
    .map((block) =>
      typeof block === "string"
        ? wrapText(block, width).join("\n")
        : [...wrapText(block.heading, width), ...formatColumns(block.rows, width)].join("\n"),
    )
    .join("\n\n");
}
