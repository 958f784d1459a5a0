import { open } from "node:fs/promises";
import { KvmciError } from "../errors.js";
import { runCommand } from "../host/command.js";

/** What `qemu-img info` says about a disk image, reduced to what kvmci decides on. */
export interface DiskInfo {
  format: string;
  virtualSize: number;
  backingFile: string | undefined;
  /** qcow2 can keep its data in another file; an image from the internet must not. */
  dataFile: string | undefined;
  corrupt: boolean;
}

/** The command, as data. `-U` reads an image another QEMU has open. */
export function buildInfoArgs(path: string): string[] {
  return ["qemu-img", "info", "-U", "--output=json", path];
}

/** Opens every image of the backing chain, so a missing backing file is found. */
export function buildChainArgs(path: string): string[] {
  return ["qemu-img", "info", "-U", "--backing-chain", "--output=json", path];
}

/**
 * Pure: the JSON of `qemu-img info --output=json` (QEMU 7.2 and later) into DiskInfo, or
 * undefined when it is not that.
 */
export function parseDiskInfo(json: string): DiskInfo | undefined {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof data.format !== "string" || typeof data["virtual-size"] !== "number") return undefined;
  const specific = (data["format-specific"] as { data?: Record<string, unknown> } | undefined)
    ?.data;
  return {
    format: data.format,
    virtualSize: data["virtual-size"],
    backingFile:
      typeof data["backing-filename"] === "string" ? data["backing-filename"] : undefined,
    dataFile: typeof specific?.["data-file"] === "string" ? specific["data-file"] : undefined,
    corrupt: specific?.corrupt === true,
  };
}

/**
 * Inspects a file meant as a disk image and refuses anything kvmci should not boot from:
 * formats other than qcow2 and raw, damaged qcow2, and (unless `allowBacking`) images that
 * point at other files. A raw file must carry a partition table, since qemu-img calls any
 * file "raw" — a text file too.
 */
export async function inspectDisk(
  path: string,
  options: { allowBacking: boolean; what: string },
): Promise<DiskInfo & { format: "qcow2" | "raw" }> {
  const notDisk = (why: string, hint?: string) =>
    new KvmciError("imageNotDisk", `${options.what} is not a disk image kvmci can use: ${why}`, {
      hint: hint ?? "Give a qcow2 image, or a raw disk image with a partition table.",
    });
  let json: string;
  try {
    json = await runCommand(buildInfoArgs(path), { failureCode: "imageNotDisk" });
  } catch (error) {
    throw notDisk(
      error instanceof KvmciError ? (error.details.at(-1) ?? error.message) : String(error),
    );
  }
  const info = parseDiskInfo(json);
  if (!info) throw notDisk("qemu-img info gave no format");
  if (info.format !== "qcow2" && info.format !== "raw")
    throw notDisk(
      `it is ${info.format}`,
      `Convert it first: qemu-img convert -O qcow2 ${path} image.qcow2`,
    );
  if (info.corrupt) throw notDisk("qemu-img marks the qcow2 image as corrupt");
  if (info.dataFile) throw notDisk(`its data lives in another file (${info.dataFile})`);
  if (info.backingFile && !options.allowBacking)
    throw notDisk(
      `it has a backing file (${info.backingFile}), which could read any file on this host`,
    );
  if (info.backingFile) {
    // qemu-img info does not open backing files; a missing one would otherwise surface only
    // as the overlay failing, with a hint about the cache that does not apply to a user's file.
    try {
      await runCommand(buildChainArgs(path), { failureCode: "imageNotDisk" });
    } catch (error) {
      const said = error instanceof KvmciError ? (error.details.at(-1) ?? "") : String(error);
      // qemu-img nests the reason once per level of the chain; the innermost says it all.
      const why = said.slice(Math.max(0, said.lastIndexOf("Could not open '")));
      throw notDisk(
        `its backing file ${info.backingFile} cannot be opened (${why})`,
        `Put ${info.backingFile} back where the image expects it (relative to the image's folder), ` +
          `or make a copy that stands alone: qemu-img convert -O qcow2 ${path} standalone.qcow2`,
      );
    }
  }
  if (info.format === "raw" && !(await hasPartitionTable(path)))
    throw notDisk("it has no MBR or GPT partition table (qemu-img calls any file raw)");
  return { ...info, format: info.format };
}

async function hasPartitionTable(path: string): Promise<boolean> {
  const handle = await open(path, "r");
  try {
    const sector = Buffer.alloc(1024);
    const { bytesRead } = await handle.read(sector, 0, 1024, 0);
    if (bytesRead < 512) return false;
    const mbr = sector[510] === 0x55 && sector[511] === 0xaa;
    const gpt = bytesRead >= 520 && sector.subarray(512, 520).toString("latin1") === "EFI PART";
    return mbr || gpt;
  } finally {
    await handle.close();
  }
}
