import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa, type ResultPromise } from "execa";
import { afterEach, beforeEach, expect } from "vitest";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const cli = join(repoRoot, "bin", "kvmci.js");

/**
 * One sandbox per test: its own TMPDIR (where run folders go), so that "nothing left behind"
 * can be checked for exactly the runs this test started. The image cache is shared.
 */
const cliOptions = { reject: false, all: true, stdin: "ignore" } as const;
export type Kvmci = ResultPromise<typeof cliOptions & { cwd: string; env: NodeJS.ProcessEnv }>;

export interface Sandbox {
  root: string;
  tmp: string;
  env: NodeJS.ProcessEnv;
  start(args: string[], cwd: string, extraEnv?: NodeJS.ProcessEnv): Kvmci;
  leftovers(): Promise<{ runFolders: string[]; qemu: string[] }>;
  dispose(): Promise<void>;
}

export async function createSandbox(): Promise<Sandbox> {
  const root = await mkdtemp(join(tmpdir(), "kvmci-it-"));
  const tmp = join(root, "tmp");
  await mkdir(tmp, { recursive: true });
  const env = { ...process.env, TMPDIR: tmp };
  return {
    root,
    tmp,
    env,
    start: (args, cwd, extraEnv = {}) =>
      execa("node", [cli, ...args], { ...cliOptions, cwd, env: { ...env, ...extraEnv } }),
    async leftovers() {
      const runFolders = (await readdir(tmp)).filter((e) => e.startsWith("kvmci-run-"));
      // Reading the process table is fine; we never kill by name, only check for our own paths.
      const ps = await execa("ps", ["-eo", "pid,args"]);
      const qemu = ps.stdout
        .split("\n")
        .filter((l) => l.includes("qemu-system") && l.includes(tmp));
      return { runFolders, qemu };
    },
    dispose: () => rm(root, { recursive: true, force: true }),
  };
}

/** A copy of fixtures/project as a git work tree: a tracked, an untracked and an ignored file. */
export async function createFixtureProject(sandbox: Sandbox): Promise<string> {
  const dir = join(sandbox.root, "project");
  await cp(join(repoRoot, "fixtures", "project"), dir, { recursive: true });
  const git = (...args: string[]) =>
    execa("git", ["-c", "user.name=kvmci", "-c", "user.email=kvmci@example.invalid", ...args], {
      cwd: dir,
    });
  await git("init", "-q");
  await git("add", ".");
  await git("commit", "-qm", "fixture");
  await writeFile(join(dir, "untracked.txt"), "untracked\n");
  await writeFile(join(dir, "ignored.txt"), "ignored\n");
  return dir;
}

/** Resolves when the running CLI has printed a line matching `pattern`. */
export function waitForOutput(child: Kvmci, pattern: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${pattern}; saw:\n${seen.slice(-2000)}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    // A kvmci that ends without printing it never will: say so now, not at the timeout.
    child.on("close", (code) => {
      if (pattern.test(seen)) return;
      clearTimeout(timer);
      reject(
        new Error(`kvmci exited (${code}) before printing ${pattern}; saw:\n${seen.slice(-2000)}`),
      );
    });
  });
}

/**
 * A fresh sandbox for each test of the file, checked after the test: no run folder and no QEMU
 * started from it may outlive a run. Returns a getter for the current test's sandbox.
 */
export function sandboxPerTest(): () => Sandbox {
  let sandbox: Sandbox | undefined;
  beforeEach(async () => {
    sandbox = await createSandbox();
  });
  afterEach(async () => {
    const left = await sandbox!.leftovers();
    await sandbox!.dispose();
    expect(left, "no run folder and no QEMU may outlive a run").toEqual({
      runFolders: [],
      qemu: [],
    });
  });
  return () => sandbox!;
}
