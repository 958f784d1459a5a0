/**
 * The first MiB of a BIOS-bootable disk: an MBR with GRUB's boot code and one Linux partition
 * starting at 1 MiB, and GRUB's core image right after it (sector 1), where boot.img looks for
 * it by default. Pure: the same inputs always give the same bytes.
 */
export const sectorSize = 512;
export const partitionStart = 2048;
export const headerBytes = partitionStart * sectorSize;

export interface MbrSpec {
  /** GRUB's boot.img (512 bytes); only its code area (the first 440 bytes) is used. */
  bootCode: Buffer;
  /** GRUB's core.img; must fit between sector 1 and the partition. */
  coreImage: Buffer;
  /** 32-bit disk identifier; the partition's PARTUUID is `<id>-01`. */
  diskId: number;
  /** Size of the whole disk in bytes. */
  diskBytes: number;
}

export function buildDiskHeader(spec: MbrSpec): Buffer {
  if (spec.bootCode.length < 440)
    throw new Error(`boot.img is ${spec.bootCode.length} bytes, expected 512`);
  if (spec.coreImage.length > headerBytes - sectorSize) {
    throw new Error(`core.img is ${spec.coreImage.length} bytes; it must fit in the first MiB`);
  }
  const header = Buffer.alloc(headerBytes);
  spec.bootCode.copy(header, 0, 0, 440);
  header.writeUInt32LE(spec.diskId >>> 0, 440);
  const sectors = Math.floor(spec.diskBytes / sectorSize) - partitionStart;
  const entry = header.subarray(446, 462);
  entry[0] = 0x80; // bootable
  // CHS fields say "use LBA", as every modern partitioner writes for large disks.
  entry.set([0xfe, 0xff, 0xff], 1);
  entry[4] = 0x83; // Linux
  entry.set([0xfe, 0xff, 0xff], 5);
  entry.writeUInt32LE(partitionStart, 8);
  entry.writeUInt32LE(sectors, 12);
  header[510] = 0x55;
  header[511] = 0xaa;
  spec.coreImage.copy(header, sectorSize);
  return header;
}

export function formatDiskId(diskId: number): string {
  return (diskId >>> 0).toString(16).padStart(8, "0");
}
