import { PassThrough, type Readable } from "node:stream";
import { execa } from "execa";

export interface HostTar {
  /** The archive, held (with back-pressure) until whoever reads it is ready. */
  archive: Readable;
  /** Bytes tar has written so far. */
  bytes(): number;
  /** tar's exit: its code and stderr. */
  done: Promise<{ exitCode: number | undefined; stderr: string }>;
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
  tar.stdout?.on("data", (chunk: Buffer) => (bytes += chunk.length));
  return {
    archive,
    bytes: () => bytes,
    done: tar.then((r) => ({ exitCode: r.exitCode, stderr: String(r.stderr ?? "") })),
  };
}
