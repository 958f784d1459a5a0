import { formatDuration } from "../units/duration.js";
import { formatSize } from "../units/size.js";
import type { TransferProgress } from "../image/download.js";

/**
 * Pure: "312 MiB / 575 MiB (54%), 48 MiB/s, 5.4s left". The rate counts only this attempt's
 * bytes, so a resumed download does not look faster than it is.
 */
export function formatTransfer(progress: TransferProgress, now: number): string {
  const { received, total } = progress;
  const seconds = Math.max(0.001, (now - progress.startedAt) / 1000);
  const rate = (received - progress.resumedFrom) / seconds;
  const parts = [
    total
      ? `${formatSize(received)} / ${formatSize(total)} (${Math.floor((received / total) * 100)}%)`
      : formatSize(received),
  ];
  if (rate > 0 && now - progress.startedAt >= 500) {
    parts.push(`${formatSize(rate)}/s`);
    if (total && received < total)
      parts.push(`${formatDuration(((total - received) / rate) * 1000)} left`);
  }
  if (progress.resumedFrom > 0) parts.push(`resumed at ${formatSize(progress.resumedFrom)}`);
  return parts.join(", ");
}
