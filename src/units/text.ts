/** Last `count` non-empty lines of a text, for console and stderr tails. */
export function tailLines(text: string, count: number): string[] {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  return lines.slice(-count);
}

/** The text without terminal colour codes and carriage returns, as a serial console prints it. */
export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "");
}

/** How many columns a line of text takes: one per code point (no wide characters are used). */
export function textWidth(text: string): number {
  return [...text].length;
}

/**
 * A text's words reflowed into lines of at most `width` columns; a word longer than a line is
 * cut. Runs of spaces and line breaks count as one space. Pure.
 */
export function wrapText(text: string, width: number): string[] {
  const room = Math.max(1, width);
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    for (const piece of cutWord(word, room)) {
      if (line === "") line = piece;
      else if (textWidth(line) + 1 + textWidth(piece) <= room) line += ` ${piece}`;
      else {
        lines.push(line);
        line = piece;
      }
    }
  }
  lines.push(line);
  return lines;
}

function cutWord(word: string, width: number): string[] {
  const chars = [...word];
  const pieces: string[] = [];
  for (let at = 0; at < chars.length; at += width)
    pieces.push(chars.slice(at, at + width).join(""));
  return pieces;
}

/**
 * Two columns, as in `--help`: each name, then its text wrapped in a column of its own, aligned
 * under itself. When the terminal is too narrow for that, the text goes under the name,
 * indented. No line is longer than `width`. Pure.
 */
export function formatColumns(
  rows: readonly (readonly [string, string])[],
  width: number,
  indent = 2,
): string[] {
  const nameWidth = Math.max(0, ...rows.map(([name]) => textWidth(name)));
  const column = indent + nameWidth + 2;
  const pad = (n: number) => " ".repeat(n);
  // Beside its name, a text needs room for a few words a line to stay readable.
  if (width - column >= minTextColumn) {
    return rows.flatMap(([name, text]) => {
      const [first = "", ...more] = wrapText(text, width - column);
      return [
        `${pad(indent)}${name}${pad(nameWidth - textWidth(name) + 2)}${first}`.trimEnd(),
        ...more.map((line) => `${pad(column)}${line}`),
      ];
    });
  }
  const under = Math.min(indent + 4, Math.max(0, width - minTextColumn));
  return rows.flatMap(([name, text]) => [
    ...wrapText(name, width - indent).map((line) => `${pad(indent)}${line}`),
    ...(text ? wrapText(text, width - under).map((line) => `${pad(under)}${line}`) : []),
  ]);
}

const minTextColumn = 30;
