import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

/** What the server does instead of answering normally, once per request, in order. */
export type Fault =
  | { kind: "status"; status: number; headers?: Record<string, string> }
  /** Sends the headers of a full answer, then closes the connection after this many bytes. */
  | { kind: "truncate"; afterBytes: number };

export interface ServedRequest {
  path: string;
  range: string | undefined;
  status: number;
}

/**
 * A real HTTP server on loopback, standing in for a distribution's download site: files from
 * disk or memory, Range and If-Range like a real mirror (ETag, Last-Modified), and faults on
 * request. Optionally throttled, so a test can interrupt a download halfway.
 */
export class ImageServer {
  readonly requests: ServedRequest[] = [];
  /** Bytes per second for file bodies; undefined for as fast as loopback goes. */
  bytesPerSecond: number | undefined;
  private readonly files = new Map<string, { path?: string; data?: Buffer }>();
  private readonly faults = new Map<string, Fault[]>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<ImageServer> {
    const server = createServer((req, res) => {
      instance.handle(req, res).catch(() => res.destroy());
    });
    const instance = new ImageServer(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return instance;
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  url(path: string): string {
    return `${this.origin}${path}`;
  }

  serveFile(path: string, file: string): void {
    this.files.set(path, { path: file });
  }

  serveText(path: string, text: string): void {
    this.files.set(path, { data: Buffer.from(text) });
  }

  fail(path: string, ...faults: Fault[]): void {
    this.faults.set(path, [...(this.faults.get(path) ?? []), ...faults]);
  }

  /** Requests for a path that got a body (200 or 206). */
  downloads(path: string): ServedRequest[] {
    return this.requests.filter((r) => r.path === path && (r.status === 200 || r.status === 206));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", this.origin).pathname;
    const record = (status: number) =>
      this.requests.push({ path, range: req.headers.range, status });
    const fault = this.faults.get(path)?.shift();
    if (fault?.kind === "status") {
      record(fault.status);
      res.writeHead(fault.status, fault.headers).end(`fault ${fault.status}\n`);
      return;
    }
    const file = this.files.get(path);
    if (!file) {
      record(404);
      res.writeHead(404).end("not found\n");
      return;
    }
    if (file.data) {
      record(200);
      res.writeHead(200, { "content-length": file.data.length }).end(file.data);
      return;
    }
    const info = await stat(file.path!);
    const etag = `"${info.size}-${Math.round(info.mtimeMs)}"`;
    const headers = {
      etag,
      "last-modified": info.mtime.toUTCString(),
      "accept-ranges": "bytes",
    };
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const ifRange = req.headers["if-range"];
    if (range && (!ifRange || ifRange === etag)) {
      start = Number(range[1]);
      if (start >= info.size) {
        record(416);
        res.writeHead(416, { "content-range": `bytes */${info.size}` }).end();
        return;
      }
    }
    const status = start > 0 ? 206 : 200;
    record(status);
    res.writeHead(status, {
      ...headers,
      "content-length": info.size - start,
      ...(status === 206
        ? { "content-range": `bytes ${start}-${info.size - 1}/${info.size}` }
        : {}),
    });
    const end = fault?.kind === "truncate" ? start + fault.afterBytes - 1 : info.size - 1;
    const body = createReadStream(file.path!, { start, end, highWaterMark: 256 << 10 });
    const done = this.bytesPerSecond
      ? pipeline(body, throttle(this.bytesPerSecond), res)
      : pipeline(body, res);
    await done.catch(() => undefined);
    // A truncated answer: the client was promised more bytes than it got. (res.socket is
    // gone once the response finishes; the request keeps hold of the connection.)
    if (fault?.kind === "truncate") req.socket.destroy();
  }
}

function throttle(bytesPerSecond: number): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      setTimeout(() => callback(null, chunk), (chunk.length / bytesPerSecond) * 1000);
    },
  });
}

/**
 * A forward HTTP proxy on loopback, as HTTP_PROXY points to: it relays each request to the
 * server named in its absolute URL and counts them.
 */
export async function startProxy(): Promise<{
  url: string;
  count: () => number;
  close(): Promise<void>;
}> {
  let count = 0;
  const { request } = await import("node:http");
  const server = createServer((req, res) => {
    count++;
    const upstream = request(req.url!, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    count: () => count,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
