export type Accel = "kvm" | "tcg";

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
}

/** Under KVM the guest sees the host CPU; under TCG, `max` is every feature QEMU can emulate. */
export function cpuModel(accel: Accel): string {
  return accel === "kvm" ? "host" : "max";
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
    `user,id=net0,hostfwd=tcp:127.0.0.1:${spec.sshPort}-:22`,
    "-device",
    "virtio-net-pci,netdev=net0",
    // Entropy early in boot: without it, services that need randomness wait.
    "-device",
    "virtio-rng-pci",
  ];
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
