import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { resolveCacheDir } from "../../src/image/cache.js";
import { createFixtureProject, repoRoot, sandboxPerTest, type Sandbox } from "./harness.js";

// When a run fails: a shell in the guest on the person's terminal, kept guests, and kvmci ls,
// ssh and stop, against real guests (warm starts from the shared cache's snapshot).

const sandboxOf = sandboxPerTest();
const cli = join(repoRoot, "bin", "kvmci.js");

interface Kept {
  name: string;
  state: string;
  sshPort: number;
  until: string;
}

/** kvmci's own subcommands, run in the sandbox. */
function kvmci(sandbox: Sandbox, args: string[], cwd = sandbox.root) {
  return execa("node", [cli, ...args], {
    cwd,
    env: sandbox.env,
    reject: false,
    all: true,
    stdin: "ignore",
  });
}

async function keptGuests(sandbox: Sandbox): Promise<Kept[]> {
  return JSON.parse((await kvmci(sandbox, ["ls", "--json"])).stdout) as Kept[];
}

/**
 * Runs kvmci on a pseudo-terminal (script(1)), typing `lines` once `prompt` shows. Returns what
 * the terminal showed and when the prompt came.
 */
async function onTerminal(
  sandbox: Sandbox,
  cwd: string,
  args: string[],
  prompt: RegExp,
  lines: string[],
) {
  const line = ["node", cli, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
  const child = execa("script", ["-qfec", line, "/dev/null"], {
    cwd,
    env: { ...sandbox.env, TERM: "xterm" },
    reject: false,
    stdin: "pipe",
  });
  const started = Date.now();
  let seen = "";
  let promptAfterMs: number | undefined;
  child.stdout?.on("data", (chunk: Buffer) => {
    seen += chunk.toString();
    if (promptAfterMs === undefined && prompt.test(seen)) {
      promptAfterMs = Date.now() - started;
      void (async () => {
        for (const text of lines) {
          child.stdin?.write(`${text}\r`);
          await sleep(1000);
        }
      })();
    }
  });
  const result = await child;
  return { exitCode: result.exitCode, output: seen, promptAfterMs };
}

describe("--shell-on-failure", () => {
  it("opens a shell in the guest on a terminal; its exit tears the guest down, the code stays", async () => {
    const sandbox = sandboxOf();
    const project = await createFixtureProject(sandbox);
    const run = await onTerminal(
      sandbox,
      project,
      ["run", "--memory", "1G", "--shell-on-failure", "--", "sh", "-c", "echo failing; exit 3"],
      /debian@kvmci-[a-z0-9]+:\/work\$ /,
      ["echo typed-in-the-guest $(whoami) $(pwd) $(ls tracked.txt) $((6*7))", "exit"],
    );
    expect(run.exitCode, run.output).toBe(3);
    expect(run.output).toContain(
      "the command failed with exit code 3: here is a shell in the guest",
    );
    expect(run.output).toContain("typed-in-the-guest debian /work tracked.txt 42");
    expect(run.output).toMatch(/✗ failed with exit code 3/);
    console.log(`from kvmci's start to the guest's shell prompt: ${run.promptAfterMs} ms`);
  });

  it("without a terminal, says once that it skipped the shell and why", async () => {
    const sandbox = sandboxOf();
    const project = await createFixtureProject(sandbox);
    const result = await sandbox.start(
      ["run", "--memory", "1G", "--shell-on-failure", "--", "sh", "-c", "exit 4"],
      project,
    );
    expect(result.exitCode, result.all).toBe(4);
    expect(result.stderr).toContain(
      "--shell-on-failure: no shell (the command failed with exit code 4), since kvmci's input and output are not a terminal",
    );
  });
});

describe("kept guests", () => {
  it("--keep, then ls, ssh (a command, and --print with OpenSSH), stop: nothing left", async () => {
    const sandbox = sandboxOf();
    const project = await createFixtureProject(sandbox);
    const run = await sandbox.start(
      ["run", "--memory", "1G", "--keep=10m", "--", "sh", "-c", "echo kept > /tmp/marker"],
      project,
    );
    expect(run.exitCode, run.all).toBe(0);
    const name = /kept the guest as (\S+) for 10m00s/.exec(run.stderr)?.[1];
    expect(name, run.stderr).toBeDefined();
    const listed = (await keptGuests(sandbox)).find((k) => k.name === name);
    expect(listed?.state).toBe("running");
    // The run folder stays private.
    const [folder] = (await readdir(sandbox.tmp)).filter((e) => e.startsWith("kvmci-run-"));
    const mode = await execa("stat", ["-c", "%a", join(sandbox.tmp, folder!)]);
    expect(mode.stdout).toBe("700");
    const key = await execa("stat", ["-c", "%a", join(sandbox.tmp, folder!, "client-key")]);
    expect(key.stdout).toBe("600");

    const remote = await kvmci(sandbox, [
      "ssh",
      name!,
      "--",
      "sh",
      "-c",
      "cat /tmp/marker; hostname; exit 5",
    ]);
    expect(remote.exitCode, remote.all).toBe(5);
    expect(remote.stdout).toMatch(/^kept\nkvmci-/);

    const printed = (await kvmci(sandbox, ["ssh", name!, "--print"])).stdout.trim();
    expect(printed).toMatch(
      /^ssh -i \S+\/client-key .*-o StrictHostKeyChecking=yes .*debian@127\.0\.0\.1$/,
    );
    const openssh = await execa("sh", ["-c", `${printed} -o BatchMode=yes uname -m`], {
      reject: false,
      all: true,
    });
    expect(openssh.exitCode, openssh.all).toBe(0);
    expect(openssh.stdout.trim()).toBe("x86_64");

    const stopped = await kvmci(sandbox, ["stop", name!]);
    expect(stopped.exitCode, stopped.all).toBe(0);
    expect((await keptGuests(sandbox)).some((k) => k.name === name)).toBe(false);
  });

  it("a kept guest stops by itself when its time is up, and gc removes it", async () => {
    const sandbox = sandboxOf();
    const project = await createFixtureProject(sandbox);
    const run = await sandbox.start(["run", "--memory", "1G", "--keep=15s", "--", "true"], project);
    expect(run.exitCode, run.all).toBe(0);
    const name = /kept the guest as (\S+)/.exec(run.stderr)![1]!;
    await sleep(25_000);
    const after = (await keptGuests(sandbox)).find((k) => k.name === name);
    expect(after?.state).toBe("stopped");
    const gc = await kvmci(sandbox, ["gc"]);
    expect(gc.stdout).toContain(`removed kept guest ${name}: its keeper is gone`);
    expect((await keptGuests(sandbox)).some((k) => k.name === name)).toBe(false);
  });

  it("outlives its kvmci; a keeper killed with kill -9 takes QEMU with it, and gc cleans up", async () => {
    const sandbox = sandboxOf();
    const project = await createFixtureProject(sandbox);
    const run = await sandbox.start(["run", "--memory", "1G", "--keep=10m", "--", "true"], project);
    expect(run.exitCode, run.all).toBe(0);
    const name = /kept the guest as (\S+)/.exec(run.stderr)![1]!;
    // kvmci has ended; the guest still answers.
    expect((await kvmci(sandbox, ["ssh", name, "--", "true"])).exitCode).toBe(0);
    const record = JSON.parse(
      await readFile(join(resolveCacheDir(sandbox.env), "kept", `${name}.json`), "utf8"),
    ) as { owner: { pid: number } };
    process.kill(record.owner.pid, "SIGKILL");
    for (let i = 0; i < 50; i++) {
      if ((await sandbox.leftovers()).qemu.length === 0) break;
      await sleep(200);
    }
    expect((await sandbox.leftovers()).qemu).toEqual([]);
    expect((await keptGuests(sandbox)).find((k) => k.name === name)?.state).toBe("stopped");
    const gc = await kvmci(sandbox, ["gc"]);
    expect(gc.stdout).toContain(`removed kept guest ${name}`);
  });
});
