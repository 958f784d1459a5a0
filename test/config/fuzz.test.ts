import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import yaml from "js-yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import type { Process } from "../../src/cli/process.js";
import { loadRunConfig } from "../../src/config/load.js";
import { isKvmciError } from "../../src/errors.js";
import { runOptions } from "../../src/cli/options.js";
import { readRunArgs } from "../../src/cli/commands/run.js";
import { readMemInfo } from "../../src/host/meminfo.js";

// Generated configurations and flags: whatever they hold, kvmci answers with a configuration or
// with a usage/config error (64) that lists problems — never another error, never a stack.
let cwd: string;
beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), "kvmci-fuzz-"));
});
afterAll(() => rm(cwd, { recursive: true, force: true }));

// --help shows the help and exits 0 whatever else is given: not a bad input.
const names = runOptions.map((o) => o.name).filter((n) => n !== "help");
const value = fc.oneof(
  fc.string(),
  fc.constantFrom("2G", "0", "-1", "lots", "1/0", "3/2", "90s", "x=y", "=", "../x", "https://x"),
  fc.integer().map(String),
);
const flagArgs = fc.array(
  fc.oneof(
    fc.tuple(fc.constantFrom(...names), value).map(([n, v]) => [`--${n}`, v]),
    fc.tuple(fc.constantFrom(...names), value).map(([n, v]) => [`--${n}=${v}`]),
    fc.string().map((s) => [s]),
  ),
  { maxLength: 8 },
);

function fakeProcess(): Process & { err: string; out: string } {
  const p = {
    err: "",
    out: "",
    env: { KVMCI_CACHE_DIR: join(cwd, "cache") },
    exit: (code: number): never => {
      throw new Error(`exit ${code}`);
    },
    cwd: () => cwd,
    stdout: { write: (t: string) => ((p.out += t), true) },
    stderr: { write: (t: string) => ((p.err += t), true) },
    getuid: () => 1000,
    on: () => p,
    off: () => p,
  };
  return p as unknown as Process & { err: string; out: string };
}

describe("generated bad input", () => {
  it("kvmci.yml with any content: a configuration, or exit 64 with the problems listed", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom(...names, "matrix", "provision", "bogus"), fc.jsonValue(), {
          maxKeys: 6,
        }),
        async (settings) => {
          const path = join(cwd, "kvmci.yml");
          await writeFile(path, yaml.dump(settings));
          try {
            await loadRunConfig({ flags: {}, argv: ["true"], configPath: path, cwd });
          } catch (error) {
            expect(isKvmciError(error), String(error)).toBe(true);
            if (isKvmciError(error)) {
              expect(error.exitCode).toBe(64);
              // One problem is the message itself; several are listed under it.
              expect(error.message).toMatch(/^Invalid configuration/);
              expect(error.message).not.toMatch(/Too small|Invalid input/);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("kvmci run with bad flags: exit 64, every problem named, no stack trace", async () => {
    await fc.assert(
      fc.asyncProperty(flagArgs, async (groups) => {
        const proc = fakeProcess();
        // A flag that is always wrong, so that nothing is ever started.
        const argv = ["run", ...groups.flat(), "--memory", "lots", "--", "true"];
        const code = await main(argv, proc);
        expect(code, proc.err).toBe(64);
        expect(proc.err).toMatch(/^kvmci: error: /m);
        expect(proc.err).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
        expect(proc.err).not.toContain("internal error");
      }),
      { numRuns: 200 },
    );
  });

  // Values that look right (a size, a duration, a number) but may be out of range: what kvmci
  // accepts must be within what it can use, and what it refuses is a 64 listing the problems.
  it("flags that parse: accepted only within range, refused with 64 otherwise", async () => {
    const sizes = fc.constantFrom(
      "1K",
      "255M",
      "256M",
      "2048",
      "0.5G",
      "1G",
      "99999999T",
      "1e3",
      "100B",
    );
    const durations = fc.constantFrom(
      "1ms",
      "90s",
      "1.5m",
      "600h",
      "7d",
      "8d",
      "99999999999h",
      "0",
    );
    const counts = fc.constantFrom("1", "2", "64", "65", "0", "-1", "1.5", "100000", "99999999");
    const plausible = fc.array(
      fc.oneof(
        fc.tuple(fc.constantFrom("--memory", "--disk", "--artifacts-max-size"), sizes),
        fc.tuple(fc.constantFrom("--timeout", "--boot-timeout", "--idle-timeout"), durations),
        fc.tuple(fc.constantFrom("--cpus", "--parallel", "--artifacts-max-files"), counts),
        fc.tuple(fc.constant("--env"), fc.constantFrom("A=1", "PATH", "KVMCI_UNSET_X", "1A=2")),
        fc.tuple(fc.constant("--artifact"), fc.constantFrom("out/**", "../x", "/etc/*", "a b")),
        fc.tuple(fc.constant("--shard"), fc.constantFrom("1/2", "3/2", "0/1")),
      ),
      { maxLength: 6 },
    );
    const week = 7 * 86_400_000;
    const total = (await readMemInfo()).totalBytes;
    // A folder of its own: the test above leaves a generated kvmci.yml in cwd.
    const clean = join(cwd, "clean");
    await mkdir(clean, { recursive: true });
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(plausible, async (pairs) => {
        const argv = [...pairs.flat(), "--", "true"];
        try {
          const read = await readRunArgs("run", argv, { cwd: () => clean, env: { PATH: "/bin" } });
          if ("help" in read) return;
          accepted++;
          const { config } = read;
          for (const ms of [config.timeoutMs, config.bootTimeoutMs, config.idleTimeoutMs])
            if (ms !== undefined) expect(ms > 0 && ms <= week, `${ms} ms`).toBe(true);
          expect(config.memoryBytes).toBeGreaterThanOrEqual(256 * 1024 ** 2);
          expect(config.memoryBytes).toBeLessThanOrEqual(total - 1024 ** 3);
          expect(config.cpus >= 1 && config.cpus <= 64).toBe(true);
          for (const n of [
            config.diskBytes,
            config.artifactsLimits.maxBytes,
            config.artifactsLimits.maxEntries,
          ])
            if (n !== undefined) expect(Number.isSafeInteger(n) && n > 0, String(n)).toBe(true);
          for (const glob of config.artifacts) expect(glob).not.toMatch(/^\/|(^|\/)\.\.(\/|$)/);
          for (const [name, value] of Object.entries(config.env)) {
            expect(name).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
            expect(typeof value).toBe("string");
          }
        } catch (error) {
          expect(isKvmciError(error), String(error)).toBe(true);
          expect((error as { exitCode: number }).exitCode).toBe(64);
        }
      }),
      { numRuns: 300 },
    );
    // The property says something only if some generated argv got through.
    expect(accepted).toBeGreaterThan(20);
  });
});
