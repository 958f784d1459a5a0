import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Header } from "tar";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { normalizeName, receiveTree, type TreeLimits } from "../../src/sync/receive-tree.js";

// Archives are made block by block with tar's own Header, so that entries no honest tar would
// write here (device nodes as an ordinary user, names with .., setuid files) can be sent.
interface Member {
  path: string;
  type?: "File" | "Directory" | "SymbolicLink" | "Link" | "CharacterDevice" | "FIFO";
  mode?: number;
  body?: string | Buffer;
  linkpath?: string;
}

function member(m: Member): Buffer {
  const body = typeof m.body === "string" ? Buffer.from(m.body) : (m.body ?? Buffer.alloc(0));
  const header = new Header({
    path: m.path,
    type: m.type ?? "File",
    mode: m.mode ?? 0o644,
    size: body.length,
    mtime: new Date("2026-01-02T03:04:05Z"),
    uid: 0,
    gid: 0,
    linkpath: m.linkpath,
  });
  const block = Buffer.alloc(512);
  header.encode(block, 0);
  const pad = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([block, body, pad]);
}

function archive(...members: Member[]): Buffer {
  return Buffer.concat([...members.map(member), Buffer.alloc(1024)]);
}

const roomy: TreeLimits = { maxBytes: 1024 ** 3, maxEntries: 10_000 };

let root: string;
let tree: string;
let outside: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "kvmci-receive-"));
  tree = join(root, "tree");
  outside = join(root, "outside");
  await mkdir(tree, { mode: 0o700 });
  await mkdir(outside);
  await writeFile(join(outside, "sentinel"), "unchanged\n");
});

afterEach(() => rm(root, { recursive: true, force: true }));

async function receive(data: Buffer, limits = roomy, umask = 0o022, chunk = 4096) {
  const receiver = receiveTree(tree, { limits, umask });
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; at += chunk) chunks.push(data.subarray(at, at + chunk));
  await pipeline(Readable.from(chunks), receiver.sink);
  return receiver.done;
}

async function everything(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe("receiveTree", () => {
  it("writes files and folders as this user, with modes from the umask and no special bits", async () => {
    const got = await receive(
      archive(
        { path: "./out/", type: "Directory", mode: 0o7777 },
        { path: "./out/report.txt", body: "ok\n", mode: 0o600 },
        { path: "./out/suid-shell", body: "#!/bin/sh\n", mode: 0o4755 },
        { path: "./out/sgid", body: "x", mode: 0o2777 },
      ),
      roomy,
      0o027,
    );
    expect(got.files).toEqual(["out/report.txt", "out/suid-shell", "out/sgid"]);
    expect(got.refused).toEqual([]);
    expect(got.stopped).toBeUndefined();
    const mode = async (p: string) => (await lstat(join(tree, p))).mode & 0o7777;
    expect(await mode("out")).toBe(0o750);
    expect(await mode("out/report.txt")).toBe(0o640);
    expect(await mode("out/suid-shell")).toBe(0o750);
    expect(await mode("out/sgid")).toBe(0o750);
    const stat = await lstat(join(tree, "out/suid-shell"));
    expect(stat.uid).toBe(process.getuid!());
    expect(stat.mtime.toISOString()).toBe("2026-01-02T03:04:05.000Z");
    expect(await readFile(join(tree, "out/report.txt"), "utf8")).toBe("ok\n");
  });

  it("never makes device nodes, FIFOs or hard links, and says which it refused", async () => {
    const got = await receive(
      archive(
        { path: "out/null", type: "CharacterDevice", mode: 0o666 },
        { path: "out/fifo", type: "FIFO" },
        { path: "out/passwd", type: "Link", linkpath: "/etc/passwd" },
        { path: "out/kept.txt", body: "kept" },
      ),
    );
    expect(got.files).toEqual(["out/kept.txt"]);
    expect(got.refused.map((r) => r.path)).toEqual(["out/null", "out/fifo", "out/passwd"]);
    expect(got.refused[0]!.why).toMatch(/device/);
    expect(got.refused[1]!.why).toMatch(/FIFO/);
    expect(got.refused[2]!.why).toMatch(/hard link to \/etc\/passwd, which is not a file of these/);
    expect(await everything(tree)).toEqual(["out", "out/kept.txt"]);
  });

  it("refuses names that leave the tree", async () => {
    const got = await receive(
      archive(
        { path: "../outside/sentinel", body: "overwritten" },
        { path: "/etc/kvmci-test", body: "x" },
        { path: "a/../../outside/new", body: "x" },
        { path: "./a//b/./c.txt", body: "fine" },
      ),
    );
    expect(got.refused.map((r) => r.path)).toEqual([
      "../outside/sentinel",
      "/etc/kvmci-test",
      "a/../../outside/new",
    ]);
    expect(got.files).toEqual(["a/b/c.txt"]);
    expect(await readFile(join(outside, "sentinel"), "utf8")).toBe("unchanged\n");
    expect(await readdir(outside)).toEqual(["sentinel"]);
  });

  it("keeps links that resolve inside the tree and drops the others", async () => {
    const got = await receive(
      archive(
        { path: "docs/v2/index.html", body: "<p>" },
        { path: "docs/latest", type: "SymbolicLink", linkpath: "v2" },
        { path: "passwd", type: "SymbolicLink", linkpath: "/etc/passwd" },
        { path: "up", type: "SymbolicLink", linkpath: "../outside" },
        { path: "dangling", type: "SymbolicLink", linkpath: "nothing-here" },
        // Each lexically inside; followed for real, the second leads out of the tree.
        { path: "d/top", type: "SymbolicLink", linkpath: ".." },
        { path: "escape", type: "SymbolicLink", linkpath: "d/top/.." },
      ),
    );
    expect(got.links.sort()).toEqual(["d/top", "docs/latest"]);
    expect(got.refused.map((r) => r.path).sort()).toEqual(["dangling", "escape", "passwd", "up"]);
    expect(await readlink(join(tree, "docs/latest"))).toBe("v2");
  });

  it("never writes through a link, whatever the order of the entries", async () => {
    const got = await receive(
      archive(
        { path: "s", type: "SymbolicLink", linkpath: "../outside" },
        { path: "s/sentinel", body: "overwritten" },
        { path: "t", type: "SymbolicLink", linkpath: "inside" },
        { path: "inside/", type: "Directory" },
        { path: "t/x", body: "x" },
      ),
    );
    expect(await readFile(join(outside, "sentinel"), "utf8")).toBe("unchanged\n");
    // The files went into real folders of those names; the links could not be made over them.
    expect((await lstat(join(tree, "s"))).isDirectory()).toBe(true);
    expect(got.files).toEqual(["s/sentinel", "t/x"]);
    expect(got.refused.map((r) => r.path).sort()).toEqual(["s", "t"]);
  });

  it("stops at the size limit, keeping the complete files and removing the cut one", async () => {
    const got = await receive(
      archive(
        { path: "a", body: Buffer.alloc(3000, 1) },
        { path: "b", body: Buffer.alloc(3000, 2) },
        { path: "c", body: Buffer.alloc(3000, 3) },
      ),
      { maxBytes: 7000, maxEntries: 100 },
    );
    expect(got.stopped).toMatch(/more than 6\.8 KiB/);
    expect(got.files).toEqual(["a", "b"]);
    expect(await everything(tree)).toEqual(["a", "b"]);
  });

  it("stops at the entry limit", async () => {
    const members = Array.from({ length: 20 }, (_, i) => ({ path: `f${i}`, body: "x" }));
    const got = await receive(archive(...members), { maxBytes: 1024 ** 2, maxEntries: 5 });
    expect(got.stopped).toMatch(/more than 5 files/);
    expect(got.files).toHaveLength(5);
  });

  it("ends at a truncated archive with what was complete, and says so", async () => {
    const whole = archive(
      { path: "one", body: Buffer.alloc(2000, 1) },
      { path: "two", body: Buffer.alloc(200_000, 2) },
    );
    const got = await receive(whole.subarray(0, 2560 + 512 + 50_000));
    expect(got.stopped).toMatch(/malformed/);
    expect(got.files).toEqual(["one"]);
    expect(await everything(tree)).toEqual(["one"]);
  });

  it("refuses a compressed stream instead of inflating it", async () => {
    const got = await receive(Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(600)]));
    expect(got.stopped).toMatch(/compressed/);
    expect(await everything(tree)).toEqual([]);
  });

  it("ends on garbage without making anything", async () => {
    const got = await receive(Buffer.alloc(4096, 0x41));
    expect(got.files).toEqual([]);
    expect(await everything(tree)).toEqual([]);
  });

  it("stop() ends reception at once, removing the file being written", async () => {
    const receiver = receiveTree(tree, { limits: roomy, umask: 0o022 });
    const data = archive({ path: "big", body: Buffer.alloc(1024 ** 2, 7) });
    receiver.sink.write(data.subarray(0, 512 + 65536));
    await new Promise((resolve) => setTimeout(resolve, 50));
    receiver.stop("the deadline passed");
    const got = await receiver.done;
    expect(got.stopped).toBe("the deadline passed");
    expect(got.files).toEqual([]);
    expect(await everything(tree)).toEqual([]);
  });

  it("moves a large file with bounded memory (back-pressure reaches the source)", async () => {
    const size = 64 * 1024 ** 2;
    const header = Buffer.alloc(512);
    new Header({ path: "big.bin", type: "File", size, mode: 0o644, mtime: new Date() }).encode(
      header,
      0,
    );
    function* source() {
      yield header;
      const block = Buffer.alloc(1024 ** 2, 9);
      for (let i = 0; i < size / block.length; i++) yield block;
      yield Buffer.alloc(1024);
    }
    const receiver = receiveTree(tree, { limits: roomy, umask: 0o022 });
    const before = process.memoryUsage().rss;
    await pipeline(Readable.from(source()), receiver.sink);
    const got = await receiver.done;
    expect(got.files).toEqual(["big.bin"]);
    expect((await lstat(join(tree, "big.bin"))).size).toBe(size);
    expect(process.memoryUsage().rss - before).toBeLessThan(48 * 1024 ** 2);
  });
});

describe("hard links", () => {
  it("to a file of the same archive become copies; to anything else, nothing", async () => {
    const got = await receive(
      archive(
        { path: "a.txt", body: "shared", mode: 0o600 },
        { path: "sub/b.txt", type: "Link", linkpath: "a.txt" },
        { path: "c.txt", type: "Link", linkpath: "../outside/sentinel" },
        { path: "d.txt", type: "Link", linkpath: "not-sent.txt" },
      ),
    );
    expect(got.files).toEqual(["a.txt", "sub/b.txt"]);
    expect(got.refused.map((r) => r.path)).toEqual(["c.txt", "d.txt"]);
    expect(await readFile(join(tree, "sub/b.txt"), "utf8")).toBe("shared");
    const [a, b] = await Promise.all([lstat(join(tree, "a.txt")), lstat(join(tree, "sub/b.txt"))]);
    expect(a.ino).not.toBe(b.ino);
    expect(b.nlink).toBe(1);
    expect(got.bytes).toBe(12);
  });
});

describe("normalizeName", () => {
  it.each([
    ["./a/b", "a/b"],
    ["a//b/", "a/b"],
    [".", ""],
    ["./", ""],
  ])("%s is %s", (name, path) => expect(normalizeName(name)).toEqual({ path }));

  it.each(["../a", "a/../../b", "/abs", "a/..", `${"x".repeat(256)}/y`, "a\0b"])(
    "%s is refused",
    (name) => expect(normalizeName(name)).toHaveProperty("why"),
  );
});
