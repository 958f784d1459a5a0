import { mkdtemp, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import {
  buildArtifactPackCommand,
  buildPackArgs,
  diskWriteFailed,
  buildWorkdirCommand,
  quoteGlob,
} from "../../src/sync/tar-args.js";
import { listWorkspace } from "../../src/sync/workspace.js";

describe("workspace packing", () => {
  it("packs the whole folder outside git, minus excludes", () => {
    expect(buildPackArgs({ dir: "/p", fromList: false, excludes: ["node_modules"] })).toEqual([
      "tar",
      "-c",
      "-f",
      "-",
      "-C",
      "/p",
      "--exclude=node_modules",
      ".",
    ]);
  });

  it("packs exactly the listed files in git mode", () => {
    expect(buildPackArgs({ dir: "/p", fromList: true, excludes: [] })).toEqual([
      "tar",
      "-c",
      "-f",
      "-",
      "-C",
      "/p",
      "--null",
      "--no-recursion",
      "-T",
      "-",
    ]);
  });

  it("lists tracked and untracked files but not ignored or deleted ones in a git work tree", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kvmci-ws-test-"));
    try {
      const git = (...args: string[]) =>
        execa("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], { cwd: dir });
      await git("init", "-q");
      await writeFile(join(dir, ".gitignore"), "ignored.txt\n");
      await writeFile(join(dir, "tracked.txt"), "t");
      await writeFile(join(dir, "gone.txt"), "g");
      await git("add", ".");
      await git("commit", "-qm", "x");
      await rm(join(dir, "gone.txt"));
      await writeFile(join(dir, "ignored.txt"), "i");
      await mkdir(join(dir, "sub"));
      await writeFile(join(dir, "sub", "new.txt"), "n");
      const listing = await listWorkspace(dir);
      expect(listing.mode).toBe("git");
      expect(listing.files.sort()).toEqual([".gitignore", "sub/new.txt", "tracked.txt"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("artifact globs", () => {
  it("keeps glob characters active and quotes the rest", () => {
    expect(quoteGlob("out/*.xml")).toBe("out/*.xml");
    expect(quoteGlob("my dir/**/[ab].txt")).toBe("'my dir/'**/[ab].txt");
    expect(quoteGlob("$(reboot)*")).toBe("'$(reboot)'*");
  });

  it("expands in bash to matching files only, and packs nothing when nothing matches", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kvmci-glob-test-"));
    try {
      await mkdir(join(dir, "reports", "deep"), { recursive: true });
      await writeFile(join(dir, "reports", "deep", "a.xml"), "<a/>");
      await writeFile(join(dir, "reports", "b.txt"), "b");
      const command = buildArtifactPackCommand(dir, ["reports/**/*.xml", "missing/*"]);
      const packed = await execa("sh", ["-c", command], { encoding: "buffer" });
      const listed = await execa("tar", ["-t", "-f", "-"], { input: packed.stdout });
      expect(listed.stdout.trim().split("\n")).toEqual(["./reports/deep/a.xml"]);
      const none = await execa("sh", ["-c", buildArtifactPackCommand(dir, ["nothing/*"])], {
        encoding: "buffer",
      });
      expect(none.stdout.length).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("onto a disk: writes nothing anywhere and says so by its exit code when that is no disk", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kvmci-pack-"));
    try {
      await mkdir(join(dir, "bin"));
      // sudo as a pass-through: the test runs without a guest.
      await writeFile(join(dir, "bin", "sudo"), '#!/bin/sh\nexec "$@"\n', { mode: 0o755 });
      await writeFile(join(dir, "a.txt"), "a");
      const notADisk = join(dir, "not-a-disk");
      const packed = await execa("sh", ["-c", buildArtifactPackCommand(dir, ["*.txt"], notADisk)], {
        env: { PATH: `${join(dir, "bin")}:${process.env.PATH ?? ""}` },
        reject: false,
      });
      expect(packed.exitCode).toBe(diskWriteFailed);
      expect(packed.stdout).toBe("");
      await expect(stat(notADisk)).rejects.toThrow();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("onto a disk: goes through sudo only when the guest's user cannot write the device", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kvmci-pack-"));
    try {
      await mkdir(join(dir, "bin"));
      // A sudo that records being called, then runs the command.
      await writeFile(
        join(dir, "bin", "sudo"),
        `#!/bin/sh\necho called >> ${dir}/sudo.log\nexec "$@"\n`,
        { mode: 0o755 },
      );
      await writeFile(join(dir, "a.txt"), "a");
      const pack = (device: string) =>
        execa("sh", ["-c", buildArtifactPackCommand(dir, ["*.txt"], device)], {
          env: { PATH: `${join(dir, "bin")}:${process.env.PATH ?? ""}` },
          reject: false,
        });
      const sudoCalls = () =>
        readFile(join(dir, "sudo.log"), "utf8").then(
          (text) => text.split("\n").filter(Boolean).length,
          () => 0,
        );
      // Writable (a plain file here, so the write itself then refuses it): no sudo.
      const writable = join(dir, "writable");
      await writeFile(writable, "");
      expect((await pack(writable)).exitCode).toBe(diskWriteFailed);
      expect(await sudoCalls()).toBe(0);
      expect((await stat(writable)).size).toBe(0);
      // Not there (or not writable): through sudo.
      expect((await pack(join(dir, "absent"))).exitCode).toBe(diskWriteFailed);
      expect(await sudoCalls()).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the workdir in the guest", () => {
  // A stand-in for sudo that records being called: what matters is whether it is needed.
  async function runWithFakeSudo(workdir: string, root: string) {
    const bin = join(root, "bin");
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, "sudo"), `#!/bin/sh\necho called >> ${root}/sudo.log\nexit 0\n`, {
      mode: 0o755,
    });
    await execa("sh", ["-c", buildWorkdirCommand(workdir)], {
      env: { PATH: `${bin}:${process.env.PATH ?? ""}` },
    });
    return execa("sh", ["-c", `cat ${root}/sudo.log 2>/dev/null || true`]).then((r) => r.stdout);
  }

  it("needs no sudo when it is there and writable (as in a restored snapshot)", async () => {
    const root = await mkdtemp(join(tmpdir(), "kvmci-workdir-"));
    try {
      await mkdir(join(root, "work"));
      expect(await runWithFakeSudo(join(root, "work"), root)).toBe("");
      expect(await runWithFakeSudo(join(root, "missing"), root)).toBe("called");
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
