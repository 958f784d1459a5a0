const units: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** The longest duration any setting takes: a week. Timers in Node end at about 24 days. */
export const maxDurationMs = 7 * 86_400_000;

/** Parses durations like `90s`, `10m`, `1h`, `2d`, `1500ms`, or a bare number of seconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) return undefined;
  const [, amount, unit] = match;
  const factor = units[unit ?? "s"];
  if (amount === undefined || factor === undefined) return undefined;
  return Math.round(Number(amount) * factor);
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes}m${String(seconds).padStart(2, "0")}s`;
}
