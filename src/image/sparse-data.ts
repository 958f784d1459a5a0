import { dirname, basename } from "node:path";
import { execa } from "execa";
import { errorMessage } from "../units/error-message.js";

/** A run of a file's bytes at `offset`; the bytes between runs are holes (zeros). */
export interface DataRun {
  offset: number;
  data: Buffer;
}

const record = 512;

/**
 * The data of a sparse file, its holes skipped unread. GNU tar finds the data with SEEK_DATA
 * and sends only that, after a map of where it goes (the old GNU sparse format). Reading a hole
 * costs as much as reading data: the kernel allocates and zeroes a page cache page for each,
 * about 0.3 GB/s on a nested VM, and a guest's memory file is gigabytes of holes. Node has no
 * SEEK_DATA of its own. A file without holes comes as a plain member, read whole.
 */
export async function* readDataRuns(path: string, signal?: AbortSignal): AsyncGenerator<DataRun> {
  const tar = execa(
    "tar",
    ["--sparse", "--format=gnu", "-c", "-f", "-", "-C", dirname(path), "--", basename(path)],
    {
      buffer: false,
      stdin: "ignore",
      stderr: "pipe",
      cancelSignal: signal,
      forceKillAfterDelay: 1000,
      lines: false,
    },
  );
  const stderr: Buffer[] = [];
  tar.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
  const input = new RecordReader(tar.stdout[Symbol.asyncIterator]() as AsyncIterator<Buffer>);
  let complete = false;
  try {
    for (const run of await readMap(input)) {
      let offset = run.offset;
      for (let left = run.bytes; left > 0;) {
        const data = await input.some(left);
        yield { offset, data };
        offset += data.length;
        left -= data.length;
      }
    }
    // The padding and the archive's end: read, so that tar can finish writing and exit.
    await input.drain();
    complete = true;
  } catch (error) {
    // Only reading fails here (a consumer that stops ends the loop without throwing into it).
    if (signal?.aborted) throw error;
    throw new Error(
      `tar could not read ${path} as kvmci needs (${errorMessage(error)}): kvmci reads a saved guest's memory with GNU tar's --sparse; install GNU tar (package tar)`,
    );
  } finally {
    if (!complete) {
      // Stopped early (an abort, the caller's error): tar's unread output must go too, or tar's
      // end is never reported and this waits for ever, with nothing left to keep Node running.
      tar.kill();
      tar.stdout.destroy();
      await tar.catch(() => undefined);
    }
  }
  const result = await tar.catch((error: unknown) => error as { exitCode?: number });
  if (result.exitCode !== 0) {
    const said = Buffer.concat(stderr).toString("utf8").trim();
    throw new Error(`tar could not read ${path}${said ? `: ${said}` : ""}`);
  }
}

/** The member's runs (offset, bytes) in the order its data follows, from its header(s). */
async function readMap(input: RecordReader): Promise<{ offset: number; bytes: number }[]> {
  const header = await input.exactly(record);
  if (!validChecksum(header)) throw new Error("tar's output does not start with a header");
  const type = String.fromCharCode(header[156]!);
  if (type === "0" || type === "\0") return [{ offset: 0, bytes: numeric(header, 124, 12) }];
  if (type !== "S") throw new Error(`tar sent a member of type ${JSON.stringify(type)}`);
  const runs = entries(header, 386, 4);
  for (let extended = header[482] !== 0; extended;) {
    const more = await input.exactly(record);
    runs.push(...entries(more, 0, 21));
    extended = more[504] !== 0;
  }
  return runs;
}

/** Sparse map entries (offset[12], bytes[12]) at `at`; an empty one ends the list. */
function entries(block: Buffer, at: number, count: number): { offset: number; bytes: number }[] {
  const runs: { offset: number; bytes: number }[] = [];
  for (let i = 0; i < count; i++) {
    const start = at + i * 24;
    if (block[start] === 0) break;
    runs.push({ offset: numeric(block, start, 12), bytes: numeric(block, start + 12, 12) });
  }
  return runs;
}

/** A tar number: octal text, or base-256 (the high bit set) for values past 8 GiB. */
export function numeric(block: Buffer, at: number, length: number): number {
  const field = block.subarray(at, at + length);
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    return value;
  }
  const text = field
    .toString("latin1")
    .replace(/[\0 ]+$/, "")
    .trim();
  if (!/^[0-7]+$/.test(text))
    throw new Error(`tar sent a malformed number ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}

function validChecksum(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < record; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  try {
    return numeric(header, 148, 8) === sum;
  } catch {
    return false;
  }
}

/** Exact reads over a stream of chunks. */
class RecordReader {
  private pending: Buffer[] = [];
  private length = 0;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  /** Up to `most` bytes, at least one; throws at the end of the stream. */
  async some(most: number): Promise<Buffer> {
    if (this.length === 0) await this.fill();
    const first = this.pending[0]!;
    const data = first.length <= most ? first : first.subarray(0, most);
    if (data === first) this.pending.shift();
    else this.pending[0] = first.subarray(most);
    this.length -= data.length;
    return data;
  }

  async exactly(bytes: number): Promise<Buffer> {
    while (this.length < bytes) await this.fill();
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = all.length > bytes ? [all.subarray(bytes)] : [];
    this.length -= bytes;
    return all.subarray(0, bytes);
  }

  async drain(): Promise<void> {
    this.pending = [];
    this.length = 0;
    while (!(await this.source.next()).done);
  }

  private async fill(): Promise<void> {
    const next = await this.source.next();
    if (next.done) throw new Error("tar's output ended early");
    this.pending.push(next.value);
    this.length += next.value.length;
  }
}
