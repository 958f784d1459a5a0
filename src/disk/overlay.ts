import { runCommand } from "../host/command.js";

export interface OverlaySpec {
  backingFile: string;
  /** Always given: qemu-img must never guess a backing file's format. */
  backingFormat: "qcow2" | "raw";
  overlayPath: string;
  sizeBytes?: number;
}

/** `qemu-img create` for a qcow2 overlay whose backing file is the image. Pure. */
export function buildOverlayArgs(o: OverlaySpec): string[] {
  const args = [
    "qemu-img",
    "create",
    "-q",
    "-f",
    "qcow2",
    "-F",
    o.backingFormat,
    "-b",
    o.backingFile,
    o.overlayPath,
  ];
  if (o.sizeBytes !== undefined) args.push(String(o.sizeBytes));
  return args;
}

export async function createOverlay(o: OverlaySpec, signal?: AbortSignal): Promise<void> {
  await runCommand(buildOverlayArgs(o), {
    signal,
    failureCode: "image",
    hint: "The image may be missing or damaged: `kvmci image ls` shows the cache; `kvmci image rm NAME` and a new run fetch or build it again.",
  });
}

/**
 * Points a qcow2 at another path of the same backing file without touching its data
 * (`qemu-img rebase -u`): a relative path keeps a cache entry valid wherever the cache moves.
 */
export function buildRebaseArgs(o: {
  path: string;
  backingFile: string;
  backingFormat: "qcow2" | "raw";
}): string[] {
  return [
    "qemu-img",
    "rebase",
    "-u",
    "-f",
    "qcow2",
    "-F",
    o.backingFormat,
    "-b",
    o.backingFile,
    o.path,
  ];
}

export async function rebaseOverlay(
  o: Parameters<typeof buildRebaseArgs>[0],
  signal?: AbortSignal,
): Promise<void> {
  await runCommand(buildRebaseArgs(o), { signal, failureCode: "image" });
}
