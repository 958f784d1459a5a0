import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startHostTar } from "../../src/sync/host-tar.js";

// tar's output is held until its reader takes it. A reader that stops taking it (it failed, it
// went away) must not leave tar, and whoever waits for it, blocked on a full pipe for ever: the
// race that once made an interrupted kvmci exit 0 with its run folder left.
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "kvmci-host-tar-"));
  // Far more than the pipe and the holding stream buffer together.
  await writeFile(join(dir, "big.bin"), randomBytes(8 * 1024 * 1024));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** A reader that takes one chunk and then never asks for more. */
function stalledReader(): Writable {
  return new Writable({ highWaterMark: 1, write: () => undefined });
}

/** Settles with the value, or with "still waiting" after `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | "still waiting"> {
  return Promise.race([
    promise,
    new Promise<"still waiting">((resolve) => setTimeout(() => resolve("still waiting"), ms)),
  ]);
}

describe("startHostTar", () => {
  it("ends when its signal aborts while the reader has stopped reading", async () => {
    const interrupt = new AbortController();
    const tar = startHostTar(["tar", "-C", dir, "-cf", "-", "."], { signal: interrupt.signal });
    tar.archive.pipe(stalledReader());
    // tar is blocked on its full stdout by now.
    expect(await within(tar.done, 500)).toBe("still waiting");
    interrupt.abort();
    expect(await within(tar.done, 5000)).toMatchObject({ exitCode: undefined, discarded: true });
  });

  it("ends when discarded after its reader gave up, and says it was stopped", async () => {
    const tar = startHostTar(["tar", "-C", dir, "-cf", "-", "."], {
      signal: new AbortController().signal,
    });
    const reader = stalledReader();
    tar.archive.pipe(reader);
    await within(tar.done, 300);
    tar.archive.unpipe(reader);
    tar.discard();
    expect(await within(tar.done, 5000)).toMatchObject({ discarded: true });
  });

  it("is not called discarded when it had finished on its own", async () => {
    const tar = startHostTar(["tar", "-C", dir, "-cf", "-", "."], {
      signal: new AbortController().signal,
    });
    tar.archive.resume();
    const done = await tar.done;
    tar.discard();
    expect(done).toMatchObject({ exitCode: 0, discarded: false });
    expect(tar.bytes()).toBeGreaterThan(8 * 1024 * 1024);
  });
});
