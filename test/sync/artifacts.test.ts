import { spawn } from "node:child_process";
import {
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { artifactsMarker, checkArtifactsDir, collectArtifacts } from "../../src/sync/artifacts.js";
import type { ExecIo, RemoteShell } from "../../src/ssh/session.js";
import { artifactsDevice, makeArtifactsDisk } from "../../src/sync/artifacts-disk.js";
import { diskWriteFailed } from "../../src/sync/tar-args.js";

// The guest's side of the copy is a shell command; here it runs on this machine, in a folder
// standing in for the guest's workdir. Only the SSH transport between the two is left out.
const localGuest: RemoteShell = {
  exec: (command: string, io: ExecIo) =>
    new Promise((resolve, reject) => {
      const child = spawn("sh", ["-c", command], { stdio: ["ignore", "pipe", "pipe"] });
      if (io.stdout) child.stdout.pipe(io.stdout);
      child.stderr.on("data", (chunk: Buffer) => io.onStderr?.(chunk));
      const onAbort = () => {
        child.kill("SIGKILL");
        resolve({ code: 137, signal: "KILL" });
      };
      io.signal?.addEventListener("abort", onAbort, { once: true });
      child.on("error", reject);
      child.on("close", (code) => {
        io.signal?.removeEventListener("abort", onAbort);
        resolve({ code: code ?? 1 });
      });
    }),
};

let root: string;
let workdir: string;
let dir: string;
let outside: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "kvmci-artifacts-"));
  workdir = join(root, "guest-work");
  dir = join(root, "project", "kvmci-artifacts");
  outside = join(root, "outside");
  await mkdir(workdir);
  await mkdir(outside);
  await writeFile(join(outside, "sentinel"), "unchanged\n");
});

afterEach(() => rm(root, { recursive: true, force: true }));

const roomy = { maxBytes: 1024 ** 3, maxEntries: 100_000 };
const collect = (globs: string[], o: { deadline?: number; limits?: typeof roomy } = {}) =>
  collectArtifacts(
    localGuest,
    {
      workdir,
      globs,
      dir,
      limits: o.limits ?? roomy,
      umask: 0o022,
      deadline: o.deadline ?? Date.now() + 60_000,
    },
    new AbortController().signal,
  );

async function tree(path: string): Promise<string[]> {
  return (await readdir(path, { recursive: true })).map(String).sort();
}

describe("collectArtifacts", () => {
  it("brings each matching file back once, folders included, into a folder of its own", async () => {
    await mkdir(join(workdir, "out/sub"), { recursive: true });
    await mkdir(join(workdir, "out/empty"));
    await writeFile(join(workdir, "out/a.txt"), "a");
    await writeFile(join(workdir, "out/sub/b.txt"), "b");
    await writeFile(join(workdir, "report.xml"), "<x/>");
    await writeFile(join(workdir, "-n"), "dash");
    const got = await collect(["out/**", "out/a.txt", "report.xml", "-n", "missing/*"]);
    expect(got.files.sort()).toEqual(["-n", "out/a.txt", "out/sub/b.txt", "report.xml"]);
    expect(got.refused).toEqual([]);
    expect(got.incomplete).toBeUndefined();
    expect(got.packProblem).toBeUndefined();
    expect(await tree(dir)).toEqual([
      "-n",
      artifactsMarker,
      "out",
      "out/a.txt",
      "out/empty",
      "out/sub",
      "out/sub/b.txt",
      "report.xml",
    ]);
    expect((await lstat(dir)).mode & 0o777).toBe(0o755);
    // Nothing is left beside it.
    expect(await readdir(join(root, "project"))).toEqual(["kvmci-artifacts"]);
  });

  it("replaces what the last run brought back, links it left included", async () => {
    await mkdir(join(dir, "out"), { recursive: true });
    await writeFile(join(dir, "stale.txt"), "from last time");
    // A link left by an earlier run where this run's files go.
    await symlink(outside, join(dir, "out", "d"));
    await mkdir(join(workdir, "out/d"), { recursive: true });
    await writeFile(join(workdir, "out/d/sentinel"), "overwritten");
    const got = await collect(["out/*/*"]);
    expect(got.files).toEqual(["out/d/sentinel"]);
    expect(await readFile(join(outside, "sentinel"), "utf8")).toBe("unchanged\n");
    expect(await tree(dir)).toEqual([artifactsMarker, "out", "out/d", "out/d/sentinel"]);
    expect((await lstat(join(dir, "out/d"))).isDirectory()).toBe(true);
  });

  it("leaves an empty folder when nothing matches this time", async () => {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "stale.txt"), "from last time");
    const got = await collect(["nothing/**"]);
    expect(got.files).toEqual([]);
    expect(await tree(dir)).toEqual([artifactsMarker]);
  });

  it.runIf(process.getuid?.() === 0)(
    "as root, turns setuid files into plain ones and makes no devices, FIFOs or escaping links",
    async () => {
      await mkdir(join(workdir, "out"));
      await execa(
        "sh",
        [
          "-c",
          [
            "cp /bin/sh out/rootshell && chmod 4755 out/rootshell",
            "mknod out/null c 1 3 && chmod 666 out/null",
            "mkfifo out/fifo",
            "ln -s /etc/passwd out/passwd",
            "ln -s /root/.ssh out/ssh",
            "ln out/rootshell out/hardlink",
          ].join(" && "),
        ],
        { cwd: workdir },
      );
      const got = await collect(["out/**"]);
      expect(got.refused.map((r) => r.path).sort()).toEqual([
        "out/fifo",
        "out/null",
        "out/passwd",
        "out/ssh",
      ]);
      // Two names of one file: tar sends the second as a hard link, which becomes a copy.
      expect(got.files.sort()).toEqual(["out/hardlink", "out/rootshell"]);
      const shell = await lstat(join(dir, "out/rootshell"));
      expect(shell.mode & 0o7777).toBe(0o755);
      expect(shell.uid).toBe(0);
      for (const name of await tree(dir)) {
        const stat = await lstat(join(dir, name));
        expect(stat.isFile() || stat.isDirectory(), name).toBe(true);
        expect(stat.mode & 0o7000, name).toBe(0);
      }
    },
  );

  it("stops at the deadline a stalled guest would pass, keeping what is complete", async () => {
    await writeFile(join(workdir, "first.txt"), "first");
    const stalling: RemoteShell = {
      exec: (command, io) =>
        localGuest.exec(`${command.replace(/^bash -c /, "bash -c ")} ; sleep 30`, io),
    };
    const started = Date.now();
    const got = await collectArtifacts(
      stalling,
      { workdir, globs: ["*.txt"], dir, limits: roomy, umask: 0o022, deadline: Date.now() + 1500 },
      new AbortController().signal,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(got.incomplete).toMatch(/time for artifacts ran out/);
  });

  it("stops at the size limit with a reason", async () => {
    for (let i = 0; i < 5; i++) await writeFile(join(workdir, `f${i}.bin`), Buffer.alloc(10_000));
    const got = await collect(["*.bin"], { limits: { maxBytes: 25_000, maxEntries: 100 } });
    expect(got.incomplete).toMatch(/more than 24 KiB/);
    expect(got.files).toHaveLength(2);
  });
});

describe("checkArtifactsDir", () => {
  it("accepts a missing folder, an empty one, and one kvmci made (or made of such)", async () => {
    expect(await checkArtifactsDir(dir)).toBeUndefined();
    await mkdir(join(dir, "debian-12"), { recursive: true });
    expect(await checkArtifactsDir(dir)).toBeUndefined();
    await writeFile(join(dir, "debian-12", artifactsMarker), "");
    await writeFile(join(dir, "debian-12", "x.txt"), "");
    expect(await checkArtifactsDir(dir)).toBeUndefined();
  });

  it("refuses a folder of the user's own, a file, and a link", async () => {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "notes.txt"), "mine");
    expect(await checkArtifactsDir(dir)).toMatch(/holds files kvmci did not put there/);
    const file = join(root, "file");
    await writeFile(file, "");
    expect(await checkArtifactsDir(file)).toMatch(/not a folder/);
    const link = join(root, "link");
    await symlink(outside, link);
    expect(await checkArtifactsDir(link)).toMatch(/symbolic link/);
  });
});

describe("collectArtifacts, through the artifacts disk", () => {
  let disk: string;
  beforeEach(async () => {
    disk = join(root, "artifacts.img");
    await makeArtifactsDisk(disk, 4 << 20);
  });

  interface DiskAnswer {
    written?: Buffer;
    says: string;
    code: number;
  }

  /**
   * A guest that answers the disk's pack command with `onDisk` (what it writes on the disk, what
   * it says, its exit code) and packs over SSH like localGuest otherwise.
   */
  function diskGuest(
    onDisk: () => DiskAnswer | Promise<DiskAnswer>,
  ): RemoteShell & { commands: string[] } {
    const commands: string[] = [];
    return {
      commands,
      exec: async (command, io) => {
        commands.push(command);
        if (!command.includes(artifactsDevice)) return localGuest.exec(command, io);
        const answer = await onDisk();
        if (answer.written) {
          const file = await open(disk, "r+");
          await file.write(answer.written, 0, answer.written.length, 0);
          await file.close();
        }
        io.onStdout?.(Buffer.from(answer.says));
        return { code: answer.code };
      },
    };
  }

  const packed = async (...names: string[]) =>
    (await execa("tar", ["-c", "-f", "-", "-C", workdir, ...names], { encoding: "buffer" }))
      .stdout as unknown as Buffer;

  const collectFrom = (guest: RemoteShell) =>
    collectArtifacts(
      guest,
      {
        workdir,
        globs: ["*.txt"],
        dir,
        limits: roomy,
        umask: 0o022,
        deadline: Date.now() + 60_000,
        disk,
      },
      new AbortController().signal,
    );

  it("reads the archive from the disk's file, no further than the length the guest gave", async () => {
    await writeFile(join(workdir, "a.txt"), "from the disk");
    await writeFile(join(workdir, "b.txt"), "after the length");
    const first = await packed("a.txt");
    // The length ends after a.txt's header and data: b.txt's archive after it is never read.
    const cut = 1024;
    const both = Buffer.concat([first.subarray(0, cut), await packed("b.txt")]);
    const guest = diskGuest(() => ({ written: both, says: `${cut}\n`, code: 0 }));
    const got = await collectFrom(guest);
    expect(got.files).toEqual(["a.txt"]);
    expect(await readFile(join(dir, "a.txt"), "utf8")).toBe("from the disk");
    expect(guest.commands).toHaveLength(1);
    expect(got.overSsh).toBeUndefined();
  });

  it("reads no more than the disk holds, whatever length the guest claims", async () => {
    await writeFile(join(workdir, "a.txt"), "real");
    const guest = diskGuest(async () => ({
      written: await packed("a.txt"),
      says: "999999999999999",
      code: 0,
    }));
    const got = await collectFrom(guest);
    expect(got.files).toEqual(["a.txt"]);
    expect(got.incomplete).toBeUndefined();
  });

  it("goes over SSH when the guest could not write the disk, or says something else", async () => {
    await writeFile(join(workdir, "a.txt"), "over ssh");
    for (const answer of [
      { says: "", code: diskWriteFailed },
      { says: "lots\n", code: 0 },
    ]) {
      const guest = diskGuest(() => answer);
      const got = await collectFrom(guest);
      expect(got.files).toEqual(["a.txt"]);
      expect(await readFile(join(dir, "a.txt"), "utf8")).toBe("over ssh");
      expect(guest.commands).toHaveLength(2);
      expect(got.overSsh).toMatch(/could not write them onto its artifacts disk/);
    }
  });

  it("stops at the size limit with a reason, as over SSH", async () => {
    for (let i = 0; i < 5; i++) await writeFile(join(workdir, `f${i}.txt`), Buffer.alloc(600_000));
    const archive = await packed(...Array.from({ length: 5 }, (_, i) => `f${i}.txt`));
    const got = await collectArtifacts(
      diskGuest(() => ({ written: archive, says: String(archive.length), code: 0 })),
      {
        workdir,
        globs: ["*.txt"],
        dir,
        // Past the first 1 MiB read from the disk: reading stops there.
        limits: { maxBytes: 1_000_000, maxEntries: 100 },
        umask: 0o022,
        deadline: Date.now() + 60_000,
        disk,
      },
      new AbortController().signal,
    );
    expect(got.incomplete).toMatch(/more than 977 KiB/);
    expect(got.files).toHaveLength(1);
  });

  it("takes garbage on the disk as a malformed archive, not as an error", async () => {
    const guest = diskGuest(() => ({
      written: Buffer.alloc(8192, 0x41),
      says: "8192",
      code: 0,
    }));
    const got = await collectFrom(guest);
    expect(got.files).toEqual([]);
    expect(got.incomplete).toMatch(/malformed/);
  });
});
