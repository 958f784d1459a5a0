import { runCommand } from "../host/command.js";

/** `qemu-img create` for a qcow2 overlay whose backing file is the image. Pure. */
export function buildOverlayArgs(o: {
  backingFile: string;
  overlayPath: string;
  sizeBytes?: number;
}): string[] {
  const args = [
    "qemu-img",
    "create",
    "-q",
    "-f",
    "qcow2",
    "-F",
    "qcow2",
    "-b",
    o.backingFile,
    o.overlayPath,
  ];
  if (o.sizeBytes !== undefined) args.push(String(o.sizeBytes));
  return args;
}

export async function createOverlay(
  o: { backingFile: string; overlayPath: string; sizeBytes?: number },
  signal?: AbortSignal,
): Promise<void> {
  await runCommand(buildOverlayArgs(o), {
    signal,
    failureCode: "image",
    hint: "The cached image may be missing or damaged: `kvmci image ls` shows it; `kvmci image build debian-12` rebuilds it.",
  });
}
