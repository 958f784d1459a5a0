import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseMemInfo } from "../../src/host/meminfo.js";
import { identifyProcess } from "../../src/host/process-identity.js";
import { tryTakeHostSlot, waitForHostSlot } from "../../src/run/host-slots.js";

let cache: string;
beforeEach(async () => {
  cache = await mkdtemp(join(tmpdir(), "kvmci-slots-"));
});
afterEach(() => rm(cache, { recursive: true, force: true }));

const small = { memoryBytes: 64 * 1024 ** 2 };
const options = () => ({ parallel: undefined, signal: new AbortController().signal });

async function take(): Promise<AsyncDisposable> {
  const attempt = await tryTakeHostSlot(cache, small, options());
  if (!("slot" in attempt)) throw new Error("expected a slot");
  return attempt.slot;
}

describe("host slots", () => {
  it("gives as many slots as the host has CPUs, then a place in the queue", async () => {
    const held = [];
    for (let i = 0; i < availableParallelism(); i++) held.push(await take());
    const full = await tryTakeHostSlot(cache, small, options());
    expect(full).toMatchObject({ busy: { running: availableParallelism() } });

    const waiting = waitForHostSlot(cache, small, options());
    await held.pop()![Symbol.asyncDispose]();
    const slot = await waiting;
    expect(await readdir(join(cache, "guests"))).toHaveLength(availableParallelism());
    await slot[Symbol.asyncDispose]();
    for (const h of held) await h[Symbol.asyncDispose]();
    expect(await readdir(join(cache, "guests"))).toEqual([]);
  });

  it("--parallel above the CPU count lets more guests in", async () => {
    const n = availableParallelism() + 1;
    const held = [];
    for (let i = 0; i < n; i++) {
      const attempt = await tryTakeHostSlot(cache, small, { ...options(), parallel: n });
      if (!("slot" in attempt)) throw new Error(`no slot ${i}`);
      held.push(attempt.slot);
    }
    for (const h of held) await h[Symbol.asyncDispose]();
  });

  it("frees the slots of processes that died", async () => {
    const dead = await execa("sh", ["-c", "echo $$"]);
    const owner = { ...(await identifyProcess()), pid: Number(dead.stdout) };
    await take().then((s) => s[Symbol.asyncDispose]());
    for (let i = 0; i < availableParallelism(); i++)
      await writeFile(
        join(cache, "guests", `dead-${i}.json`),
        JSON.stringify({ owner, memoryBytes: small.memoryBytes }),
      );
    const slot = await take();
    expect(await readdir(join(cache, "guests"))).toHaveLength(1);
    await slot[Symbol.asyncDispose]();
  });

  it("stops waiting when the run is interrupted", async () => {
    const held = [];
    for (let i = 0; i < availableParallelism(); i++) held.push(await take());
    const controller = new AbortController();
    const waiting = waitForHostSlot(cache, small, {
      parallel: undefined,
      signal: controller.signal,
    });
    controller.abort();
    await expect(waiting).rejects.toThrow();
    for (const h of held) await h[Symbol.asyncDispose]();
  });

  it("reads MemTotal and MemAvailable", () => {
    expect(
      parseMemInfo("MemTotal:       24000000 kB\nMemFree: 1 kB\nMemAvailable:   20000000 kB\n"),
    ).toEqual({ totalBytes: 24000000 * 1024, availableBytes: 20000000 * 1024 });
    expect(parseMemInfo("MemTotal: 1 kB\n")).toBeUndefined();
  });
});
