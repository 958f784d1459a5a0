import { describe, expect, it } from "vitest";
import {
  canonicalJson,
  machineArgs,
  parseCpuIdentity,
  snapshotKey,
  type SnapshotKeyParts,
} from "../../src/snapshot/key.js";

const machine = {
  accel: "tcg" as const,
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
      { ...parts, machine: machineArgs({ ...machine, network: "none" }) },
      { ...parts, hostCpu: "GenuineIntel, family 6, model 85" },
      { ...parts, userData: { packages: ["hello"] } },
      { ...parts, diskBytes: 8 * 1024 ** 3 },
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

  it("differs when a feature or the model differs, not when flags are reordered", () => {
    const id = parseCpuIdentity(cpuinfo("fpu sse avx2"));
    expect(parseCpuIdentity(cpuinfo("avx2 fpu sse"))).toBe(id);
    expect(parseCpuIdentity(cpuinfo("fpu sse"))).not.toBe(id);
    expect(parseCpuIdentity(cpuinfo("fpu sse avx2", "106"))).not.toBe(id);
  });
});
