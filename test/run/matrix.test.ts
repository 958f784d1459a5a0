import { describe, expect, it } from "vitest";
import { loadRunConfig } from "../../src/config/load.js";
import { matrixExitCode, planGuests, runMatrix } from "../../src/run/matrix.js";
import type { RunDeps, RunResult } from "../../src/run/run.js";

const cwd = "/nonexistent-kvmci-test";
const G = 1024 ** 3;

async function config(
  flags: Parameters<typeof loadRunConfig>[0]["flags"],
  hostArch: "x86_64" | "aarch64" = "x86_64",
) {
  return loadRunConfig({ flags, argv: ["true"], configPath: undefined, cwd, hostArch });
}

describe("planGuests", () => {
  it("makes one guest per image, each with its own artifacts folder and console copy", async () => {
    const guests = planGuests(
      await config({ image: ["debian-12", "ubuntu-24.04"], "console-log": "console.log" }),
    );
    expect(guests.map((g) => [g.name, g.config.image])).toEqual([
      ["debian-12", "debian-12"],
      ["ubuntu-24.04", "ubuntu-24.04"],
    ]);
    expect(guests[1]!.config.artifactsDir).toBe(`${cwd}/kvmci-artifacts/ubuntu-24.04`);
    expect(guests[1]!.config.consoleLog).toBe(`${cwd}/console.ubuntu-24.04.log`);
  });

  it("applies matrix entries over the run's settings and names repeats apart", async () => {
    const guests = planGuests(
      await config({
        memory: "2G",
        env: ["A=run"],
        matrix: [{ memory: "1G", env: { B: "1" } }, { env: { A: "entry" } }],
      }),
    );
    expect(guests.map((g) => g.name)).toEqual(["debian-12", "debian-12-2"]);
    expect(guests[0]!.config.memoryBytes).toBe(G);
    expect(guests[0]!.config.env).toEqual({ A: "run", B: "1" });
    expect(guests[1]!.config.memoryBytes).toBe(2 * G);
    expect(guests[1]!.config.env).toEqual({ A: "entry" });
  });

  it("runs guests of the host's architecture unless told otherwise", async () => {
    expect(planGuests(await config({})).map((g) => g.config.arch)).toEqual(["x86_64"]);
    expect(planGuests(await config({}, "aarch64")).map((g) => g.config.arch)).toEqual(["aarch64"]);
    const one = planGuests(await config({ arch: "aarch64" }));
    expect(one.map((g) => [g.name, g.config.arch])).toEqual([["debian-12", "aarch64"]]);
  });

  it("makes one guest per image and architecture, named after both", async () => {
    const guests = planGuests(
      await config({ image: ["debian-12", "debian-13"], arch: ["x86_64", "aarch64"] }),
    );
    expect(guests.map((g) => [g.name, g.config.image, g.config.arch])).toEqual([
      ["debian-12-x86_64", "debian-12", "x86_64"],
      ["debian-12-aarch64", "debian-12", "aarch64"],
      ["debian-13-x86_64", "debian-13", "x86_64"],
      ["debian-13-aarch64", "debian-13", "aarch64"],
    ]);
    expect(guests[1]!.config.artifactsDir).toBe(`${cwd}/kvmci-artifacts/debian-12-aarch64`);
    expect(guests[1]!.config.matrix).toEqual([
      { name: "debian-12-aarch64", image: "debian-12", arch: "aarch64" },
    ]);
  });

  it("takes arch: in matrix entries, the run's arch as their default", async () => {
    const guests = planGuests(
      await config({
        arch: "aarch64",
        matrix: [{ name: "arm" }, { name: "x86", arch: "x86_64" }, { image: "debian-13" }],
      }),
    );
    expect(guests.map((g) => [g.name, g.config.arch])).toEqual([
      ["arm", "aarch64"],
      ["x86", "x86_64"],
      ["debian-13-aarch64", "aarch64"],
    ]);
  });

  it("refuses an architecture it does not know, naming the one meant", async () => {
    await expect(config({ arch: "arm64" })).rejects.toThrow(
      'Invalid configuration: --arch: expected x86_64 or aarch64, got "arm64" (that is aarch64 here)',
    );
    await expect(config({ arch: ["x86_64", "aarch64"], matrix: [{ cpus: 1 }] })).rejects.toThrow(
      /Invalid configuration/,
    );
  });

  it("keeps one shard's part and tells its guests which part of the suite is theirs", async () => {
    const guests = planGuests(await config({ image: ["debian-12"], shard: "3/4" }));
    expect(guests).toHaveLength(1);
    expect(guests[0]!.config.env).toMatchObject({ KVMCI_SHARD_INDEX: "3", KVMCI_SHARD_TOTAL: "4" });
    expect(guests[0]!.config.artifactsDir).toBe(`${cwd}/kvmci-artifacts`);
  });

  it("refuses image lists and matrix: together, and bad shards", async () => {
    await expect(config({ image: ["a", "b"], matrix: [{ cpus: 1 }] })).rejects.toThrow(
      /Invalid configuration/,
    );
    await expect(config({ shard: "5/4" })).rejects.toThrow(/Invalid configuration/);
  });
});

function result(outcome: RunResult["outcome"]): RunResult {
  return {
    outcome,
    exitCode: outcome === "passed" ? 0 : outcome === "interrupted" ? 130 : 1,
    image: undefined,
    accel: undefined,
    boot: undefined,
    phases: [],
    artifacts: [],
    cloudInitErrors: [],
    warnings: [],
    prepared: undefined,
    snapshot: undefined,
    error: undefined,
  };
}

/** A stand-in for one guest's run: ends after `ms`, or when its signal is aborted. */
function fakeRun(
  plan: Record<string, { ms: number; outcome: RunResult["outcome"] }>,
  log: string[],
) {
  return (c: { image: string; matrix: { name: string }[] }, deps: RunDeps): Promise<RunResult> => {
    const name = c.matrix[0]!.name;
    log.push(`start ${name}`);
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        log.push(`stopped ${name}`);
        resolve(result("interrupted"));
      };
      const timer = setTimeout(() => {
        deps.signal.removeEventListener("abort", onAbort);
        log.push(`end ${name}`);
        resolve(result(plan[name]!.outcome));
      }, plan[name]!.ms);
      deps.signal.addEventListener("abort", onAbort);
    });
  };
}

const deps = (signal = new AbortController().signal) => ({ signal }) as RunDeps;

describe("runMatrix", () => {
  it("runs within the limits and queues the rest in order", async () => {
    const guests = planGuests(await config({ image: ["a", "b", "c"] }));
    const log: string[] = [];
    const outcomes = await runMatrix(guests, deps(), {
      limits: { maxGuests: 2, memoryBytes: 64 * G },
      failFast: false,
      emitFor: () => () => undefined,
      runGuest: fakeRun(
        {
          a: { ms: 30, outcome: "passed" },
          b: { ms: 60, outcome: "failed" },
          c: { ms: 10, outcome: "passed" },
        },
        log,
      ),
    });
    expect(log).toEqual(["start a", "start b", "end a", "start c", "end c", "end b"]);
    expect(outcomes.map((o) => o.result?.outcome)).toEqual(["passed", "failed", "passed"]);
    expect(matrixExitCode(outcomes, new AbortController().signal)).toBe(77);
  });

  it("shows a warning about the host once, and each guest's own warnings for each", async () => {
    const guests = planGuests(await config({ image: ["a", "b"] }));
    const shown: string[] = [];
    await runMatrix(guests, deps(), {
      limits: { maxGuests: 2, memoryBytes: 64 * G },
      failFast: false,
      emitFor: (name) => (event) => {
        if (event.type === "warning") shown.push(`${name}: ${event.message}`);
      },
      runGuest: (_config, _deps, emit) => {
        emit({ type: "warning", about: "host", message: "KVM is not usable here" });
        emit({ type: "warning", message: "cloud-init reported: x" });
        return Promise.resolve(result("passed"));
      },
    });
    expect(shown).toEqual([
      "a: KVM is not usable here",
      "a: cloud-init reported: x",
      "b: cloud-init reported: x",
    ]);
  });

  it("waits for memory: a guest that does not fit next to the running one waits", async () => {
    const guests = planGuests(await config({ image: ["a", "b"], memory: "3G" }));
    const log: string[] = [];
    await runMatrix(guests, deps(), {
      limits: { maxGuests: 2, memoryBytes: 5 * G },
      failFast: false,
      emitFor: () => () => undefined,
      runGuest: fakeRun(
        { a: { ms: 20, outcome: "passed" }, b: { ms: 20, outcome: "passed" } },
        log,
      ),
    });
    expect(log).toEqual(["start a", "end a", "start b", "end b"]);
  });

  it("with fail-fast, stops the running guests and never starts the queued ones", async () => {
    const guests = planGuests(await config({ image: ["a", "b", "c"] }));
    const log: string[] = [];
    const outcomes = await runMatrix(guests, deps(), {
      limits: { maxGuests: 2, memoryBytes: 64 * G },
      failFast: true,
      emitFor: () => () => undefined,
      runGuest: fakeRun(
        {
          a: { ms: 10, outcome: "failed" },
          b: { ms: 5000, outcome: "passed" },
          c: { ms: 10, outcome: "passed" },
        },
        log,
      ),
    });
    expect(log).toEqual(["start a", "start b", "end a", "stopped b"]);
    expect(outcomes.map((o) => [o.result?.outcome, o.stoppedBy])).toEqual([
      ["failed", undefined],
      ["interrupted", "fail-fast"],
      [undefined, "fail-fast"],
    ]);
  });

  it("on Ctrl-C stops every guest and says so with 130", async () => {
    const guests = planGuests(await config({ image: ["a", "b"] }));
    const controller = new AbortController();
    const log: string[] = [];
    setTimeout(() => controller.abort("SIGINT"), 20);
    const outcomes = await runMatrix(guests, deps(controller.signal), {
      limits: { maxGuests: 2, memoryBytes: 64 * G },
      failFast: false,
      emitFor: () => () => undefined,
      runGuest: fakeRun(
        { a: { ms: 5000, outcome: "passed" }, b: { ms: 5000, outcome: "passed" } },
        log,
      ),
    });
    expect(log.filter((l) => l.startsWith("stopped"))).toHaveLength(2);
    expect(matrixExitCode(outcomes, controller.signal)).toBe(130);
  });
});
