import { constants } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import { which } from "../host/which.js";
import { execa } from "execa";
import type { Arch } from "../units/arch.js";
import { cpuModel, machineType, qemuBinary, type Accel } from "./args.js";

export type AccelRequest = "auto" | Accel;

export interface AccelDecision {
  accel: Accel;
  /** Why this accel: shown in the log and the report. */
  reason: string;
  /** Set when KVM was wanted (or could have been used) and cannot be: what is wrong. */
  kvmProblem?: KvmProblem;
}

export interface KvmProblem {
  message: string;
  hint: string;
}

export interface KvmProbeOptions {
  /** The guest's architecture; KVM runs only guests of the host's own. */
  arch: Arch;
  hostArch: Arch | undefined;
  devicePath?: string;
  /**
   * Remembers the kernel-boot proof for this host boot (keyed by boot id, QEMU binary and
   * kernel), so that a host whose KVM hangs costs the probe's timeout once, not every run.
   */
  memo?: ProbeMemo;
  /** A 64-bit Linux kernel of the guest's architecture to boot as the proof (the image's own). */
  kernel?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Decides between KVM and TCG. `auto` uses KVM only after a 64-bit kernel actually ran under it:
 * `/dev/kvm` can exist and still be unusable (no permission, or a host whose nested
 * virtualisation runs firmware but hangs 64-bit kernels).
 */
export async function decideAccel(
  request: AccelRequest,
  probe: KvmProbeOptions,
): Promise<AccelDecision> {
  if (request === "tcg") return { accel: "tcg", reason: "requested with --accel tcg" };
  if (probe.arch !== probe.hostArch) {
    const problem = foreignArchProblem(probe.arch, probe.hostArch);
    return request === "kvm"
      ? { accel: "tcg", reason: problem.message, kvmProblem: problem }
      : { accel: "tcg", reason: `software emulation (TCG): ${problem.message}` };
  }
  const problem = await probeKvm(probe);
  if (!problem && !probe.kernel)
    return {
      accel: "kvm",
      reason:
        "/dev/kvm is usable; no kernel was at hand to prove a 64-bit guest runs under it (if the boot hangs, use --accel tcg)",
    };
  if (!problem) return { accel: "kvm", reason: "KVM is usable: a 64-bit kernel booted under it" };
  return {
    accel: "tcg",
    reason: `software emulation (TCG), because ${problem.message}`,
    kvmProblem: problem,
  };
}

/** Why KVM cannot run a guest of another architecture than the host's. Pure. */
export function foreignArchProblem(arch: Arch, hostArch: Arch | undefined): KvmProblem {
  return {
    message: `an ${arch} guest on ${hostArch ? `an ${hostArch}` : "this"} host (KVM runs guests of the host's own architecture only)`,
    hint: `Leave --accel at auto (or tcg) to emulate it, or run on an ${arch} host with KVM for full speed.`,
  };
}

/** Returns what is wrong with KVM on this host, or undefined when it works. */
export async function probeKvm(options: KvmProbeOptions): Promise<KvmProblem | undefined> {
  const device = options.devicePath ?? "/dev/kvm";
  try {
    await stat(device);
  } catch {
    return {
      message: `${device} does not exist`,
      hint:
        options.arch === "aarch64"
          ? "KVM on arm64 needs a kernel started in EL2 (bare metal, or a virtual machine whose host offers nested virtualisation); " +
            "without it guests are emulated."
          : "Enable virtualisation (VT-x/AMD-V) in the firmware and load the kvm_intel or kvm_amd module; " +
            "inside a virtual machine, nested virtualisation must be enabled by its host.",
    };
  }
  try {
    await access(device, constants.R_OK | constants.W_OK);
  } catch {
    return {
      message: `this user may not open ${device}`,
      hint:
        "Add yourself to its group (sudo usermod -aG kvm $USER, then log in again), or add a udev rule: " +
        `echo 'KERNEL=="kvm", GROUP="kvm", MODE="0666", OPTIONS+="static_node=kvm"' | sudo tee /etc/udev/rules.d/99-kvm.rules && sudo udevadm control --reload-rules && sudo udevadm trigger --name-match=kvm`,
    };
  }
  if (!options.kernel) return undefined;
  const kernel = options.kernel;
  const key = options.memo ? await probeKey(options.arch, kernel) : undefined;
  if (options.memo && key) {
    const remembered = await options.memo.get(key);
    if (remembered !== undefined) return remembered ?? undefined;
  }
  const problem = await bootProbeKernel(
    options.arch,
    kernel,
    options.timeoutMs ?? 10_000,
    options.signal,
  );
  options.signal?.throwIfAborted();
  if (options.memo && key) await options.memo.set(key, problem ?? null);
  return problem;
}

/** Where probe outcomes are remembered; `null` means "KVM worked". */
export interface ProbeMemo {
  get(key: string): Promise<KvmProblem | null | undefined>;
  set(key: string, value: KvmProblem | null): Promise<void>;
}

async function probeKey(arch: Arch, kernel: string): Promise<string | undefined> {
  try {
    const bootId = (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim();
    const qemu = await which(qemuBinary(arch));
    if (!qemu) return undefined;
    const [q, k] = await Promise.all([stat(qemu), stat(kernel)]);
    return [bootId, qemu, q.size, q.mtimeMs, kernel, k.size, k.mtimeMs].join("|");
  } catch {
    return undefined;
  }
}

/** The probe's command line: boot the kernel with no disk; it must get as far as panicking. */
export function buildKvmProbeArgs(arch: Arch, kernel: string): string[] {
  return [
    qemuBinary(arch),
    "-machine",
    machineType(arch, "kvm"),
    "-accel",
    "kvm",
    "-cpu",
    cpuModel(arch, "kvm"),
    "-m",
    "256M",
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-no-reboot",
    "-serial",
    "stdio",
    "-kernel",
    kernel,
    "-append",
    `console=${arch === "x86_64" ? "ttyS0" : "ttyAMA0"} panic=-1 loglevel=4`,
  ];
}

async function bootProbeKernel(
  arch: Arch,
  kernel: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<KvmProblem | undefined> {
  const [file, ...args] = buildKvmProbeArgs(arch, kernel);
  let output = "";
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  const child = execa(file ?? qemuBinary(arch), args, {
    reject: false,
    all: true,
    stdin: "ignore",
    cancelSignal: controller.signal,
    forceKillAfterDelay: 1000,
  });
  // The kernel has nothing to mount, so it panics; reaching that means it ran in 64-bit mode.
  const reached = new Promise<boolean>((resolve) => {
    child.all?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (/Kernel panic|VFS: Unable to mount root/.test(output)) resolve(true);
    });
    void child.then(() => resolve(/Kernel panic|VFS: Unable to mount root/.test(output)));
  });
  const timer = new Promise<false>((resolve) =>
    setTimeout(() => resolve(false), timeoutMs).unref(),
  );
  const ok = await Promise.race([reached, timer]);
  controller.abort();
  const result = await child;
  signal?.removeEventListener("abort", onAbort);
  if (ok) return undefined;
  const lastLine = output
    .split("\n")
    .filter((l) => l.trim())
    .pop();
  if (result.exitCode !== undefined && result.exitCode !== 0 && !result.isCanceled) {
    return {
      message: `QEMU could not start a KVM guest (${lastLine ?? `exit ${result.exitCode}`})`,
      hint: "The host's KVM does not support this CPU (often a virtual machine with limited nested virtualisation). Use --accel tcg, or enable nested virtualisation on the machine's host.",
    };
  }
  return {
    message: `a 64-bit kernel did not boot under KVM within ${Math.round(timeoutMs / 1000)}s`,
    hint: "The host exposes /dev/kvm but cannot run 64-bit guests (typical of nested virtualisation without full support). Use --accel tcg, or enable nested virtualisation on the machine's host.",
  };
}
