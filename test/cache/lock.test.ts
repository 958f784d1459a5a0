import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { acquireLock } from "../../src/cache/lock.js";

// The holders are separate node processes running src/cache/lock.ts, bundled here for them
// (it needs only Node.js's own modules).
const holder = fileURLToPath(new URL("../../fixtures/lock/hold-lock.mjs", import.meta.url));
let lockModule: string;
let bundleDir: string;

beforeAll(async () => {
  bundleDir = await mkdtemp(join(tmpdir(), "kvmci-lock-bundle-"));
  lockModule = join(bundleDir, "lock.js");
  await build({
    entryPoints: [fileURLToPath(new URL("../../src/cache/lock.ts", import.meta.url))],
    bundle: true,
    platform: "node",
    format: "esm",
    outfile: lockModule,
    logLevel: "warning",
  });
});
afterAll(() => rm(bundleDir, { recursive: true, force: true }));

async function scratch() {
  const dir = await mkdtemp(join(tmpdir(), "kvmci-lock-test-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return { lock: join(dir, "locks", "entry.lock"), log: join(dir, "log") };
}

describe("cache lock", () => {
  it("lets one process in at a time", async () => {
    const { lock, log } = await scratch();
    await writeFile(log, "");
    await Promise.all(
      Array.from({ length: 4 }, () => execa("node", [holder, lockModule, lock, log, "150"])),
    );
    const lines = (await readFile(log, "utf8")).trim().split("\n");
    expect(lines).toHaveLength(8);
    for (let i = 0; i < lines.length; i += 2) {
      const pid = lines[i]!.split(" ")[1];
      expect(lines[i]).toBe(`start ${pid}`);
      expect(lines[i + 1]).toBe(`end ${pid}`);
    }
  });

  it("is taken over at once when its holder was killed with SIGKILL", async () => {
    const { lock, log } = await scratch();
    const child = execa("node", [holder, lockModule, lock, log, "600000"]);
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    const waits: number[] = [];
    const attempt = acquireLock(lock, { pollMs: 20, onWait: (h) => waits.push(h.pid) });
    await new Promise((resolve) => setTimeout(resolve, 200));
    child.kill("SIGKILL");
    await child.catch(() => undefined);
    const started = Date.now();
    const held = await attempt;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(waits).toEqual([child.pid]);
    await held[Symbol.asyncDispose]();
  });

  it("waits no longer than asked, and says who holds it", async () => {
    const { lock } = await scratch();
    await using _first = await acquireLock(lock);
    // Our own process holds it, so it is alive: a second acquire has to wait and time out.
    await expect(acquireLock(lock, { timeoutMs: 100, pollMs: 20 })).rejects.toThrow(
      /Timed out waiting for the cache lock/,
    );
  });
});
