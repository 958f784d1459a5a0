import { createHash, randomUUID } from "node:crypto";
import {
  access,
  lstat,
  mkdir,
  readdir,
  readFile,
  realpath,
  symlink,
  writeFile,
} from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { micromark } from "micromark";
import { gfm, gfmHtml } from "micromark-extension-gfm";
import { Header } from "tar";
import { describe, expect, it } from "vitest";
import { actionLeftovers, actionStep } from "../integration/action-step.js";
import { createFixtureProject, sandboxPerTest, type Sandbox } from "../integration/harness.js";
import { ImageServer } from "../integration/image-server.js";
import { artifactsDiskBytes } from "../../src/sync/artifacts-disk.js";

// The guest is untrusted: each attack below is made for real by a command in a real guest
// (the guest user has passwordless sudo), with kvmci running as this test runs (root in CI).
// After each, a sentinel tree outside the artifacts folder must be unchanged, and nothing under
// the artifacts folder may be anything but a plain file, a folder, or a link that stays inside.

const sandboxOf = sandboxPerTest();

/** A folder of files outside the project, and a fingerprint of everything in it. */
async function makeSentinel(sandbox: Sandbox) {
  const dir = join(sandbox.root, "sentinel");
  await mkdir(join(dir, "deep"), { recursive: true });
  await writeFile(join(dir, "secret.txt"), `secret ${randomUUID()}\n`);
  await writeFile(join(dir, "deep", "config"), "keep me\n");
  return { dir, fingerprint: () => fingerprint(dir) };
}

async function fingerprint(dir: string): Promise<string> {
  const lines: string[] = [];
  for (const entry of (await readdir(dir, { recursive: true })).map(String).sort()) {
    const path = join(dir, entry);
    const stat = await lstat(path);
    const content = stat.isFile()
      ? createHash("sha256")
          .update(await readFile(path))
          .digest("hex")
      : "";
    lines.push(`${entry} ${stat.mode.toString(8)} ${stat.uid} ${content}`);
  }
  return lines.join("\n");
}

/** Everything under `dir` that is not a plain file, a folder or a link resolving inside it. */
async function violations(dir: string): Promise<string[]> {
  const found: string[] = [];
  const root = await realpath(dir);
  const uid = process.getuid!();
  for (const entry of (await readdir(dir, { recursive: true })).map(String)) {
    const path = join(dir, entry);
    const stat = await lstat(path);
    if (stat.uid !== uid) found.push(`${entry}: owned by ${stat.uid}`);
    if (stat.mode & 0o7000) found.push(`${entry}: mode ${stat.mode.toString(8)}`);
    if (stat.isSymbolicLink()) {
      const target = await realpath(path).catch(() => "(nothing)");
      if (target !== root && !target.startsWith(root + sep))
        found.push(`${entry}: link to ${target}`);
    } else if (!stat.isFile() && !stat.isDirectory()) found.push(`${entry}: special file`);
  }
  return found;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** A tar member made block by block: names and types no honest tar would write. */
function member(m: { path: string; type?: string; body?: string; linkpath?: string }): Buffer {
  const body = Buffer.from(m.body ?? "");
  const block = Buffer.alloc(512);
  new Header({
    path: m.path,
    type: (m.type ?? "File") as "File",
    mode: 0o4755,
    size: body.length,
    mtime: new Date(),
    linkpath: m.linkpath,
  }).encode(block, 0);
  return Buffer.concat([block, body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}

/** A command that replaces the guest's tar (first on PATH) with one that sends `archive`. */
function fakeTar(archive: string, after = ""): string {
  return [
    `printf '#!/bin/sh\\ncat /work/${archive}\\n${after}\\n' | sudo tee /usr/local/bin/tar >/dev/null`,
    "sudo chmod 755 /usr/local/bin/tar",
    "echo replaced tar",
  ].join(" && ");
}

describe("artifacts from a hostile guest", () => {
  it("land as plain files and folders: no setuid, devices, FIFOs, sockets or links out", async () => {
    const sandbox = sandboxOf();
    const project = await createFixtureProject(sandbox);
    const sentinel = await makeSentinel(sandbox);
    const before = await sentinel.fingerprint();
    const passwd = await readFile("/etc/passwd", "utf8");
    await writeFile(
      join(project, "attack.sh"),
      [
        "set -eu",
        "mkdir -p out/sub && echo data > out/sub/file",
        "sudo cp /bin/bash out/rootshell && sudo chmod 4755 out/rootshell",
        "sudo cp /bin/bash out/sgidshell && sudo chmod 2755 out/sgidshell",
        "sudo mkdir out/sticky && sudo chmod 1777 out/sticky",
        "sudo mknod out/null c 1 3 && sudo chmod 666 out/null",
        "sudo mknod out/vda b 254 0",
        "mkfifo out/fifo",
        `python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('out/sock')"`,
        "ln -s /etc/passwd out/passwd",
        "ln -s /root/.ssh out/rootssh",
        'ln -s "$SENTINEL" out/sentinel',
        "ln -s ../../../../../../../../.. out/up",
        "ln -s sub/file out/inside",
        "ln out/sub/file out/hardlink",
        "echo attacked",
      ].join("\n"),
    );
    const result = await sandbox.start(
      [
        "run",
        "--memory",
        "1G",
        "--env",
        `SENTINEL=${sentinel.dir}`,
        "--artifact",
        "out/**",
        "--json",
        "report.json",
        "--",
        "bash",
        "attack.sh",
      ],
      project,
    );
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toContain("attacked");
    const artifacts = join(project, "kvmci-artifacts");
    expect(await violations(artifacts)).toEqual([]);
    const shell = await lstat(join(artifacts, "out", "rootshell"));
    expect(shell.isFile() && (shell.mode & 0o7777) === 0o755).toBe(true);
    expect((await lstat(join(artifacts, "out", "inside"))).isSymbolicLink()).toBe(true);
    for (const name of ["null", "vda", "fifo", "sock", "passwd", "rootssh", "sentinel", "up"])
      expect(await exists(join(artifacts, "out", name)), name).toBe(false);
    expect(await sentinel.fingerprint()).toBe(before);
    expect(await readFile("/etc/passwd", "utf8")).toBe(passwd);
    expect(result.stderr).toMatch(/entries from the guest's artifacts were not copied/);
    expect(result.stderr).toMatch(/"out\/null": a device node/);
    const report = JSON.parse(await readFile(join(project, "report.json"), "utf8")) as {
      exitCode: number;
      warnings: string[];
    };
    expect(report.exitCode).toBe(0);
    expect(report.warnings.join("\n")).toMatch(/"out\/passwd": a link to \/etc\/passwd/);
  });

  it("a forged archive cannot write outside the folder, by name, link or hard link", async () => {
    const sandbox = sandboxOf();
    const project = await createFixtureProject(sandbox);
    const sentinel = await makeSentinel(sandbox);
    const before = await sentinel.fingerprint();
    const artifacts = join(project, "kvmci-artifacts");
    const escape = relative(artifacts, sentinel.dir);
    const stray = `/tmp/kvmci-hostile-${randomUUID()}`;
    await writeFile(
      join(project, "evil.tar"),
      Buffer.concat([
        member({ path: `${escape}/pwned`, body: "by name" }),
        member({ path: `../../../../../../../../..${stray}`, body: "by name" }),
        member({ path: stray, body: "absolute" }),
        member({ path: "l", type: "SymbolicLink", linkpath: sentinel.dir }),
        member({ path: "l/pwned", body: "through a link" }),
        member({ path: "r", type: "SymbolicLink", linkpath: "../../../../../../../.." }),
        member({ path: `r${sentinel.dir}/pwned`, body: "through a relative link" }),
        member({ path: "h", type: "Link", linkpath: join(sentinel.dir, "secret.txt") }),
        member({ path: "dev", type: "CharacterDevice" }),
        member({ path: "ok.txt", body: "fine" }),
        Buffer.alloc(1024),
      ]),
    );
    const result = await sandbox.start(
      ["run", "--memory", "1G", "--artifact", "*.txt", "--", "sh", "-c", fakeTar("evil.tar")],
      project,
    );
    expect(result.exitCode, result.all).toBe(0);
    expect(await sentinel.fingerprint()).toBe(before);
    expect(await exists(stray)).toBe(false);
    expect(await violations(artifacts)).toEqual([]);
    expect(await readFile(join(artifacts, "ok.txt"), "utf8")).toBe("fine");
    expect(result.stderr).toMatch(/its name leaves the tree/);
    expect(result.stderr).toMatch(/its name is absolute/);
    expect(result.stderr).toMatch(/"h": a hard link to .*, which is not a file of these artifacts/);
  });

  it("a link an earlier run left in the folder redirects nothing: the folder is replaced", async () => {
    const sandbox = sandboxOf();
    const project = await createFixtureProject(sandbox);
    const sentinel = await makeSentinel(sandbox);
    const before = await sentinel.fingerprint();
    const artifacts = join(project, "kvmci-artifacts");
    // As a kvmci before this change could leave it.
    await mkdir(join(artifacts, "out"), { recursive: true });
    await writeFile(join(artifacts, ".kvmci-artifacts"), "");
    await symlink(sentinel.dir, join(artifacts, "out", "d"));
    const result = await sandbox.start(
      [
        "run",
        "--memory",
        "1G",
        "--artifact",
        "out/*/*",
        "--",
        "sh",
        "-c",
        "mkdir -p out/d && echo overwritten > out/d/secret.txt",
      ],
      project,
    );
    expect(result.exitCode, result.all).toBe(0);
    expect(await sentinel.fingerprint()).toBe(before);
    expect((await lstat(join(artifacts, "out", "d"))).isDirectory()).toBe(true);
    expect(await readFile(join(artifacts, "out", "d", "secret.txt"), "utf8")).toBe("overwritten\n");
  });

  it("a guest that stalls the copy is cut off at the deadline; garbage is refused", async () => {
    const sandbox = sandboxOf();
    const project = await createFixtureProject(sandbox);
    await writeFile(
      join(project, "half.tar"),
      Buffer.concat([
        member({ path: "first.txt", body: "complete" }),
        member({ path: "second.txt", body: "x".repeat(5000) }).subarray(0, 2048),
      ]),
    );
    const started = Date.now();
    const stalled = await sandbox.start(
      [
        "run",
        "--memory",
        "1G",
        "--timeout",
        "5s",
        "--artifact",
        "*.txt",
        "--",
        "sh",
        "-c",
        fakeTar("half.tar", "sleep 1000"),
      ],
      project,
    );
    const seconds = (Date.now() - started) / 1000;
    expect(stalled.exitCode, stalled.all).toBe(0);
    expect(stalled.stderr).toMatch(
      /copying artifacts stopped early: the time for artifacts ran out/,
    );
    // The archive goes onto the artifacts disk, and the host reads it once the guest says it is
    // written: one that never is brings nothing back, and never half a file.
    expect(await exists(join(project, "kvmci-artifacts", "first.txt"))).toBe(false);
    expect(await exists(join(project, "kvmci-artifacts", "second.txt"))).toBe(false);
    // The grace after a command is 30 s; the restore before it a few seconds more.
    expect(seconds).toBeLessThan(90);
    const garbage = await sandbox.start(
      [
        "run",
        "--memory",
        "1G",
        "--artifact",
        "*.txt",
        "--",
        "sh",
        "-c",
        `head -c 100000 /dev/urandom > noise.bin && ${fakeTar("noise.bin")}`,
      ],
      project,
    );
    expect(garbage.exitCode, garbage.all).toBe(0);
    expect(garbage.stderr).toMatch(
      /copying artifacts stopped early: the archive from the guest is malformed/,
    );
  });
});

describe("the artifacts disk, from a hostile guest", () => {
  it("holds no more than this run's limits allow, and junk written on it is never read", async () => {
    const sandbox = sandboxOf();
    const project = await createFixtureProject(sandbox);
    const limits = { maxBytes: 64 * 1024 ** 2, maxEntries: 1000 };
    const capacity = artifactsDiskBytes(limits);
    const device = "/dev/disk/by-id/virtio-kvmci-artifacts";
    const result = await sandbox.start(
      [
        "run",
        "--memory",
        "1G",
        "--artifacts-max-size",
        "64M",
        "--artifacts-max-files",
        "1000",
        "--artifact",
        "disk-*.txt",
        "--",
        "sh",
        "-c",
        [
          // Junk all over the disk before the pack: a forged archive at its start, noise after.
          `sudo dd if=/dev/urandom of=${device} bs=1M count=8 conv=fsync status=none`,
          `sudo blockdev --getsize64 ${device} > disk-size.txt`,
          // Past the end of this run's file: QEMU refuses it (the guest may believe in more).
          `if sudo dd if=/dev/zero of=${device} bs=1M seek=${capacity / 1024 ** 2 + 16} count=1 conv=fsync status=none 2>/dev/null; then echo wrote > disk-past-end.txt; else echo refused > disk-past-end.txt; fi`,
          "echo real > disk-real.txt",
        ].join(" && "),
      ],
      project,
    );
    expect(result.exitCode, result.all).toBe(0);
    const artifacts = join(project, "kvmci-artifacts");
    expect(await readFile(join(artifacts, "disk-real.txt"), "utf8")).toBe("real\n");
    expect(await readFile(join(artifacts, "disk-past-end.txt"), "utf8")).toBe("refused\n");
    // A guest restored from a snapshot sees the size its saved self booted with; a cold one,
    // this run's. Either way no write lands past this run's file.
    expect(Number(await readFile(join(artifacts, "disk-size.txt"), "utf8"))).toBeGreaterThan(0);
    expect((await readdir(artifacts)).sort()).toEqual([
      ".kvmci-artifacts",
      "disk-past-end.txt",
      "disk-real.txt",
      "disk-size.txt",
    ]);
    expect(result.stderr).not.toMatch(/stopped early|malformed|came over SSH/);
  });
});

describe("results read back in the Action", () => {
  const junits: Record<string, string> = {
    fifo: "mkfifo reports/junit.xml",
    truncated: `printf '<testsuite name="s" tests="2"><testcase name="a"/><testcase name="b"><failure message="x">' > reports/junit.xml`,
    entities: `printf '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><testsuite name="&b;"><testcase name="t"/></testsuite>' > reports/junit.xml`,
  };

  it.each(Object.entries(junits))(
    "a JUnit file that is a %s: the command's exit code and outputs, and a warning",
    async (_kind, make) => {
      const sandbox = sandboxOf();
      await createFixtureProject(sandbox);
      const { result } = await actionStep(sandbox, "main", {
        "working-directory": "project",
        run: `mkdir -p reports && ${make} && exit 3`,
        junit: "reports/junit.xml",
        memory: "1G",
      });
      const r = await Promise.race([
        result,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error("the Action hung")), 10 * 60_000),
        ),
      ]);
      expect(r.outputs["exit-code"], r.log).toBe("3");
      expect(r.log).toMatch(/::warning title=kvmci%3A JUnit::reports\/junit.xml/);
      expect(r.log).toMatch(/the command failed with exit code 3/);
      expect(r.log).not.toMatch(/internal error|^\s+at .+:\d+:\d+\)?$/m);
      expect(r.summary).toContain("❌ failed (exit code 3)");
      const report = JSON.parse(await readFile(r.outputs.report!, "utf8")) as {
        exitCode: number;
        junit: { problem: string };
      };
      expect(report.exitCode).toBe(3);
      expect(report.junit.problem).toMatch(/reports\/junit.xml/);
      expect(await actionLeftovers(sandbox)).toEqual({ runFolders: [], qemu: [] });
    },
  );

  it("test names and messages reach the summary as text, never as links, images or tags", async () => {
    const sandbox = sandboxOf();
    await createFixtureProject(sandbox);
    const name =
      "&lt;img src=&quot;https://evil.example/x.png&quot;&gt; [click](https://evil.example) ![i](https://evil.example/i.png) | cell";
    const { result } = await actionStep(sandbox, "main", {
      "working-directory": "project",
      run: `mkdir -p reports && printf '%s' '<testsuite name="${name}"><testcase name="${name}"><failure message="${name}">${name}</failure></testcase></testsuite>' > reports/junit.xml && exit 1`,
      junit: "reports/junit.xml",
      memory: "1G",
    });
    const r = await result;
    expect(r.outputs["exit-code"], r.log).toBe("1");
    expect(r.summary).toContain("Tests: 0 passed, 1 failed");
    // Rendered as GitHub renders it (GFM, raw HTML let through): no link, image or tag.
    const html = micromark(r.summary, {
      extensions: [gfm()],
      htmlExtensions: [gfmHtml()],
      allowDangerousHtml: true,
    });
    expect(html).not.toMatch(/<a\s|<img/);
    expect(html).toContain("<code>&lt;img src=&quot;https://evil.example/x.png&quot;&gt; [click]");
  });
});

describe("credentials in an image URL", () => {
  it("never appear in the log or the report, even on the retry lines", async () => {
    const sandbox = sandboxOf();
    const project = await createFixtureProject(sandbox);
    const server = await ImageServer.start();
    try {
      server.fail(
        "/disk.qcow2",
        ...Array.from({ length: 10 }, () => ({ kind: "status" as const, status: 503 })),
      );
      const url = server.url("/disk.qcow2").replace("http://", "http://alice:s3cr3t-token@");
      const result = await sandbox.start(
        [
          "run",
          "--image",
          `${url}#sha256=${"0".repeat(64)}`,
          "--json",
          "report.json",
          "--",
          "true",
        ],
        project,
        { KVMCI_CACHE_DIR: join(sandbox.root, "cache") },
      );
      expect(result.exitCode, result.all).toBe(74);
      expect(result.all).not.toContain("s3cr3t-token");
      expect(result.all).toMatch(/http:\/\/\*\*\*@127\.0\.0\.1/);
      expect(await readFile(join(project, "report.json"), "utf8")).not.toContain("s3cr3t-token");
    } finally {
      await server.close();
    }
  });
});

describe("a warm run honours --disk", () => {
  it("a size other than the snapshot's boots its own; one below the image's is refused", async () => {
    const sandbox = sandboxOf();
    const project = await createFixtureProject(sandbox);
    const df = "df -B1 --output=size / | tail -1";
    const run = async (name: string, disk: string) => {
      const report = join(sandbox.root, `${name}.json`);
      const result = await sandbox.start(
        [
          "run",
          "--memory",
          "1G",
          "--no-sync",
          "--disk",
          disk,
          "--json",
          report,
          "--",
          "sh",
          "-c",
          df,
        ],
        project,
      );
      const parsed =
        result.exitCode === 64
          ? undefined
          : (JSON.parse(await readFile(report, "utf8")) as {
              snapshot?: { entry: string; use: string };
            });
      return { result, report: parsed };
    };
    const tiny = await run("tiny", "1K");
    expect(tiny.result.exitCode, tiny.result.all).toBe(64);
    expect(tiny.result.stderr).toMatch(
      /--disk 1\.0 KiB is smaller than the image debian-12 \(3\.0 GiB\)/,
    );
    // A size of its own (so that no earlier run's snapshot matches): saved, then restored.
    const disk = `${4096 + Math.floor(Math.random() * 512)}M`;
    const cold = await run("cold", disk);
    expect(cold.result.exitCode, cold.result.all).toBe(0);
    expect(cold.report?.snapshot?.use).toBe("saved");
    const warm = await run("warm", disk);
    expect(warm.result.exitCode, warm.result.all).toBe(0);
    expect(warm.report?.snapshot).toEqual({ entry: cold.report?.snapshot?.entry, use: "restored" });
    for (const r of [cold, warm])
      expect(Number(r.result.stdout.trim())).toBeGreaterThan(3.8 * 1024 ** 3);
    await sandbox.start(["image", "rm", cold.report!.snapshot!.entry], project);
  });
});
