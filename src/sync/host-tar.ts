import { PassThrough, type Readable } from "node:stream";
import { execa } from "execa";
import { Parser, type ReadEntry } from "tar";

export interface HostTar {
  /** The archive, held (with back-pressure) until whoever reads it is ready. */
  archive: Readable;
  /** Bytes tar has written so far. */
  bytes(): number;
  /**
   * How many files (anything but folders) the archive holds, read from the archive itself once
   * tar has finished writing it: what was sent, after tar's own --exclude.
   */
  files: Promise<number>;
  /**
   * tar's exit: its code and stderr, and whether discard() stopped it (its code then says
   * nothing about the workspace).
   */
  done: Promise<{ exitCode: number | undefined; stderr: string; discarded: boolean }>;
  /**
   * Stops tar if it still runs and throws away what it has not written yet, for when nothing
   * will read the rest of the archive (the reader failed or went away): `done` then settles.
   * Without it tar, and `done`, would wait for ever on a full pipe. An abort of the signal
   * given to startHostTar does this too.
   */
  discard(): void;
}

/**
 * Starts a tar that packs on the host (`argv` from the builders in tar-args.ts) and holds its
 * output until the SSH channel it goes to opens, a round trip later. Read directly, tar's stdout
 * would be drained before then, and a guest reading the stream would wait for its end for ever.
 */
export function startHostTar(argv: string[], o: { input?: string; signal: AbortSignal }): HostTar {
  const [file, ...args] = argv;
  const tar = execa(file ?? "tar", args, {
    input: o.input,
    stdin: o.input === undefined ? "ignore" : "pipe",
    stdout: "pipe",
    stderr: "pipe",
    reject: false,
    buffer: { stdout: false },
    cancelSignal: o.signal,
  });
  const archive = new PassThrough();
  let bytes = 0;
  tar.stdout?.pipe(archive);
  // Counted on tar's side: a "data" listener on the holding stream would start it flowing
  // before the channel is there to read it.
  const counter = countFiles();
  tar.stdout?.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
    counter.write(chunk);
  });
  tar.stdout?.on("end", () => counter.end());
  tar.stdout?.on("error", () => counter.end());
  let discarded = false;
  const discard = () => {
    discarded ||= tar.exitCode === null && tar.signalCode === null;
    tar.kill();
    // What tar wrote and the reader never took: drained here, so that its stdout ends (execa
    // waits for that) rather than stay paused behind the holding stream.
    tar.stdout?.unpipe(archive);
    tar.stdout?.resume();
  };
  o.signal.addEventListener("abort", discard, { once: true });
  const done = tar.then((r) => {
    o.signal.removeEventListener("abort", discard);
    return { exitCode: r.exitCode, stderr: String(r.stderr ?? ""), discarded };
  });
  return { archive, bytes: () => bytes, files: counter.files, done, discard };
}

/** Counts the non-folder entries of a tar stream written to it, as a tar reader sees them. */
function countFiles(): { write(chunk: Buffer): void; end(): void; files: Promise<number> } {
  let count = 0;
  const parser = new Parser({ strict: false });
  parser.on("entry", (entry: ReadEntry) => {
    if (entry.type !== "Directory") count++;
    entry.resume();
  });
  const files = new Promise<number>((resolve) => {
    parser.on("end", () => resolve(count));
    parser.on("close", () => resolve(count));
    // A stream cut short (tar failed; its exit code says so) counts what came whole.
    parser.on("error", () => resolve(count));
  });
  let ended = false;
  return {
    write: (chunk) => void parser.write(chunk),
    end: () => {
      if (!ended) parser.end();
      ended = true;
    },
    files,
  };
}
