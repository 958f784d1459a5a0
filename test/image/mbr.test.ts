import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { buildDiskHeader, formatDiskId, headerBytes } from "../../src/image/mbr.js";

describe("disk header", () => {
  it("is a partition table sfdisk reads: one bootable Linux partition from 1 MiB to the end", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kvmci-mbr-test-"));
    try {
      const diskBytes = 64 * 1024 * 1024;
      const header = buildDiskHeader({
        boot: { bootCode: Buffer.alloc(512, 0x90), coreImage: Buffer.alloc(30_000, 1) },
        diskId: 0x6b766d63,
        diskBytes,
      });
      const path = join(dir, "disk.raw");
      await writeFile(path, Buffer.concat([header, Buffer.alloc(diskBytes - header.length)]));
      const { stdout } = await execa("sfdisk", ["--json", path]);
      const table = (
        JSON.parse(stdout) as {
          partitiontable: {
            label: string;
            id: string;
            partitions: { start: number; size: number; type: string; bootable?: boolean }[];
          };
        }
      ).partitiontable;
      expect(table.label).toBe("dos");
      expect(table.id).toBe("0x6b766d63");
      expect(table.partitions).toEqual([
        expect.objectContaining({
          start: 2048,
          size: diskBytes / 512 - 2048,
          type: "83",
          bootable: true,
        }),
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("puts the boot code first and the core image at sector 1", () => {
    const header = buildDiskHeader({
      boot: { bootCode: Buffer.alloc(512, 0x90), coreImage: Buffer.from("CORE") },
      diskId: 1,
      diskBytes: 1 << 30,
    });
    expect(header.length).toBe(headerBytes);
    expect(header[0]).toBe(0x90);
    expect(header.subarray(512, 516).toString()).toBe("CORE");
    expect(header.readUInt16LE(510)).toBe(0xaa55);
  });

  it("refuses a core image that does not fit before the partition", () => {
    expect(() =>
      buildDiskHeader({
        boot: { bootCode: Buffer.alloc(512), coreImage: Buffer.alloc(headerBytes) },
        diskId: 1,
        diskBytes: 1 << 30,
      }),
    ).toThrow(/first MiB/);
  });

  it("without a bootloader (a disk booted with its kernel): no boot code, no active partition", () => {
    const header = buildDiskHeader({ boot: undefined, diskId: 0x6b766d63, diskBytes: 1 << 30 });
    expect(header.subarray(0, 440).every((b) => b === 0)).toBe(true);
    expect(header.readUInt32LE(440)).toBe(0x6b766d63);
    expect(header[446]).toBe(0);
    expect(header[450]).toBe(0x83);
    expect(header.subarray(512).every((b) => b === 0)).toBe(true);
    expect(header.readUInt16LE(510)).toBe(0xaa55);
  });

  it("formats disk ids the way PARTUUIDs show them", () => {
    expect(formatDiskId(0xab)).toBe("000000ab");
  });
});
