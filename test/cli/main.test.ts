import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import type { Process } from "../../src/cli/process.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "kvmci-main-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** A process for main(): real streams collected into strings, env and cwd as given. */
function fakeProcess(env: NodeJS.ProcessEnv, cwd: () => string = () => dir) {
  const out = { stdout: "", stderr: "" };
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on("data", (c: Buffer) => (out.stdout += c.toString()));
  stderr.on("data", (c: Buffer) => (out.stderr += c.toString()));
  const proc: Process = {
    env,
    exit: () => {
      throw new Error("exit called");
    },
    cwd,
    stdout,
    stderr,
    getuid: () => 1000,
    on: () => undefined,
    off: () => undefined,
  };
  return { proc, out };
}

describe("kvmci's exit codes for what is not a guest's doing", () => {
  it("69 when the cache folder cannot be used, saying why and how to fix it", async () => {
    const file = join(dir, "not-a-folder");
    await writeFile(file, "");
    // (`kvmci run` checks the same way, after the QEMU tools it needs first.)
    for (const argv of [["gc"], ["image", "pull", "debian-12"], ["image", "build"]]) {
      const { proc, out } = fakeProcess({ ...process.env, KVMCI_CACHE_DIR: join(file, "cache") });
      expect(await main(argv, proc), out.stderr).toBe(69);
      expect(out.stderr).toContain(
        `Cannot use the cache folder ${join(file, "cache")}: a file is in the way`,
      );
      expect(out.stderr).toContain("Set KVMCI_CACHE_DIR to a folder you can write to");
      expect(out.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it("70 for a bug, asking for a report and keeping the stack for it", async () => {
    const { proc, out } = fakeProcess({ ...process.env, KVMCI_CACHE_DIR: dir }, () => {
      throw new Error("a bug");
    });
    expect(await main(["run", "--", "true"], proc)).toBe(70);
    expect(out.stderr).toContain("kvmci: internal error (a bug in kvmci");
    expect(out.stderr).toContain("please report it with this output");
    expect(out.stderr).toMatch(/Error: a bug\n\s+at /);
  });
});

describe("mistyped words get a suggestion (exit 64, nothing started)", () => {
  it.each([
    [["run", "--imag", "x"], "--imag: unknown option (did you mean --image?)"],
    [["prepare", "--no-snapshots"], "--no-snapshots: unknown option (did you mean --no-snapshot?)"],
    [["imgae"], 'Unknown command "imgae" (did you mean image?)'],
    [["image", "lst"], 'Unknown image command "lst" (did you mean ls?)'],
    [["image", "ls", "--availabel"], "--availabel: unknown option (did you mean --available?)"],
    [["image", "build", "--forse"], "--forse: unknown option (did you mean --force?)"],
    [["gc", "--dryrun"], "--dryrun: unknown option (did you mean --dry-run?)"],
    [["gc", "--max-sise", "1G"], "--max-sise: unknown option (did you mean --max-size?)"],
  ])("kvmci %j", async (argv, message) => {
    const { proc, out } = fakeProcess({ ...process.env, KVMCI_CACHE_DIR: dir });
    expect(await main(argv, proc), out.stderr).toBe(64);
    expect(out.stderr).toContain(message);
  });

  it("says no more than that a word is unknown when nothing is close", async () => {
    const { proc, out } = fakeProcess({ ...process.env, KVMCI_CACHE_DIR: dir });
    expect(await main(["run", "--bogus-flag", "--", "true"], proc)).toBe(64);
    expect(out.stderr).toContain("--bogus-flag: unknown option\n");
  });
});

describe("missing or extra words are usage errors (exit 64), told before the cache is touched", () => {
  it.each([
    [["image", "pull"], "expected an image name or URL, as in `kvmci image pull ubuntu-24.04`"],
    [["image", "pull", "a", "b"], 'unexpected "b"'],
    [["image", "build", "debian-12", "x"], 'unexpected "x"'],
    [["image", "ls", "x"], 'unexpected "x"'],
    [["image", "rm"], "expected what to remove"],
    [["gc", "x"], 'unexpected "x"'],
    [["doctor", "x"], 'unexpected "x"'],
    [["run", "npm", "test"], 'unexpected "npm": put the command after `--`'],
    [["prepare", "x"], 'unexpected "x": kvmci prepare takes options only'],
    [["prepare", "--", "true"], "kvmci prepare runs no command"],
    [["--version", "x"], "Unexpected x: nothing follows kvmci --version"],
    [["help", "run", "x"], "Unexpected x after kvmci help run"],
    [["help", "bogus"], 'Unknown command "bogus"'],
  ])("kvmci %j", async (argv, message) => {
    const file = join(dir, "not-a-folder");
    await writeFile(file, "");
    const { proc, out } = fakeProcess({ ...process.env, KVMCI_CACHE_DIR: join(file, "cache") });
    expect(await main(argv, proc), out.stderr).toBe(64);
    expect(out.stderr).toContain(message);
  });

  it("kvmci image alone lists its subcommands", async () => {
    const { proc, out } = fakeProcess({ ...process.env, KVMCI_CACHE_DIR: dir });
    expect(await main(["image"], proc)).toBe(64);
    expect(out.stderr.split("\n")).toEqual([
      "kvmci: error: kvmci image needs a subcommand: pull, build, ls, rm",
      "  kvmci image pull NAME|URL#sha256=DIGEST [--arch ARCH]",
      "  kvmci image build [NAME] [options]",
      "  kvmci image ls [--available] [--json]",
      "  kvmci image rm NAME|ENTRY|DIGEST...",
      "kvmci: hint: `kvmci image --help` says what each does.",
      "",
    ]);
    expect(out.stdout).toBe("");
  });
});

describe("--verbose and --quiet", () => {
  it("are one or the other", async () => {
    const { proc, out } = fakeProcess({ ...process.env, KVMCI_CACHE_DIR: dir });
    expect(await main(["run", "--verbose", "--quiet", "--", "true"], proc)).toBe(64);
    expect(out.stderr).toContain("--verbose and --quiet: give one or the other");
  });

  it("are not settings: kvmci.yml has neither", async () => {
    await writeFile(join(dir, "kvmci.yml"), "quiet: true\nverbose: true\n");
    const { proc, out } = fakeProcess({ ...process.env, KVMCI_CACHE_DIR: dir });
    expect(await main(["run", "--", "true"], proc)).toBe(64);
    expect(out.stderr).toContain("kvmci.yml: quiet: unknown setting");
    expect(out.stderr).toContain("kvmci.yml: verbose: unknown setting");
  });
});
