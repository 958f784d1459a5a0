import { describe, expect, it } from "vitest";
import {
  canonicalJson,
  machineArgs,
  parseCpuIdentity,
  snapshotKey,
  type SnapshotKeyParts,
} from "../../src/snapshot/key.js";

const machine = {
  arch: "x86_64" as const,
  accel: "tcg" as const,
  cpu: "qemu64",
  cpus: 2,
  memoryMiB: 1024,
  boot: { kind: "firmware" as const },
  network: "user" as const,
};

const parts: SnapshotKeyParts = {
  imageDigest: "sha256:" + "a".repeat(64),
  qemuVersion: "QEMU emulator version 7.2.22",
  machine: machineArgs(machine),
  hostCpu: undefined,
  userData: null,
  diskBytes: 3 * 1024 ** 3,
  wakeAgent: "#!/bin/sh\n",
};

describe("snapshotKey", () => {
  it("is stable for equal settings", () => {
    expect(snapshotKey(parts)).toBe(snapshotKey({ ...parts, machine: machineArgs(machine) }));
    expect(snapshotKey(parts)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("changes with anything a saved state depends on", () => {
    const key = snapshotKey(parts);
    const variants: SnapshotKeyParts[] = [
      { ...parts, imageDigest: "sha256:" + "b".repeat(64) },
      { ...parts, qemuVersion: "QEMU emulator version 8.2.0" },
      { ...parts, machine: machineArgs({ ...machine, memoryMiB: 2048 }) },
      { ...parts, machine: machineArgs({ ...machine, cpus: 1 }) },
      { ...parts, machine: machineArgs({ ...machine, accel: "kvm" }) },
      { ...parts, machine: machineArgs({ ...machine, arch: "aarch64", cpu: "max" }) },
      { ...parts, machine: machineArgs({ ...machine, cpu: "max" }) },
      { ...parts, machine: machineArgs({ ...machine, network: "none" }) },
      { ...parts, hostCpu: "GenuineIntel, family 6, model 85" },
      { ...parts, userData: { packages: ["hello"] } },
      { ...parts, diskBytes: 8 * 1024 ** 3 },
      { ...parts, wakeAgent: "#!/bin/sh\nexit 0\n" },
    ];
    const keys = new Set(variants.map(snapshotKey));
    expect(keys.size).toBe(variants.length);
    expect(keys.has(key)).toBe(false);
  });

  it("ignores what differs per run: paths, ports, names", () => {
    const args = machineArgs(machine);
    expect(args.join(" ")).not.toMatch(/\/tmp|kvmci-run|hostfwd=tcp:127\.0\.0\.1:[1-9]/);
  });

  it("does not depend on where the cache folder is (the kernel's path)", () => {
    const kernel = (dir: string) =>
      machineArgs({
        ...machine,
        boot: {
          kind: "kernel",
          kernel: `${dir}/images/debian-12-x/vmlinuz`,
          initrd: `${dir}/images/debian-12-x/initrd.img`,
          cmdline: "console=ttyS0",
        },
      });
    expect(kernel("/root/.cache/kvmci")).toEqual(kernel("/mnt/moved/kvmci"));
    expect(kernel("/root/.cache/kvmci")).not.toEqual(machineArgs(machine));
  });

  it("holds the architecture: its binary, board and CPU", () => {
    const arm = machineArgs({ ...machine, arch: "aarch64", cpu: "max,pauth-impdef=on" });
    expect(arm[0]).toBe("qemu-system-aarch64");
    expect(arm.join(" ")).toContain("-machine virt,memory-backend=ram -accel tcg");
    expect(machineArgs(machine)[0]).toBe("qemu-system-x86_64");
  });

  it("does not depend on the run's copy of the UEFI variable store", () => {
    const uefi = (vars: string) =>
      machineArgs({
        ...machine,
        arch: "aarch64",
        boot: { kind: "uefi", code: "/usr/share/AAVMF/AAVMF_CODE.fd", vars },
      });
    expect(uefi("/tmp/kvmci-run-a/uefi-vars.fd")).toEqual(uefi("/tmp/kvmci-run-b/uefi-vars.fd"));
  });

  it("does not depend on the order of keys in the user's cloud-config", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 2], c: 3 } })).toBe(
      canonicalJson({ a: { c: 3, d: [1, 2] }, b: 1 }),
    );
  });
});

describe("parseCpuIdentity", () => {
  const cpuinfo = (flags: string, model = "85") =>
    `processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: ${model}\nmodel name\t: Intel(R) Xeon(R)\nstepping\t: 7\nflags\t\t: ${flags}\n\nprocessor\t: 1\nvendor_id\t: Other\n`;

  it("names vendor, family, model, stepping and the flags of the first CPU", () => {
    const id = parseCpuIdentity(cpuinfo("fpu sse avx2"));
    expect(id).toMatch(
      /^GenuineIntel, family 6, model 85, stepping 7, Intel\(R\) Xeon\(R\), flags [0-9a-f]{16}$/,
    );
  });

  it("names an arm64 host's CPU by implementer, part, variant, revision and its features", () => {
    const arm = (features: string, part = "0xd0c") =>
      `processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: ${features}\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: ${part}\nCPU revision\t: 1\n\nprocessor\t: 1\n`;
    const id = parseCpuIdentity(arm("fp asimd aes"));
    expect(id).toMatch(
      /^implementer 0x41, part 0xd0c, variant 0x3, revision 1, features [0-9a-f]{16}$/,
    );
    expect(parseCpuIdentity(arm("aes fp asimd"))).toBe(id);
    expect(parseCpuIdentity(arm("fp asimd"))).not.toBe(id);
    expect(parseCpuIdentity(arm("fp asimd aes", "0xd40"))).not.toBe(id);
  });

  it("differs when a feature or the model differs, not when flags are reordered", () => {
    const id = parseCpuIdentity(cpuinfo("fpu sse avx2"));
    expect(parseCpuIdentity(cpuinfo("avx2 fpu sse"))).toBe(id);
    expect(parseCpuIdentity(cpuinfo("fpu sse"))).not.toBe(id);
    expect(parseCpuIdentity(cpuinfo("fpu sse avx2", "106"))).not.toBe(id);
  });
});
