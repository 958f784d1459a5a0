/**
 * Names within a small edit distance of `name`, best first, at most three: what a typo most
 * likely meant (an image, an option, a command). Pure.
 */
export function closestNames(name: string, known: readonly string[]): string[] {
  return known
    .map((k) => ({ k, d: editDistance(name, k) }))
    .filter(({ k, d }) => d <= Math.max(2, Math.floor(k.length / 3)))
    .sort((a, b) => a.d - b.d)
    .slice(0, 3)
    .map(({ k }) => k);
}

/**
 * `did you mean --image?` for the closest of `known`, each shown by `show`; undefined when
 * none is close. Pure.
 */
export function didYouMean(
  name: string,
  known: readonly string[],
  show: (name: string) => string = (k) => k,
): string | undefined {
  const close = closestNames(name, known);
  return close.length ? `did you mean ${close.map(show).join(" or ")}?` : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
