import { randomUUID } from "node:crypto";
import { mkdir, open, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveCacheDir } from "../../src/image/cache.js";
import { createFixtureProject, createSandbox, type Sandbox } from "./harness.js";

// Provisioning, prepared images and warm snapshots on real guests. The tests run in order and
// build on each other: the first makes the prepared image and the snapshot the others use.
// A nonce in the provisioning script makes this file's prepared image (and so its snapshots)
// new on every run; the last step removes them from the shared cache again.

interface Report {
  outcome: string;
  prepared?: { entry: string; reused: boolean };
  snapshot?: { entry: string; use: string };
  phases: { phase: string }[];
}

let sandbox: Sandbox;
let project: string;
const cacheDir = resolveCacheDir(process.env);
const nonce = randomUUID();
const secret = `s3cr3t-${randomUUID()}`;
let first: { report: Report; hostname: string; key: string };

beforeAll(async () => {
  sandbox = await createSandbox();
  project = await createFixtureProject(sandbox);
  await writeFile(
    join(project, "kvmci.yml"),
    [
      "memory: 1G",
      "provision:",
      "  packages: [hello]",
      "  script: |",
      `    # ${nonce}`,
      '    echo "provisioned" > /etc/kvmci-provisioned',
      "",
    ].join("\n"),
  );
});

afterAll(async () => {
  if (first?.report.prepared) {
    // Removes the prepared image and every snapshot layered over it.
    await sandbox.start(["image", "rm", first.report.prepared.entry], project);
  }
  const left = await sandbox.leftovers();
  await sandbox.dispose();
  expect(left, "no run folder and no QEMU may outlive a run").toEqual({ runFolders: [], qemu: [] });
});

async function run(name: string, command: string, extra: string[] = []) {
  const reportPath = join(sandbox.root, `${name}.json`);
  const result = await sandbox.start(
    ["run", "--json", reportPath, ...extra, "--", "bash", "-c", command],
    project,
  );
  const report = JSON.parse(await readFile(reportPath, "utf8")) as Report;
  return { result, report, phases: report.phases.map((p) => p.phase) };
}

/** Every file under a folder, read whole (a snapshot's memory file is a few hundred MiB). */
async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if ((await readFile(path)).includes(needle)) found.push(path);
  }
  return found;
}

function lines(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

describe("prepared images and warm snapshots", () => {
  it("provisions once (the package is there for the command) and saves the ready guest", async () => {
    const { result, report, phases } = await run(
      "first",
      'hello; echo "hostname=$(hostname)"; echo "key=$(cat ~/.ssh/authorized_keys)"; echo "files=$(ls -A | sort | tr "\\n" " ")"; echo "fs=$(findmnt -no FSTYPE /work)"; echo "ci=$(cloud-init status)"; echo "final=$(systemctl show -p ConditionResult --value cloud-final.service)"; echo "init=$(systemctl show -p ConditionResult --value cloud-init.service) $(systemctl show -p ActiveState --value kvmci-first-boot.service)"; if [ ! -e /etc/kvmci/host-ca.pem ]; then echo trusted=none; elif cmp -s <(tail -c 1500 /etc/kvmci/host-ca.pem) <(tail -c 1500 /etc/ssl/certs/ca-certificates.crt); then echo trusted=yes; else echo trusted=no; fi; touch /work/from-first-run',
      ["--env", `KVMCI_SECRET=${secret}`],
    );
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toContain("Hello, world!");
    expect(report.prepared).toMatchObject({ reused: false });
    expect(report.snapshot).toMatchObject({ use: "saved" });
    expect(phases).toEqual(expect.arrayContaining(["prepare", "boot", "ready", "snapshot"]));
    // The saving guest wakes like a restored one, with its workspace disk: no sync over SSH.
    expect(phases).not.toContain("sync");
    expect(result.stderr).toMatch(/synced \d+ files, .*, on the workspace disk/);
    const out = lines(result.stdout);
    expect(out.files).toContain("run-tests.sh");
    expect(out.files).not.toContain("ignored.txt");
    expect(out.fs).toBe("overlay");
    // Nothing for cloud-init's final stage (no runcmd, no packages): it is skipped, and cloud-init
    // still says done. The host's certificates (if it has any) went into the bundle before.
    expect(out.ci).toBe("status: done");
    expect(out.final).toBe("no");
    // Nor for its network stage: kvmci's first-boot script did its work.
    expect(out.init).toBe("no active");
    expect(out.trusted).not.toBe("no");
    first = { report, hostname: out.hostname!, key: out.key! };
    expect(first.key).toMatch(/^ssh-ed25519 /);

    // Neither the command's secret nor this run's key is in anything saved for later runs.
    const snapshotDir = join(cacheDir, "snapshots", report.snapshot!.entry);
    const preparedDir = join(cacheDir, "images", report.prepared!.entry);
    const keyBlob = first.key.split(" ")[1]!;
    for (const dir of [snapshotDir, preparedDir]) {
      expect(await filesContaining(dir, secret)).toEqual([]);
      expect(await filesContaining(dir, keyBlob)).toEqual([]);
    }
    const list = await sandbox.start(["image", "ls"], project);
    expect(list.stdout).toContain(report.prepared!.entry);
    expect(list.stdout).toMatch(
      new RegExp(
        `${report.snapshot!.entry}\\s+${report.prepared!.entry}, x86_64, \\w+, 2 CPUs, 1\\.0 GiB memory`,
      ),
    );
  });

  it("kvmci prepare makes the snapshot for other memory settings ahead of time; the run restores it", async () => {
    const prepare = async (name: string) => {
      const reportPath = join(sandbox.root, `${name}.json`);
      const result = await sandbox.start(
        ["prepare", "--memory", "1280M", "--json", reportPath],
        project,
      );
      return { result, report: JSON.parse(await readFile(reportPath, "utf8")) as Report };
    };
    const made = await prepare("prepare");
    expect(made.result.exitCode, made.result.all).toBe(0);
    expect(made.result.stderr).toMatch(/✓ ready in /);
    expect(made.report.prepared).toMatchObject({ reused: true });
    expect(made.report.snapshot).toMatchObject({ use: "saved" });
    // Another memory size is another machine: not the first run's snapshot.
    expect(made.report.snapshot!.entry).not.toBe(first.report.snapshot!.entry);

    const again = await prepare("prepare-again");
    expect(again.result.exitCode, again.result.all).toBe(0);
    expect(again.result.stderr).toContain(
      `snapshot ${made.report.snapshot!.entry} is already cached`,
    );
    expect(again.report.phases.map((p) => p.phase)).not.toContain("boot");

    const { result, report, phases } = await run("other-memory", "free -m | head -2", [
      "--memory",
      "1280M",
      "--no-sync",
    ]);
    expect(result.exitCode, result.all).toBe(0);
    expect(phases).toContain("restore");
    expect(phases).not.toContain("boot");
    expect(report.snapshot).toEqual({ entry: made.report.snapshot!.entry, use: "restored" });
  });

  it("restores the snapshot: own clock, host name, key and an empty workdir from its own sync", async () => {
    // The saved clock must be visibly stale for the check below to mean anything.
    const saved = JSON.parse(
      await readFile(
        join(cacheDir, "snapshots", first.report.snapshot!.entry, "snapshot.json"),
        "utf8",
      ),
    ) as { createdAt: string };
    const age = Date.now() - new Date(saved.createdAt).getTime();
    if (age < 20_000) await new Promise((r) => setTimeout(r, 20_000 - age));

    const { result, report, phases } = await run(
      "warm",
      'hello; echo "clock=$(date +%s)"; echo "hostname=$(hostname)"; echo "key=$(cat ~/.ssh/authorized_keys)"; echo "keys=$(wc -l < ~/.ssh/authorized_keys)"; echo "work=$(ls -A /work | sort | tr "\\n" " ")"; echo "motd=$(grep -c "^session.*pam_motd" /etc/pam.d/sshd)"; echo "sshd=$(ps -o args= -C sshd | grep listener)"',
    );
    const hostNow = Date.now() / 1000;
    expect(result.exitCode, result.all).toBe(0);
    expect(report.prepared).toMatchObject({ reused: true });
    expect(report.snapshot).toEqual({ entry: first.report.snapshot!.entry, use: "restored" });
    expect(phases).toContain("restore");
    expect(phases).not.toContain("boot");
    const out = lines(result.stdout);
    expect(Math.abs(Number(out.clock) - hostNow)).toBeLessThan(5);
    expect(out.hostname).toMatch(/^kvmci-/);
    expect(out.hostname).not.toBe(first.hostname);
    expect(out.keys).toBe("1");
    expect(out.key).toMatch(/^ssh-ed25519 /);
    expect(out.key).not.toBe(first.key);
    expect(out.work).toContain("run-tests.sh");
    expect(out.work).not.toContain("from-first-run");
    // SSH sessions without the message of the day, and (Debian 12) an sshd that does not
    // re-execute itself for each connection: each costs an emulated guest a quarter second.
    expect(out.motd).toBe("0");
    expect(out.sshd).toMatch(/sshd -D -r /);
  });

  it("puts the workspace on a read-only disk under a writable overlay: the user's own files, and a guest that cannot write the disk", async () => {
    const before = await readFile(join(project, "tracked.txt"), "utf8");
    const { result, report, phases } = await run(
      "workspace-disk",
      [
        'echo "files=$(ls -A | sort | tr "\\n" " ")"',
        'echo "owner=$(stat -c %U tracked.txt)"',
        // The root disk is still the first virtio disk, whatever else the guest has.
        'echo "root=$(findmnt -no SOURCE /)"',
        // The user changes, adds, removes and re-permissions files as on any disk.
        "echo changed >> tracked.txt && chmod 600 tracked.txt && mkdir -p new/dir && touch new/dir/f && rm untracked.txt",
        'echo "mode=$(stat -c %a tracked.txt) tail=$(tail -n1 tracked.txt) new=$(ls new/dir) gone=$(ls untracked.txt 2>&1 | wc -l)"',
        // Root in the guest tries to write the disk itself, even after making it writable.
        "dev=$(readlink -f /dev/disk/by-id/virtio-kvmci-workspace)",
        'echo "ro=$(cat /sys/block/${dev#/dev/}/ro)"',
        "sudo blockdev --setrw $dev 2>/dev/null",
        "if sudo dd if=/dev/zero of=$dev bs=4096 count=1 oflag=direct 2>/dev/null; then echo wrote=yes; else echo wrote=no; fi",
      ].join("\n"),
    );
    expect(result.exitCode, result.all).toBe(0);
    expect(report.snapshot).toMatchObject({ use: "restored" });
    // Packed before the restore; no sync after it.
    expect(phases.indexOf("sync")).toBeLessThan(phases.indexOf("restore"));
    expect(phases.filter((p) => p === "sync")).toHaveLength(1);
    expect(result.stderr).toMatch(/synced \d+ files, .*, on the workspace disk/);
    const out = lines(result.stdout);
    expect(out.files).toContain("run-tests.sh");
    expect(out.files).toContain("untracked.txt");
    expect(out.files).not.toContain("ignored.txt");
    expect(out.owner).not.toBe("root");
    expect(out.root).toMatch(/^\/dev\/vda\d*$/);
    expect(out.mode).toBe("600 tail=changed new=f gone=1");
    expect(out.ro).toBe("1");
    expect(out.wrote).toBe("no");
    // The host's files are the host's.
    expect(await readFile(join(project, "tracked.txt"), "utf8")).toBe(before);
    expect(await readFile(join(project, "untracked.txt"), "utf8")).toBe("untracked\n");
  });

  it("sends the workspace over SSH, saying why, when the host has no mksquashfs", async () => {
    const bin = join(sandbox.root, "bin-without-mksquashfs");
    await mkdir(bin, { recursive: true });
    for (const dir of ["/usr/local/bin", "/usr/bin", "/bin"])
      for (const name of await readdir(dir).catch(() => [] as string[]))
        if (name !== "mksquashfs")
          await symlink(join(dir, name), join(bin, name)).catch(() => undefined);
    const reportPath = join(sandbox.root, "no-mksquashfs.json");
    const result = await sandbox.start(
      ["run", "--json", reportPath, "--", "bash", "-c", "ls -A | sort | tr '\\n' ' '"],
      project,
      { PATH: bin },
    );
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stderr).toContain(
      "the workspace goes over SSH, more slowly: mksquashfs is not installed (package squashfs-tools)",
    );
    expect(result.stdout).toContain("run-tests.sh");
    const report = JSON.parse(await readFile(reportPath, "utf8")) as Report;
    expect(report.snapshot).toMatchObject({ use: "restored" });
    expect(report.phases.map((p) => p.phase).filter((p) => p === "sync")).toHaveLength(1);
  });

  it("sends the workspace over SSH, saying why, to a workdir the guest cannot mount a disk on", async () => {
    const { result, report } = await run("odd-workdir", "pwd; ls -A | sort | tr '\\n' ' '", [
      "--workdir",
      "/tmp/my work",
    ]);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stderr).toContain(
      'the workspace goes over SSH, more slowly: the guest mounts its workspace disk only on a workdir of letters, digits and . _ - / (not "/tmp/my work")',
    );
    expect(result.stdout).toContain("/tmp/my work");
    expect(result.stdout).toContain("run-tests.sh");
    expect(report.snapshot).toMatchObject({ use: "restored" });
  });

  it("restores the same snapshot twice at once; neither guest sees the other's writes", async () => {
    const command = (me: string) =>
      `echo ${me} > /var/tmp/who; sync; sleep 3; echo "who=$(cat /var/tmp/who)"; ls /var/tmp`;
    const [a, b] = await Promise.all([
      run("twin-a", command("a"), ["--no-sync"]),
      run("twin-b", command("b"), ["--no-sync"]),
    ]);
    for (const [twin, me] of [
      [a, "a"],
      [b, "b"],
    ] as const) {
      expect(twin.result.exitCode, twin.result.all).toBe(0);
      expect(twin.report.snapshot).toMatchObject({ use: "restored" });
      expect(lines(twin.result.stdout).who).toBe(me);
    }
  });

  it("boots cold, saying why, when the snapshot's memory file is damaged, and saves a good one", async () => {
    const entry = first.report.snapshot!.entry;
    const memory = join(cacheDir, "snapshots", entry, "memory.bin");
    const { size } = await stat(memory);
    const file = await open(memory, "r+");
    await file.write(Buffer.from("damaged by the test"), 0, undefined, Math.floor(size / 2));
    await file.close();

    const { result, report, phases } = await run("damaged", "hello", ["--no-sync"]);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stderr).toContain(`snapshot ${entry} could not be restored`);
    expect(result.stderr).toContain("does not match the digest recorded when it was saved");
    expect(phases).toEqual(expect.arrayContaining(["restore", "boot", "ready", "snapshot"]));
    expect(report.snapshot).toEqual({ entry, use: "saved" });

    const again = await run("after-damage", "hello", ["--no-sync"]);
    expect(again.report.snapshot).toEqual({ entry, use: "restored" });
  });
});
