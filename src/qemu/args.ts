import type { Arch } from "../units/arch.js";
import { artifactsDiskSerial } from "../sync/artifacts-disk.js";
import { workspaceDiskSerial } from "../sync/workspace-disk.js";

export type Accel = "kvm" | "tcg";

/** The guest sees the wake channel as /dev/virtio-ports/<this name>. */
export const wakePortName = "org.kvmci.wake";

/**
 * `firmware`: SeaBIOS and the image's own bootloader (x86_64). `uefi`: UEFI firmware from pflash
 * and the image's own EFI bootloader (aarch64 cloud images); `vars` is the run's own copy of the
 * variable store, which the firmware writes. `kernel`: direct kernel boot.
 */
export type BootMethod =
  | { kind: "firmware" }
  | { kind: "uefi"; code: string; vars: string }
  | { kind: "kernel"; kernel: string; initrd: string; cmdline: string };

export interface QemuSpec {
  name: string;
  /** The guest's architecture: which qemu-system binary, machine and devices. */
  arch: Arch;
  accel: Accel;
  /** The CPU model the guest sees (see cpuModel). */
  cpu: string;
  cpus: number;
  memoryMiB: number;
  /**
   * Guest memory in a file instead of anonymous memory: `shared`, the guest writes the file (a
   * guest that will be saved: its memory is then copied, not streamed); not shared, the file
   * is mapped copy-on-write (a restored guest: the snapshot's memory, never written).
   */
  memoryFile?: { path: string; shared: boolean };
  overlayPath: string;
  seedPath: string;
  /**
   * The workspace disk (sync/workspace-disk.ts): read-only, found by the guest through its
   * serial number.
   */
  workspaceDiskPath: string;
  /** The artifacts disk (sync/artifacts-disk.ts): writable, found by its serial number. */
  artifactsDiskPath: string;
  consolePath: string;
  sshPort: number;
  boot: BootMethod;
  /**
   * `user`: QEMU's user-mode network, through which the guest reaches whatever the host can.
   * `none`: the same device with `restrict=on`: nothing in or out but kvmci's SSH forward.
   */
  network: "user" | "none";
  /** QEMU's machine protocol socket: saving and restoring snapshots go through it. */
  qmpPath: string;
  /** The host end of the wake channel (see guest/wake.ts). */
  wakePath: string;
  /** QEMU writes its pid here: the Action's post step stops a QEMU its main step left. */
  pidPath: string;
  /** Start paused, waiting for a snapshot's state (`migrate-incoming` over QMP). */
  incoming?: boolean;
  /**
   * A second card on the run's private network (guests: topologies): QEMU's stream netdev to
   * the run's switch (net/lan.ts), with a fixed MAC address.
   */
  lan?: { socketPath: string; mac: string };
}

/**
 * The x86-64 CPU under TCG: the x86-64-v2 level (what RHEL 9 and its rebuilds require) and
 * nothing beyond it. With `-cpu max`, glibc picks AVX2 string routines and the kernel picks
 * mitigations that TCG emulates slowly, and a cold boot to ready took 29 s against 27 s with this
 * model on a 2-core host (QEMU 7.2).
 */
export const tcgCpuModel = "qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,+cx16";

/**
 * The arm64 CPU under TCG: every feature QEMU emulates, with pointer authentication computed by
 * QEMU's cheap implementation-defined algorithm instead of QARMA, which the kernel and glibc use
 * on every function return: a cold boot took half as long as with plain `-cpu max` on a 2-core
 * host (QEMU 7.2). QEMU before 6.0 has no pauth-impdef; a Cortex-A57 (ARMv8.0, no pointer
 * authentication) boots about as fast there.
 */
export const tcgArmCpuModel = "max,pauth-impdef=on";
export const tcgArmCpuModelOldQemu = "cortex-a57";

/** `qemu-system-… --version`'s first line as [major, minor], or undefined. Pure. */
export function parseQemuVersion(text: string): [number, number] | undefined {
  const match = /version (\d+)\.(\d+)/.exec(text);
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

/**
 * The CPU the guest sees: under KVM the host's own, under TCG the model above for its
 * architecture. `qemuVersion` is `--version`'s first line (an unknown one counts as recent).
 * Pure.
 */
export function cpuModel(arch: Arch, accel: Accel, qemuVersion = ""): string {
  if (accel === "kvm") return "host";
  if (arch === "x86_64") return tcgCpuModel;
  const [major] = parseQemuVersion(qemuVersion) ?? [Infinity];
  return major >= 6 ? tcgArmCpuModel : tcgArmCpuModelOldQemu;
}

/** The qemu-system binary that runs guests of this architecture. */
export function qemuBinary(arch: Arch): string {
  return arch === "x86_64" ? "qemu-system-x86_64" : "qemu-system-aarch64";
}

/**
 * The board: q35 for x86_64; for aarch64 the generic `virt` board, whose interrupt controller
 * must be the host's own under KVM (TCG emulates a GICv2 by default).
 */
export function machineType(arch: Arch, accel: Accel): string {
  if (arch === "x86_64") return "q35";
  return accel === "kvm" ? "virt,gic-version=host" : "virt";
}

/** The full qemu-system command line for one guest. Pure. */
export function buildQemuArgs(spec: QemuSpec): string[] {
  const x86 = spec.arch === "x86_64";
  const args = [
    qemuBinary(spec.arch),
    "-name",
    spec.name,
    "-machine",
    spec.memoryFile
      ? `${machineType(spec.arch, spec.accel)},memory-backend=ram`
      : machineType(spec.arch, spec.accel),
    // Multi-threaded TCG uses every host core; a bigger translation cache avoids re-translating.
    "-accel",
    spec.accel === "kvm" ? "kvm" : "tcg,thread=multi,tb-size=256",
    "-cpu",
    spec.cpu,
    "-smp",
    String(spec.cpus),
    "-m",
    `${spec.memoryMiB}M`,
    ...(spec.memoryFile
      ? [
          "-object",
          `memory-backend-file,id=ram,size=${spec.memoryMiB}M,mem-path=${spec.memoryFile.path},share=${spec.memoryFile.shared ? "on" : "off"}`,
        ]
      : []),
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-chardev",
    `file,id=console,path=${spec.consolePath}`,
    "-serial",
    "chardev:console",
    // The disks in this order on the PCI bus, so the guest names them vda, vdb, vdc: the root
    // disk first, which is also the one the firmware boots (a BIOS boots only its first disk;
    // boot index 0 is the direct kernel boot's own when there is one).
    // The overlay is thrown away after the run, so host-side flushes buy nothing.
    "-drive",
    `file=${spec.overlayPath},if=none,id=root,format=qcow2,cache=unsafe,discard=unmap`,
    "-device",
    "virtio-blk-pci,drive=root,bootindex=1",
    "-drive",
    `file=${spec.seedPath},if=none,id=seed,format=raw,readonly=on`,
    "-device",
    "virtio-blk-pci,drive=seed",
    "-drive",
    `file=${spec.workspaceDiskPath},if=none,id=workspace,format=raw,readonly=on`,
    "-device",
    `virtio-blk-pci,drive=workspace,serial=${workspaceDiskSerial}`,
    "-netdev",
    `user,id=net0${spec.network === "none" ? ",restrict=on" : ""},hostfwd=tcp:127.0.0.1:${spec.sshPort}-:22`,
    "-device",
    "virtio-net-pci,netdev=net0",
    ...(spec.lan
      ? [
          "-netdev",
          `stream,id=lan,server=off,addr.type=unix,addr.path=${spec.lan.socketPath}`,
          "-device",
          `virtio-net-pci,netdev=lan,mac=${spec.lan.mac}`,
        ]
      : []),
    // Entropy early in boot: without it, services that need randomness wait.
    "-device",
    "virtio-rng-pci",
    // A kernel panic reaches QEMU through pvpanic and ends it at once, so a crashed guest is
    // reported as such within a moment instead of when SSH keepalives give up. The ISA device
    // on x86_64; the arm64 board has no ISA bus.
    "-device",
    x86 ? "pvpanic" : "pvpanic-pci",
    "-action",
    // exit-failure would say more, but needs QEMU 7.1; Ubuntu 22.04 has 6.2.
    "panic=shutdown",
    // A new generation id on every QEMU start: a guest restored from a snapshot reseeds its
    // random number generator instead of repeating the saved guest's sequence. QEMU has no
    // vmgenid for arm64: there the wake agent reseeds it (see guest/wake.ts).
    ...(x86 ? ["-device", "vmgenid,guid=auto"] : []),
    // The wake channel: a restored guest learns its key, name and clock through it.
    "-device",
    "virtio-serial-pci,id=serial0",
    "-chardev",
    `socket,id=wake,path=${spec.wakePath},server=on,wait=off`,
    "-device",
    `virtserialport,bus=serial0.0,chardev=wake,name=${wakePortName}`,
    // Last, so that the devices before it keep their PCI slots (and the network card its name).
    "-drive",
    `file=${spec.artifactsDiskPath},if=none,id=artifacts,format=raw`,
    "-device",
    `virtio-blk-pci,drive=artifacts,serial=${artifactsDiskSerial}`,
    "-qmp",
    `unix:${spec.qmpPath},server=on,wait=off`,
    "-pidfile",
    spec.pidPath,
  ];
  if (spec.incoming) args.push("-incoming", "defer");
  if (spec.boot.kind === "uefi") {
    args.push(
      "-drive",
      `if=pflash,format=raw,unit=0,readonly=on,file=${spec.boot.code}`,
      "-drive",
      `if=pflash,format=raw,unit=1,file=${spec.boot.vars}`,
    );
  }
  if (spec.boot.kind === "kernel") {
    args.push(
      "-kernel",
      spec.boot.kernel,
      "-initrd",
      spec.boot.initrd,
      "-append",
      spec.boot.cmdline,
    );
  }
  return args;
}
