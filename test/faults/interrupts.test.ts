import { randomBytes } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { createFixtureProject, waitForOutput, sandboxPerTest } from "../integration/harness.js";

// Fault injection: SIGINT and SIGTERM delivered while each phase runs. kvmci must end within
// 5 s with 130/143 and leave no QEMU and no run folder. Warm phases start from the snapshot the
// default settings make (the first test makes it if needed); boot and ready boot cold.
const sandboxOf = sandboxPerTest();

const big = 192 * 1024 * 1024;

async function interrupt(
  args: string[],
  when: RegExp,
  signal: "SIGINT" | "SIGTERM",
  prepare?: (project: string) => Promise<void>,
  delayMs = 0,
) {
  const project = await createFixtureProject(sandboxOf());
  await prepare?.(project);
  const child = sandboxOf().start(["run", "--memory", "1G", ...args], project);
  await waitForOutput(child, when, 10 * 60_000);
  await sleep(delayMs);
  const sent = Date.now();
  child.kill(signal);
  const result = await child;
  return { result, ms: Date.now() - sent };
}

const cases: {
  phase: string;
  args: string[];
  when: RegExp;
  prepare?: (p: string) => Promise<void>;
  /** After `when` is seen: a phase that prints nothing as it starts is under way by then. */
  delayMs?: number;
}[] = [
  { phase: "boot", args: ["--no-snapshot", "--no-sync", "--", "true"], when: /✓ seed/ },
  { phase: "ready", args: ["--no-snapshot", "--no-sync", "--", "true"], when: /✓ boot/ },
  {
    // Over SSH: a guest that booted cold.
    phase: "sync",
    args: ["--no-snapshot", "--", "true"],
    when: /✓ ready/,
    // Incompressible, so that sending it takes a while even on loopback.
    prepare: (p) => writeFile(join(p, "big.bin"), randomBytes(big)),
  },
  {
    // Packing the workspace disk of a restored guest, before the restore.
    phase: "sync",
    args: ["--", "true"],
    when: /✓ seed/,
    // Packing 192 MiB takes a second or two; the phase starts a few milliseconds after seed.
    delayMs: 300,
    prepare: async (p) => {
      // The snapshot must be there, so that the run after seed is packing, not booting.
      const warmUp = await sandboxOf().start(
        ["run", "--memory", "1G", "--no-sync", "--", "true"],
        p,
      );
      expect(warmUp.exitCode, warmUp.all).toBe(0);
      await writeFile(join(p, "big.bin"), randomBytes(big));
    },
  },
  {
    phase: "command",
    args: ["--no-sync", "--", "sh", "-c", "echo started; sleep 600"],
    when: /^started$/m,
  },
  {
    phase: "artifacts",
    args: [
      "--no-sync",
      "--artifact",
      "big.bin",
      "--",
      "sh",
      "-c",
      `head -c ${big} /dev/urandom > big.bin`,
    ],
    when: /✓ command/,
  },
];

describe("interrupts in every phase", () => {
  for (const c of cases)
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      it(`${signal} during ${c.phase}${c.args.includes("--no-snapshot") && c.phase === "sync" ? " over SSH" : ""}: exits ${signal === "SIGINT" ? 130 : 143} within 5 s, nothing left`, async () => {
        const { result, ms } = await interrupt(c.args, c.when, signal, c.prepare, c.delayMs);
        expect(result.exitCode, result.all).toBe(signal === "SIGINT" ? 130 : 143);
        // The phase really was the one running when the signal came.
        expect(result.stderr).toMatch(new RegExp(`✗ ${c.phase}\\b`));
        expect(ms).toBeLessThan(5000);
      });
    }
});

describe("QEMU killed from outside", () => {
  it("during the command: reported at once as the guest stopping, with the console, exit 67", async () => {
    const project = await createFixtureProject(sandboxOf());
    const child = sandboxOf().start(
      ["run", "--memory", "1G", "--no-sync", "--", "sh", "-c", "echo started; sleep 600"],
      project,
    );
    await waitForOutput(child, /^started$/m, 10 * 60_000);
    // The QEMU this run started, by the pid it wrote in the run folder.
    const [folder] = (await readdir(sandboxOf().tmp)).filter((e) => e.startsWith("kvmci-run-"));
    const pid = Number(await readFile(join(sandboxOf().tmp, folder!, "qemu.pid"), "utf8"));
    const killed = Date.now();
    process.kill(pid, "SIGKILL");
    const result = await child;
    expect(result.exitCode, result.all).toBe(67);
    expect(result.stderr).toMatch(/The guest stopped \(QEMU ended by SIGKILL\)/);
    expect(Date.now() - killed).toBeLessThan(5000);
  });
});
