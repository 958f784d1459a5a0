import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { buildQemuArgs, type QemuSpec } from "../qemu/args.js";

/** Bumped whenever what a snapshot holds, or how it is restored, changes. */
export const snapshotFormat = 10;

/** Everything a saved guest state depends on; any difference means another snapshot. */
export interface SnapshotKeyParts {
  /** Of the image the guest booted from (a prepared image's own digest). */
  imageDigest: string;
  /** The guest architecture's `qemu-system-… --version`, first line. */
  qemuVersion: string;
  /** The guest's whole QEMU command line with per-run paths, ports and names left out. */
  machine: string[];
  /** Under KVM with `-cpu host`: the host CPU's identity (see hostCpuIdentity). */
  hostCpu: string | undefined;
  /** The user's extra cloud-config: it ran during the saved boot. */
  userData: unknown;
  /** The guest disk's size: the saved guest grew its file system to it. */
  diskBytes: number;
  /** The wake agent's script: the saved guest runs it, waiting, and applies each wake with it. */
  wakeAgent: string;
}

/** The spec fields that differ per run and must not enter a key. */
type PerRun =
  | "name"
  | "overlayPath"
  | "seedPath"
  | "workspaceDiskPath"
  | "artifactsDiskPath"
  | "consolePath"
  | "sshPort"
  | "qmpPath"
  | "wakePath"
  | "pidPath";

/**
 * The command line a snapshot's machine is made of, without what changes per run: paths, ports,
 * names, and where the cache folder is (the kernel's path; the image digest stands for it). The
 * binary, board and CPU model in it say the architecture. Pure.
 */
export function machineArgs(spec: Omit<QemuSpec, PerRun | "incoming" | "memoryFile">): string[] {
  return buildQemuArgs({
    ...spec,
    // Saved and restored guests have their memory in a file (shared when saved, mapped
    // copy-on-write when restored): one machine.
    memoryFile: { path: "MEMORY", shared: false },
    boot:
      spec.boot.kind === "kernel"
        ? { ...spec.boot, kernel: "KERNEL", initrd: "INITRD" }
        : spec.boot.kind === "uefi"
          ? { ...spec.boot, vars: "VARS" }
          : spec.boot,
    lan: spec.lan ? { ...spec.lan, socketPath: "LAN" } : undefined,
    name: "NAME",
    overlayPath: "OVERLAY",
    seedPath: "SEED",
    workspaceDiskPath: "WORKSPACE",
    artifactsDiskPath: "ARTIFACTS",
    consolePath: "CONSOLE",
    sshPort: 0,
    qmpPath: "QMP",
    wakePath: "WAKE",
    pidPath: "PID",
  });
}

/** A stable hash of the parts. Pure. */
export function snapshotKey(parts: SnapshotKeyParts): string {
  const canonical = JSON.stringify([
    snapshotFormat,
    parts.imageDigest,
    parts.qemuVersion,
    parts.machine,
    parts.hostCpu ?? null,
    canonicalJson(parts.userData ?? null),
    parts.diskBytes,
    createHash("sha256").update(parts.wakeAgent).digest("hex"),
  ]);
  return createHash("sha256").update(canonical).digest("hex");
}

/** JSON with object keys sorted, so equal settings give equal text. Pure. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/**
 * The host CPU as a guest with `-cpu host` sees it: vendor, family, model, stepping and the
 * feature flags. A snapshot saved on one CI runner is only restored on a runner whose CPU
 * matches, since the saved guest may use any feature its CPU had.
 */
export async function hostCpuIdentity(cpuinfo?: string): Promise<string> {
  const text = cpuinfo ?? (await readFile("/proc/cpuinfo", "utf8"));
  return parseCpuIdentity(text);
}

/**
 * Pure: the identity from /proc/cpuinfo's first processor. An arm64 host names its CPU by
 * implementer, part, variant and revision, and its features under `Features`.
 */
export function parseCpuIdentity(cpuinfo: string): string {
  const first = cpuinfo.split(/\n\s*\n/)[0] ?? "";
  const field = (name: string) =>
    new RegExp(`^${name}\\s*:\\s*(.*)$`, "m").exec(first)?.[1]?.trim() ?? "?";
  if (!/^vendor_id\s*:/m.test(first) && /^CPU implementer\s*:/m.test(first)) {
    const features = field("Features").split(/\s+/).sort().join(" ");
    return [
      `implementer ${field("CPU implementer")}`,
      `part ${field("CPU part")}`,
      `variant ${field("CPU variant")}`,
      `revision ${field("CPU revision")}`,
      `features ${createHash("sha256").update(features).digest("hex").slice(0, 16)}`,
    ].join(", ");
  }
  const flags = field("flags").split(/\s+/).sort().join(" ");
  const flagsHash = createHash("sha256").update(flags).digest("hex").slice(0, 16);
  return [
    field("vendor_id"),
    `family ${field("cpu family")}`,
    `model ${field("model")}`,
    `stepping ${field("stepping")}`,
    field("model name"),
    `flags ${flagsHash}`,
  ].join(", ");
}
