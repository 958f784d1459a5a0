import { readFile, stat, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { phases } from "../../src/run/events.js";
import { describe, expect, it } from "vitest";
import { createFixtureProject, waitForOutput, sandboxPerTest } from "./harness.js";

// Each test boots at most one real guest from the real debian-12 image, with real cloud-init and
// real SSH, under whatever accel this host really has (TCG on the development machine).
const sandboxOf = sandboxPerTest();

describe("kvmci run against a real guest", () => {
  it("runs the fixture project's suite in the guest and brings results back", async () => {
    const project = await createFixtureProject(sandboxOf());
    const result = await sandboxOf().start(
      [
        "run",
        // The cold path, every phase of it; warm starts are test/integration/warm.test.ts.
        "--no-snapshot",
        "--artifact",
        "reports/*",
        "--console-log",
        "console.log",
        "--json",
        "report.json",
        "--env",
        "FIXTURE_GREETING=hello from the host",
        "--user-data",
        "fixture-user-data.yml",
        "--",
        "./run-tests.sh",
      ],
      project,
    );
    expect(result.all).toContain("8 passed, 0 failed");
    expect(result.exitCode, result.all).toBe(0);
    expect(await readFile(join(project, "kvmci-artifacts", "reports", "summary.txt"), "utf8")).toBe(
      "8 passed, 0 failed\n",
    );
    expect(
      await readFile(join(project, "kvmci-artifacts", "reports", "junit.xml"), "utf8"),
    ).toContain('failures="0"');
    const console = await readFile(join(project, "console.log"), "utf8");
    expect(console).toMatch(/Linux version/);
    // kvmci's cloud-config (and the fixture's addition) pass cloud-init's own schema check.
    expect(console).not.toContain("Invalid cloud-config provided");
    const report = JSON.parse(await readFile(join(project, "report.json"), "utf8")) as Record<
      string,
      unknown
    >;
    expect(report).toMatchObject({
      outcome: "passed",
      exitCode: 0,
      boot: "kernel",
      image: { name: "debian-12" },
      env: ["FIXTURE_GREETING"],
    });
    expect((report.image as { digest: string }).digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Every phase of a cold run without provisioning, in order, each one ok. A `queue` phase
    // appears, right after `image`, when another kvmci on the host holds the guests' places;
    // `network` and `services` belong to runs with `guests:` only.
    const ran = report.phases as { phase: string; ok: boolean }[];
    const names = ran.map((p) => p.phase);
    expect(names.filter((p) => p !== "queue")).toEqual(
      phases.filter(
        (p) => !["queue", "prepare", "restore", "snapshot", "network", "services"].includes(p),
      ),
    );
    const queued = names.filter((p) => p === "queue").length;
    expect(queued).toBeLessThanOrEqual(1);
    if (queued) expect(names.indexOf("queue")).toBe(names.indexOf("image") + 1);
    expect(ran.filter((p) => !p.ok)).toEqual([]);
    // The value of --env is a secret as far as the report is concerned.
    expect(JSON.stringify(report)).not.toContain("hello from the host");
  });

  it("boots through firmware with settings from kvmci.yml, grows the disk, and passes the exit code through", async () => {
    const project = await createFixtureProject(sandboxOf());
    await writeFile(
      join(project, "kvmci.yml"),
      [
        "boot: firmware",
        "disk: 5G",
        "snapshot: false",
        "sync: false",
        "run: df --output=size -BM / | tail -n 1; ls /work | wc -l; exit 3",
        "",
      ].join("\n"),
    );
    const result = await sandboxOf().start(["run", "--json", "report.json"], project);
    expect(result.exitCode, result.all).toBe(3);
    const [size, files] = result.stdout.trim().split("\n");
    expect(Number.parseInt(size ?? "0", 10), "root file system grown to about 5G").toBeGreaterThan(
      4500,
    );
    expect(files?.trim(), "sync: false leaves the workdir empty").toBe("0");
    expect(result.stderr).toMatch(/failed with exit code 3/);
    const report = JSON.parse(await readFile(join(project, "report.json"), "utf8")) as Record<
      string,
      unknown
    >;
    expect(report).toMatchObject({ outcome: "failed", exitCode: 3, boot: "firmware" });
  });

  it("stops a command at --timeout, says so, and exits 124", async () => {
    const project = await createFixtureProject(sandboxOf());
    const started = Date.now();
    const result = await sandboxOf().start(
      ["run", "--no-sync", "--timeout", "3s", "--", "sleep", "600"],
      project,
    );
    expect(result.exitCode, result.all).toBe(124);
    expect(result.stderr).toContain("stopped after --timeout 3.0s");
    expect(Date.now() - started).toBeLessThan(600_000);
  });

  it("stops a command that prints nothing for --idle-timeout, but not one that keeps talking", async () => {
    const project = await createFixtureProject(sandboxOf());
    const result = await sandboxOf().start(
      [
        "run",
        "--no-sync",
        "--idle-timeout",
        "3s",
        "--",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick $i; sleep 2; done; sleep 600",
      ],
      project,
    );
    expect(result.exitCode, result.all).toBe(124);
    // Each tick came within 3 s of the last: only the silence after the third one stopped it.
    expect(result.stdout).toContain("tick 3");
    expect(result.stderr).toContain("printed nothing for --idle-timeout 3.0s");
  });

  it("reports a guest that panics or powers off during the command at once, with the console", async () => {
    const project = await createFixtureProject(sandboxOf());
    const crash = 'echo started; sudo sh -c "echo c > /proc/sysrq-trigger"; sleep 600';
    let started = Date.now();
    const panicked = await sandboxOf().start(
      ["run", "--no-sync", "--", "sh", "-c", crash],
      project,
    );
    expect(panicked.exitCode, panicked.all).toBe(67);
    expect(panicked.stderr).toContain("The guest's kernel panicked");
    expect(panicked.stderr).toContain("Kernel panic - not syncing");
    expect(Date.now() - started).toBeLessThan(120_000);
    started = Date.now();
    const off = await sandboxOf().start(
      ["run", "--no-sync", "--", "sh", "-c", "sudo poweroff; sleep 600"],
      project,
    );
    expect(off.exitCode, off.all).toBe(67);
    expect(off.stderr).toMatch(
      /The guest stopped \(QEMU exit code 0\)|The SSH connection to the guest was lost/,
    );
    expect(off.stderr).toContain("last lines of the guest console:");
  });

  it("tears everything down on SIGTERM during the command and exits 143", async () => {
    const project = await createFixtureProject(sandboxOf());
    const child = sandboxOf().start(
      ["run", "--no-sync", "--", "sh", "-c", "echo command-started; sleep 600"],
      project,
    );
    await waitForOutput(child, /command-started/, 900_000);
    const signalled = Date.now();
    child.kill("SIGTERM");
    const result = await child;
    expect(result.exitCode, result.all).toBe(143);
    expect(Date.now() - signalled).toBeLessThan(10_000);
  });

  it("boots without cloud-init's network stage: plain bootcmd and write_files, a failing command a warning", async () => {
    const project = await createFixtureProject(sandboxOf());
    // Only what kvmci's first-boot script does itself (docs/images.md): it runs in place of
    // cloud-init's network stage.
    await writeFile(
      join(project, "first-boot.yml"),
      [
        "#cloud-config",
        "bootcmd:",
        "  - [sh, -c, 'echo \"from bootcmd $0\" > /etc/kvmci-bootcmd', it's]",
        "  - exit 3",
        "write_files:",
        "  - path: /etc/kvmci/fixture",
        '    content: "from write_files\\n"',
        "    permissions: '0600'",
        "",
      ].join("\n"),
    );
    const result = await sandboxOf().start(
      [
        "run",
        "--no-sync",
        "--no-snapshot",
        "--user-data",
        "first-boot.yml",
        "--",
        "sh",
        "-c",
        "cat /etc/kvmci-bootcmd; sudo cat /etc/kvmci/fixture; sudo stat -c %a /etc/kvmci/fixture; systemctl show -p ConditionResult --value cloud-init.service; cloud-init status; true",
      ],
      project,
    );
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout.split("\n")).toEqual([
      "from bootcmd it's",
      "from write_files",
      "600",
      "no",
      "status: error",
    ]);
    // The user's second command, after kvmci's own, as cloud-init's errors are shown.
    expect(result.stderr).toMatch(
      /cloud-init reported: bootcmd \d+ \(exit 3\) failed with exit code 3\n/,
    );
  });

  it("with --network none the guest reaches nothing, and with the default it reaches the host", async () => {
    // A service on the host's loopback, which QEMU's user network shows the guest as 10.0.2.2.
    const service = createServer((socket) => socket.end("hello from the host\n"));
    await new Promise<void>((resolve) => service.listen(0, "127.0.0.1", resolve));
    const port = (service.address() as AddressInfo).port;
    const probe = `if timeout 5 bash -c 'cat < /dev/tcp/10.0.2.2/${port}'; then echo REACHED; else echo BLOCKED; fi`;
    try {
      const project = await createFixtureProject(sandboxOf());
      const isolated = await sandboxOf().start(
        ["run", "--no-sync", "--no-snapshot", "--network", "none", "--", "bash", "-c", probe],
        project,
      );
      expect(isolated.exitCode, isolated.all).toBe(0);
      expect(isolated.stdout).toContain("BLOCKED");
      const open = await sandboxOf().start(
        ["run", "--no-sync", "--", "bash", "-c", probe],
        project,
      );
      expect(open.exitCode, open.all).toBe(0);
      expect(open.stdout).toContain("hello from the host");
      expect(open.stdout).toContain("REACHED");
    } finally {
      service.close();
    }
  });

  it("after a kill -9, QEMU exits by itself, and gc removes the run folder left behind", async () => {
    const project = await createFixtureProject(sandboxOf());
    const child = sandboxOf().start(
      ["run", "--no-sync", "--", "sh", "-c", "echo command-started; sleep 600"],
      project,
    );
    await waitForOutput(child, /command-started/, 900_000);
    child.kill("SIGKILL");
    await child;
    const killed = Date.now();
    let left = await sandboxOf().leftovers();
    while (left.qemu.length > 0 && Date.now() - killed < 5000) {
      await new Promise((r) => setTimeout(r, 100));
      left = await sandboxOf().leftovers();
    }
    expect(left.qemu).toEqual([]);
    expect(left.runFolders).toHaveLength(1);
    const gc = await sandboxOf().start(["gc"], project);
    expect(gc.exitCode, gc.all).toBe(0);
    expect(gc.stdout).toContain(
      `removed ${join(sandboxOf().tmp, left.runFolders[0]!)}: run folder of a kvmci that was killed`,
    );
    expect(await sandboxOf().leftovers()).toEqual({ runFolders: [], qemu: [] });
  });

  it("tears everything down on Ctrl-C during boot and exits 130", async () => {
    const project = await createFixtureProject(sandboxOf());
    const child = sandboxOf().start(["run", "--no-snapshot", "--", "true"], project);
    await waitForOutput(child, /✓ seed/, 120_000);
    await new Promise((r) => setTimeout(r, 2000));
    child.kill("SIGINT");
    const result = await child;
    expect(result.exitCode, result.all).toBe(130);
  });

  it("gives up at the boot deadline, naming the phase and showing the console tail", async () => {
    const project = await createFixtureProject(sandboxOf());
    const result = await sandboxOf().start(
      [
        "run",
        "--no-snapshot",
        "--boot-timeout",
        "6s",
        "--console-log",
        "console.log",
        "--",
        "true",
      ],
      project,
    );
    expect(result.exitCode, result.all).toBe(66);
    expect(result.stderr).toMatch(/The guest was not ready after \d+s: waiting for SSH/);
    expect(result.stderr).toContain("last lines of the guest console:");
    expect(result.stderr).toContain("--boot-timeout");
    expect((await stat(join(project, "console.log"))).size).toBeGreaterThan(0);
  });
});

describe("kvmci run input errors", () => {
  it("reports every usage problem at once with exit 64 and no stack trace", async () => {
    const project = await createFixtureProject(sandboxOf());
    const result = await sandboxOf().start(
      ["run", "--memory", "lots", "--accel", "fast", "--bogus", "--", "true"],
      project,
    );
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toContain("--bogus: unknown option");
    const again = await sandboxOf().start(
      ["run", "--memory", "lots", "--accel", "fast", "--", "true"],
      project,
    );
    expect(again.exitCode).toBe(64);
    expect(again.stderr).toContain(
      '--memory: expected a size like 2G or 512M (a bare number is MiB), got "lots"',
    );
    expect(again.stderr).toContain('--accel: expected one of auto, kvm, tcg, got "fast"');
    expect(again.stderr).not.toMatch(/\n\s+at /);
  });

  it("names close matches for an unknown image", async () => {
    const project = await createFixtureProject(sandboxOf());
    const result = await sandboxOf().start(["run", "--image", "debain-12", "--", "true"], project);
    expect(result.exitCode).toBe(71);
    // debian-13 is one edit further off, and named after the closest.
    expect(result.stderr).toContain("Did you mean debian-12 or debian-13?");
  });

  it("checks the host with doctor, and refuses --accel kvm with the fix where KVM cannot run guests", async (context) => {
    const project = await createFixtureProject(sandboxOf());
    const doctor = await sandboxOf().start(["doctor"], project);
    expect(doctor.exitCode, doctor.all).toBe(0);
    expect(doctor.stdout).toMatch(/^✓ qemu-system-x86_64: QEMU emulator version/m);
    expect(doctor.stdout).toMatch(/^✓ qemu-img: qemu-img version/m);
    expect(doctor.stdout).toMatch(/^[✓!] kvm: /m);
    if (/^✓ kvm/m.test(doctor.stdout)) context.skip("KVM works on this host");
    const started = Date.now();
    const result = await sandboxOf().start(["run", "--accel", "kvm", "--", "true"], project);
    expect(result.exitCode, result.all).toBe(69);
    expect(result.stderr).toContain("--accel kvm was requested, but");
    expect(result.stderr).toMatch(/hint: .*(--accel tcg|nested virtualisation|usermod)/);
    // doctor recorded the probe, so the refusal is immediate.
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
