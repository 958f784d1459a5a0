/**
 * The first MiB of a disk: an MBR with one Linux partition starting at 1 MiB and, for a
 * BIOS-bootable disk, GRUB's boot code and its core image right after the MBR (sector 1), where
 * boot.img looks for it by default. Without them (a disk booted only with its kernel) the boot
 * code area is zero and no partition is marked active. Pure: the same inputs always give the
 * same bytes.
 */
export const sectorSize = 512;
export const partitionStart = 2048;
export const headerBytes = partitionStart * sectorSize;

export interface MbrSpec {
  boot:
    | {
        /** GRUB's boot.img (512 bytes); only its code area (the first 440 bytes) is used. */
        bootCode: Buffer;
        /** GRUB's core.img; must fit between sector 1 and the partition. */
        coreImage: Buffer;
      }
    | undefined;
  /** 32-bit disk identifier; the partition's PARTUUID is `<id>-01`. */
  diskId: number;
  /** Size of the whole disk in bytes. */
  diskBytes: number;
}

export function buildDiskHeader(spec: MbrSpec): Buffer {
  const { boot } = spec;
  if (boot && boot.bootCode.length < 440)
    throw new Error(`boot.img is ${boot.bootCode.length} bytes, expected 512`);
  if (boot && boot.coreImage.length > headerBytes - sectorSize) {
    throw new Error(`core.img is ${boot.coreImage.length} bytes; it must fit in the first MiB`);
  }
  const header = Buffer.alloc(headerBytes);
  boot?.bootCode.copy(header, 0, 0, 440);
  header.writeUInt32LE(spec.diskId >>> 0, 440);
  const sectors = Math.floor(spec.diskBytes / sectorSize) - partitionStart;
  const entry = header.subarray(446, 462);
  entry[0] = boot ? 0x80 : 0; // active: the partition BIOS boot code starts from
  // CHS fields say "use LBA", as every modern partitioner writes for large disks.
  entry.set([0xfe, 0xff, 0xff], 1);
  entry[4] = 0x83; // Linux
  entry.set([0xfe, 0xff, 0xff], 5);
  entry.writeUInt32LE(partitionStart, 8);
  entry.writeUInt32LE(sectors, 12);
  header[510] = 0x55;
  header[511] = 0xaa;
  boot?.coreImage.copy(header, sectorSize);
  return header;
}

export function formatDiskId(diskId: number): string {
  return (diskId >>> 0).toString(16).padStart(8, "0");
}
