import { mkdtemp, rm, writeFile } from "node:fs/promises";
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
});
