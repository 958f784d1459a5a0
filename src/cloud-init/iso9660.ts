/**
 * A minimal ISO 9660 writer with Joliet names, enough for a NoCloud `cidata` volume: one root
 * directory holding a few small files. Pure: bytes in, bytes out. Linux (isofs) and blkid read
 * the Joliet tree, so names like `user-data` survive; the primary tree carries 8.3 names.
 */
const sector = 2048;

export interface IsoFile {
  name: string;
  data: Buffer;
}

export interface IsoOptions {
  volumeId: string;
  files: IsoFile[];
  /** Recorded as every timestamp; pass it in so output is reproducible. */
  date: Date;
}

interface Placed {
  file: IsoFile;
  extent: number;
}

export function buildIso9660(options: IsoOptions): Buffer {
  const names = new Set<string>();
  for (const file of options.files) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(file.name) || names.has(file.name)) {
      throw new Error(`Invalid or duplicate ISO file name ${JSON.stringify(file.name)}`);
    }
    names.add(file.name);
  }
  // Layout: 16 system sectors, PVD, Joliet SVD, terminator, 4 path tables, 2 root directories, data.
  const pathTables = { primaryL: 19, primaryM: 20, jolietL: 21, jolietM: 22 };
  const primaryRoot = 23;
  const jolietRoot = 24;
  let next = 25;
  const placed: Placed[] = [...options.files]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((file) => {
      const extent = next;
      next += Math.max(1, Math.ceil(file.data.length / sector));
      return { file, extent };
    });
  const totalSectors = next;
  const image = Buffer.alloc(totalSectors * sector);

  const primaryNames = shortNames(placed.map((p) => p.file.name));
  const primaryDir = directory(
    primaryRoot,
    placed,
    (p, i) => Buffer.from(`${primaryNames[i]};1`, "ascii"),
    options.date,
  );
  const jolietDir = directory(jolietRoot, placed, (p) => ucs2(p.file.name), options.date);
  primaryDir.copy(image, primaryRoot * sector);
  jolietDir.copy(image, jolietRoot * sector);

  const common = { totalSectors, date: options.date, volumeId: options.volumeId };
  volumeDescriptor({
    ...common,
    type: 1,
    rootExtent: primaryRoot,
    rootSize: primaryDir.length,
    tables: [pathTables.primaryL, pathTables.primaryM],
  }).copy(image, 16 * sector);
  volumeDescriptor({
    ...common,
    type: 2,
    rootExtent: jolietRoot,
    rootSize: jolietDir.length,
    tables: [pathTables.jolietL, pathTables.jolietM],
  }).copy(image, 17 * sector);
  const terminator = image.subarray(18 * sector);
  terminator[0] = 255;
  terminator.write("CD001", 1, "ascii");
  terminator[6] = 1;

  pathTable(primaryRoot, "le").copy(image, pathTables.primaryL * sector);
  pathTable(primaryRoot, "be").copy(image, pathTables.primaryM * sector);
  pathTable(jolietRoot, "le").copy(image, pathTables.jolietL * sector);
  pathTable(jolietRoot, "be").copy(image, pathTables.jolietM * sector);

  for (const { file, extent } of placed) file.data.copy(image, extent * sector);
  return image;
}

/** ISO 9660 level 1 names: upper-case d-characters, 8.3, unique. */
function shortNames(names: string[]): string[] {
  const used = new Set<string>();
  return names.map((name) => {
    const dot = name.lastIndexOf(".");
    const clean = (s: string) => s.toUpperCase().replace(/[^A-Z0-9_]/g, "_");
    const base = clean(dot > 0 ? name.slice(0, dot) : name).slice(0, 8);
    const ext = dot > 0 ? clean(name.slice(dot + 1)).slice(0, 3) : "";
    let candidate = `${base}.${ext}`;
    for (let n = 1; used.has(candidate); n++)
      candidate = `${base.slice(0, 8 - String(n).length)}${n}.${ext}`;
    used.add(candidate);
    return candidate;
  });
}

function ucs2(text: string): Buffer {
  const out = Buffer.alloc(text.length * 2);
  for (let i = 0; i < text.length; i++) out.writeUInt16BE(text.charCodeAt(i), i * 2);
  return out;
}

function bothEndian32(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt32LE(value, offset);
  buf.writeUInt32BE(value, offset + 4);
}

function bothEndian16(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt16LE(value, offset);
  buf.writeUInt16BE(value, offset + 2);
}

function directoryRecord(
  id: Buffer,
  extent: number,
  size: number,
  isDir: boolean,
  date: Date,
): Buffer {
  const length = 33 + id.length + (id.length % 2 === 0 ? 1 : 0);
  const rec = Buffer.alloc(length);
  rec[0] = length;
  bothEndian32(rec, 2, extent);
  bothEndian32(rec, 10, size);
  rec[18] = date.getUTCFullYear() - 1900;
  rec[19] = date.getUTCMonth() + 1;
  rec[20] = date.getUTCDate();
  rec[21] = date.getUTCHours();
  rec[22] = date.getUTCMinutes();
  rec[23] = date.getUTCSeconds();
  rec[24] = 0;
  rec[25] = isDir ? 2 : 0;
  bothEndian16(rec, 28, 1);
  rec[32] = id.length;
  id.copy(rec, 33);
  return rec;
}

function directory(
  self: number,
  placed: Placed[],
  idOf: (p: Placed, i: number) => Buffer,
  date: Date,
): Buffer {
  const records = [
    directoryRecord(Buffer.from([0]), self, sector, true, date),
    directoryRecord(Buffer.from([1]), self, sector, true, date),
    ...placed.map((p, i) => directoryRecord(idOf(p, i), p.extent, p.file.data.length, false, date)),
  ];
  const body = Buffer.concat(records);
  if (body.length > sector) throw new Error("Too many files for a one-sector ISO directory");
  const out = Buffer.alloc(sector);
  body.copy(out);
  return out;
}

function pathTable(rootExtent: number, endian: "le" | "be"): Buffer {
  const entry = Buffer.alloc(10);
  entry[0] = 1;
  if (endian === "le") {
    entry.writeUInt32LE(rootExtent, 2);
    entry.writeUInt16LE(1, 6);
  } else {
    entry.writeUInt32BE(rootExtent, 2);
    entry.writeUInt16BE(1, 6);
  }
  return entry;
}

function longDate(date: Date): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return (
    pad(date.getUTCFullYear(), 4) +
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) +
    pad(date.getUTCSeconds()) +
    "00"
  );
}

interface Descriptor {
  type: 1 | 2;
  volumeId: string;
  totalSectors: number;
  rootExtent: number;
  rootSize: number;
  tables: [number, number];
  date: Date;
}

function volumeDescriptor(d: Descriptor): Buffer {
  const joliet = d.type === 2;
  const vd = Buffer.alloc(sector);
  vd[0] = d.type;
  vd.write("CD001", 1, "ascii");
  vd[6] = 1;
  const text = (offset: number, length: number, value: string) => {
    if (joliet) {
      const encoded = ucs2(value.padEnd(length / 2, " ").slice(0, length / 2));
      encoded.copy(vd, offset);
    } else {
      vd.write(value.padEnd(length, " ").slice(0, length), offset, "ascii");
    }
  };
  text(8, 32, "LINUX");
  text(40, 32, d.volumeId);
  bothEndian32(vd, 80, d.totalSectors);
  // UCS-2 level 3: this escape sequence is what marks a supplementary descriptor as Joliet.
  if (joliet) vd.write("%/E", 88, "ascii");
  bothEndian16(vd, 120, 1);
  bothEndian16(vd, 124, 1);
  bothEndian16(vd, 128, sector);
  bothEndian32(vd, 132, 10);
  vd.writeUInt32LE(d.tables[0], 140);
  vd.writeUInt32BE(d.tables[1], 148);
  directoryRecord(Buffer.from([0]), d.rootExtent, d.rootSize, true, d.date).copy(vd, 156);
  text(190, 128, "");
  text(318, 128, "");
  text(446, 128, "");
  text(574, 128, "KVMCI");
  vd.fill(0x20, 702, 813);
  const stamp = longDate(d.date);
  vd.write(stamp, 813, "ascii");
  vd.write(stamp, 830, "ascii");
  vd.write("0".repeat(16), 847, "ascii");
  vd.write(stamp, 864, "ascii");
  vd[881] = 1;
  return vd;
}
