import { chmod, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSandbox, repoRoot, type Sandbox } from "./harness.js";

// The two ways people first meet kvmci on a machine: a GitHub-hosted runner (an ordinary user
// with passwordless sudo, on which AppArmor refuses unprivileged user namespaces) and a host
// without QEMU. Both must work with the default command and say what they did.

const cli = join(repoRoot, "bin", "kvmci.js");
const runnerUser = "kvmci-runner";
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await createSandbox();
  // The ordinary user must reach the folders its runs use.
  await chmod(sandbox.root, 0o755);
});

afterAll(async () => {
  const left = await sandbox.leftovers();
  await sandbox.dispose();
  expect(left, "no run folder and no QEMU may outlive a run").toEqual({ runFolders: [], qemu: [] });
});

/** A git project owned by `uid`, for `kvmci run` to sync. */
async function project(dir: string, uid = 0, gid = 0): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "hello.txt"), "hello\n");
  await execa("git", ["init", "-q"], { cwd: dir });
  await execa("chown", ["-R", `${uid}:${gid}`, dir]);
  return dir;
}

describe.runIf(process.getuid?.() === 0)("a GitHub-hosted runner, simulated", () => {
  let uid: number;
  let gid: number;
  let home: string;

  beforeAll(async () => {
    // An ordinary user with passwordless sudo, like `runner`.
    await execa("sh", [
      "-c",
      `id ${runnerUser} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash ${runnerUser}`,
    ]);
    await writeFile(`/etc/sudoers.d/${runnerUser}`, `${runnerUser} ALL=(ALL) NOPASSWD:ALL\n`, {
      mode: 0o440,
    });
    uid = Number((await execa("id", ["-u", runnerUser])).stdout);
    gid = Number((await execa("id", ["-g", runnerUser])).stdout);
    home = join(sandbox.root, "runner-home");
    await mkdir(join(home, "tmp"), { recursive: true });
    await execa("chown", ["-R", `${uid}:${gid}`, home]);
  });

  /**
   * kvmci as the runner's user, with its own empty cache and temp folder, where no user
   * namespace may be made: AppArmor's refusal on the real runner, here a seccomp filter
   * (fixtures/no-userns.py), since AppArmor cannot run on the test machines.
   */
  const noUserns = join(repoRoot, "fixtures", "no-userns.py");
  const asRunner = (args: string[], cwd: string) =>
    execa("python3", [noUserns, "runuser", "-u", runnerUser, "--", "node", cli, ...args], {
      cwd,
      reject: false,
      all: true,
      stdin: "ignore",
      env: {
        PATH: process.env.PATH,
        HOME: home,
        XDG_CACHE_HOME: join(home, "cache"),
        TMPDIR: join(home, "tmp"),
        CI: "true",
      },
      extendEnv: false,
    });

  it("builds the default image through sudo and runs the default command", async () => {
    const refused = await execa(
      "python3",
      [noUserns, "runuser", "-u", runnerUser, "--", "unshare", "--user", "--map-root-user", "true"],
      { reject: false },
    );
    expect(refused.exitCode, "user namespaces must be refused for this test").not.toBe(0);
    const dir = await project(join(home, "project"), uid, gid);
    const result = await asRunner(["run", "--memory", "1G", "--", "cat", "hello.txt"], dir);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toContain("hello");
    expect(result.stderr).toMatch(
      /building it from packages \(once\): building without root needs unprivileged user namespaces \(refused here[^)]*\).*the build runs as root through sudo -n/s,
    );
    // The cache is the runner's own, nothing in it root's.
    const owners = await execa("find", [join(home, "cache"), "!", "-user", runnerUser]);
    expect(owners.stdout).toBe("");
    expect(await readdir(join(home, "tmp"))).toEqual([]);
  });

  it("as that ordinary user, a hostile guest's artifacts land as plain files too", async () => {
    const dir = await project(join(home, "hostile"), uid, gid);
    const result = await asRunner(
      [
        "run",
        "--memory",
        "1G",
        "--artifact",
        "out/**",
        "--",
        "sh",
        "-c",
        [
          "mkdir -p out",
          "sudo cp /bin/sh out/shell && sudo chmod 4755 out/shell",
          "sudo mknod out/null c 1 3",
          "mkfifo out/fifo",
          "ln -s /etc/shadow out/shadow",
        ].join(" && "),
      ],
      dir,
    );
    expect(result.exitCode, result.all).toBe(0);
    const artifacts = join(dir, "kvmci-artifacts", "out");
    expect((await readdir(artifacts)).sort()).toEqual(["shell"]);
    const stat = await execa("stat", ["-c", "%U %a %F", join(artifacts, "shell")]);
    expect(stat.stdout).toBe(`${runnerUser} 755 regular file`);
    expect(result.stderr).toMatch(/3 entries from the guest's artifacts were not copied/);
  });
});

describe.runIf(process.getuid?.() === 0)("a host without QEMU", () => {
  let narrowPath: string;
  let dir: string;

  beforeAll(async () => {
    // Every command of the host's PATH but QEMU's: to kvmci, QEMU is not installed.
    narrowPath = join(sandbox.root, "bin-without-qemu");
    await mkdir(narrowPath);
    for (const folder of (process.env.PATH ?? "").split(":")) {
      const entries = await readdir(folder).catch(() => [] as string[]);
      for (const entry of entries) {
        if (entry.startsWith("qemu-")) continue;
        await symlink(join(folder, entry), join(narrowPath, entry)).catch(() => undefined);
      }
    }
    dir = await project(join(sandbox.root, "no-qemu"));
  });

  const run = (args: string[], o: { terminal?: string } = {}) => {
    const env = { ...sandbox.env, PATH: narrowPath };
    if (o.terminal !== undefined) {
      const line = ["node", cli, ...args].map((a) => `'${a}'`).join(" ");
      return execa("script", ["-qec", line, "/dev/null"], {
        cwd: dir,
        env,
        input: o.terminal,
        reject: false,
        all: true,
      });
    }
    return execa("node", [cli, ...args], {
      cwd: dir,
      env,
      reject: false,
      all: true,
      stdin: "ignore",
    });
  };

  it("--no-install: exit 69 with the exact apt-get command, nothing started", async () => {
    const result = await run(["run", "--no-install", "--", "true"]);
    expect(result.exitCode, result.all).toBe(69);
    expect(result.stderr).toMatch(
      /qemu-system-x86_64 and qemu-img are needed to run a guest but not installed \(--no-install/,
    );
    expect(result.stderr).toContain("sudo apt-get install -y qemu-system-x86 qemu-utils");
  });

  it("on a terminal, asks first; no is exit 69 with the command", async () => {
    const result = await run(["run", "--", "true"], { terminal: "n\n" });
    expect(result.exitCode, result.all).toBe(69);
    expect(result.all).toContain("install qemu-system-x86 qemu-utils with apt-get");
    expect(result.all).toMatch(/\[y\/N\]/);
    expect(result.all).toContain("you chose not to install them");
  });

  it("in CI, installs them with apt-get after saying so, and runs", async () => {
    const result = await run(["run", "--memory", "1G", "--", "cat", "hello.txt"]);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stderr).toMatch(
      /installing qemu-system-x86 qemu-utils with apt-get \(qemu-system-x86_64, qemu-img are needed to run a guest\)/,
    );
    expect(result.stderr).toMatch(/installed qemu-system-x86 qemu-utils in /);
    expect(result.stdout).toContain("hello");
  });
});
