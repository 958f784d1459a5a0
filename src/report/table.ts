/** Pure: rows of cells as aligned text columns, the first row being the header. */
export function formatTable(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, col) =>
    Math.max(...rows.map((r) => (r[col] ?? "").length)),
  );
  return rows
    .map((row) =>
      row
        .map((cell, col) => cell.padEnd(widths[col] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join("");
}
