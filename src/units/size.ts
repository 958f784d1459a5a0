const units: Record<string, number> = {
  B: 1,
  K: 1024,
  M: 1024 ** 2,
  G: 1024 ** 3,
  T: 1024 ** 4,
};

/**
 * Parses sizes like `2G`, `512M`, `1.5GiB`, `100B`. A bare number is MiB, as in QEMU's `-m`
 * and the peers' settings (`memory: 2048`). Returns undefined when malformed.
 */
export function parseSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:i?B)?|(B))?\s*$/i.exec(text);
  if (!match) return undefined;
  const [, amount, multiple, bytesUnit] = match;
  const factor = units[(multiple ?? bytesUnit ?? "M").toUpperCase()];
  if (amount === undefined || factor === undefined) return undefined;
  const bytes = Math.round(Number(amount) * factor);
  return bytes > 0 ? bytes : undefined;
}

export function formatSize(bytes: number): string {
  const steps = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let step = 0;
  while (value >= 1024 && step < steps.length - 1) {
    value /= 1024;
    step++;
  }
  return `${value >= 10 || step === 0 ? Math.round(value) : value.toFixed(1)} ${steps[step]}`;
}
