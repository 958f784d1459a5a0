/** One part of the work of `--shard I/N`: a matrix entry, and which part of its suite. */
export interface ShardPart<T> {
  entry: T;
  /** For the test runner inside: KVMCI_SHARD_INDEX (1-based) and KVMCI_SHARD_TOTAL. */
  part: { index: number; total: number };
}

/**
 * The matrix entries shard `index` of `total` runs (1-based). With at least as many entries as
 * shards, the entries are dealt out round-robin and each runs its whole suite (part 1 of 1).
 * With fewer, each entry is given to several shards and they split its suite: with one image
 * and four shards, every shard runs the image with part I of 4. Pure.
 */
export function selectShard<T>(entries: T[], index: number, total: number): ShardPart<T>[] {
  const m = entries.length;
  const s = index - 1;
  if (m === 0) return [];
  if (total <= m) {
    return entries
      .filter((_, e) => e % total === s)
      .map((entry) => ({ entry, part: { index: 1, total: 1 } }));
  }
  const e = s % m;
  return [
    {
      entry: entries[e]!,
      part: { index: Math.floor(s / m) + 1, total: Math.ceil((total - e) / m) },
    },
  ];
}

/** Pure: `I/N` into numbers, or a problem. */
export function parseShard(text: string): { index: number; total: number } | { problem: string } {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(match?.[1]);
  const total = Number(match?.[2]);
  if (!match || total < 1 || index < 1 || index > total)
    return { problem: `expected I/N with 1 <= I <= N, like 1/4, got ${JSON.stringify(text)}` };
  return { index, total };
}

export interface GuestNeeds {
  memoryBytes: number;
}

export interface HostLimits {
  /** At most this many guests at once (--parallel, or the host's CPU count). */
  maxGuests: number;
  /** Memory the guests may take together (what the host has available). */
  memoryBytes: number;
}

/** Memory the host keeps for itself, whatever its guests ask for. */
export const hostReserveBytes = 1024 ** 3;

/**
 * The one admission rule for memory, for a run's own guests and for every kvmci on the host:
 * what is available now plus what running guests have reserved (MemAvailable already lacks what
 * they have touched, not what they may still touch), never more than the host's memory less
 * what it keeps for itself. Pure.
 */
export function memoryBudget(
  host: { totalBytes: number; availableBytes: number },
  reservedBytes: number,
): number {
  return Math.max(
    0,
    Math.min(
      host.totalBytes - hostReserveBytes,
      host.availableBytes - 512 * 1024 ** 2 + reservedBytes,
    ),
  );
}

/** The most memory one guest may have on a host of this size: more could never be admitted. Pure. */
export function largestGuestBytes(totalBytes: number): number {
  return Math.max(0, totalBytes - hostReserveBytes);
}

/**
 * Whether the next queued guest may start now: under the guest count and the memory the host
 * has. One guest always may when none runs, so a guest too big for the host fails on its own
 * instead of waiting forever. Pure.
 */
export function mayStart(next: GuestNeeds, running: GuestNeeds[], limits: HostLimits): boolean {
  return mayStartTogether([next], running, limits);
}

/**
 * Whether guests that must run together (a topology) may all start now: as mayStart, for all of
 * them at once. When nothing runs they always may, whatever their number, so that a topology
 * larger than the host's CPU count runs alone rather than never. Pure.
 */
export function mayStartTogether(
  next: GuestNeeds[],
  running: GuestNeeds[],
  limits: HostLimits,
): boolean {
  if (running.length === 0) return true;
  if (running.length + next.length > limits.maxGuests) return false;
  const used = running.reduce((sum, g) => sum + g.memoryBytes, 0);
  const more = next.reduce((sum, g) => sum + g.memoryBytes, 0);
  return used + more <= limits.memoryBytes;
}
