export type Accel = "kvm" | "tcg";

/** The guest sees the wake channel as /dev/virtio-ports/<this name>. */
export const wakePortName = "org.kvmci.wake";

export type BootMethod =
  { kind: "firmware" } | { kind: "kernel"; kernel: string; initrd: string; cmdline: string };

export interface QemuSpec {
  name: string;
  accel: Accel;
  cpus: number;
  memoryMiB: number;
  overlayPath: string;
  seedPath: string;
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
 * The CPU the guest sees. Under KVM, the host's own. Under TCG, the x86-64-v2 level (what RHEL 9
 * and its rebuilds require) and nothing beyond it: with `-cpu max`, glibc picks AVX2 string
 * routines and the kernel picks mitigations that TCG emulates slowly, and a cold boot to ready
 * took 29 s against 27 s with this model on a 2-core host (QEMU 7.2).
 */
export const tcgCpuModel = "qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,+cx16";

export function cpuModel(accel: Accel): string {
  return accel === "kvm" ? "host" : tcgCpuModel;
}

/** The full qemu-system-x86_64 command line for one guest. Pure. */
export function buildQemuArgs(spec: QemuSpec): string[] {
  const args = [
    "qemu-system-x86_64",
    "-name",
    spec.name,
    "-machine",
    "q35",
    // Multi-threaded TCG uses every host core; a bigger translation cache avoids re-translating.
    "-accel",
    spec.accel === "kvm" ? "kvm" : "tcg,thread=multi,tb-size=256",
    "-cpu",
    cpuModel(spec.accel),
    "-smp",
    String(spec.cpus),
    "-m",
    `${spec.memoryMiB}M`,
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-chardev",
    `file,id=console,path=${spec.consolePath}`,
    "-serial",
    "chardev:console",
    // The overlay is thrown away after the run, so host-side flushes buy nothing.
    "-drive",
    `file=${spec.overlayPath},if=virtio,format=qcow2,cache=unsafe,discard=unmap`,
    "-drive",
    `file=${spec.seedPath},if=virtio,format=raw,readonly=on`,
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
    // reported as such within a moment instead of when SSH keepalives give up.
    "-device",
    "pvpanic",
    "-action",
    // exit-failure would say more, but needs QEMU 7.1; Ubuntu 22.04 has 6.2.
    "panic=shutdown",
    // A new generation id on every QEMU start: a guest restored from a snapshot reseeds its
    // random number generator instead of repeating the saved guest's sequence.
    "-device",
    "vmgenid,guid=auto",
    // The wake channel: a restored guest learns its key, name and clock through it.
    "-device",
    "virtio-serial-pci,id=serial0",
    "-chardev",
    `socket,id=wake,path=${spec.wakePath},server=on,wait=off`,
    "-device",
    `virtserialport,bus=serial0.0,chardev=wake,name=${wakePortName}`,
    "-qmp",
    `unix:${spec.qmpPath},server=on,wait=off`,
    "-pidfile",
    spec.pidPath,
  ];
  if (spec.incoming) args.push("-incoming", "defer");
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
