import { describe, expect, it } from "vitest";
import {
  buildQemuArgs,
  cpuModel,
  parseQemuVersion,
  tcgCpuModel,
  type QemuSpec,
} from "../../src/qemu/args.js";
import { buildKvmProbeArgs, decideAccel } from "../../src/qemu/accel.js";

const base: QemuSpec = {
  name: "kvmci-debian-12-abc",
  arch: "x86_64",
  accel: "tcg",
  cpu: tcgCpuModel,
  cpus: 2,
  memoryMiB: 2048,
  overlayPath: "/run/x/overlay.qcow2",
  seedPath: "/run/x/seed.iso",
  workspaceDiskPath: "/run/workspace.img",
  artifactsDiskPath: "/run/artifacts.img",
  consolePath: "/run/x/console.log",
  sshPort: 40022,
  boot: { kind: "firmware" },
  network: "user",
  qmpPath: "/run/x/qmp.sock",
  wakePath: "/run/x/wake.sock",
  pidPath: "/run/x/qemu.pid",
};

function valueOf(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1] ?? ""] : []));
}

describe("buildQemuArgs", () => {
  it("uses -cpu host under KVM and an emulated model under TCG", () => {
    expect(cpuModel("x86_64", "kvm")).toBe("host");
    expect(cpuModel("aarch64", "kvm")).toBe("host");
    expect(valueOf(buildQemuArgs({ ...base, accel: "kvm" }), "-accel")).toEqual(["kvm"]);
    expect(cpuModel("x86_64", "tcg")).toMatch(/^qemu64,.*\+sse4\.2/);
    expect(valueOf(buildQemuArgs(base), "-cpu")).toEqual([tcgCpuModel]);
    expect(valueOf(buildQemuArgs(base), "-accel")[0]).toMatch(/^tcg/);
  });

  it("emulates arm64 with every feature but QEMU's cheap pointer authentication, or a Cortex-A57 before QEMU 6", () => {
    expect(cpuModel("aarch64", "tcg", "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7)")).toBe(
      "max,pauth-impdef=on",
    );
    expect(cpuModel("aarch64", "tcg", "QEMU emulator version 5.2.0 (Debian 1:5.2+dfsg-11)")).toBe(
      "cortex-a57",
    );
    expect(cpuModel("aarch64", "tcg", "")).toBe("max,pauth-impdef=on");
    expect(parseQemuVersion("QEMU emulator version 10.1.0")).toEqual([10, 1]);
    expect(parseQemuVersion("nonsense")).toBeUndefined();
  });

  it("runs an arm64 guest on the virt board with PCI devices, pvpanic-pci and no vmgenid", () => {
    const arm: QemuSpec = { ...base, arch: "aarch64", cpu: "max,pauth-impdef=on" };
    const args = buildQemuArgs(arm);
    expect(args[0]).toBe("qemu-system-aarch64");
    expect(valueOf(args, "-machine")).toEqual(["virt"]);
    expect(valueOf(args, "-accel")).toEqual(["tcg,thread=multi,tb-size=256"]);
    expect(valueOf(args, "-cpu")).toEqual(["max,pauth-impdef=on"]);
    expect(valueOf(args, "-device")).toEqual(
      expect.arrayContaining(["virtio-net-pci,netdev=net0", "virtio-rng-pci", "pvpanic-pci"]),
    );
    expect(valueOf(args, "-device").some((d) => d.startsWith("vmgenid"))).toBe(false);
    expect(valueOf(args, "-device")).not.toContain("pvpanic");
    const kvm = buildQemuArgs({ ...arm, accel: "kvm", cpu: "host" });
    expect(valueOf(kvm, "-machine")).toEqual(["virt,gic-version=host"]);
    expect(valueOf(kvm, "-accel")).toEqual(["kvm"]);
    expect(valueOf(kvm, "-cpu")).toEqual(["host"]);
  });

  it("boots an arm64 image through UEFI from pflash: the firmware read-only, the run's own variables", () => {
    const args = buildQemuArgs({
      ...base,
      arch: "aarch64",
      cpu: "max",
      boot: { kind: "uefi", code: "/fw/AAVMF_CODE.fd", vars: "/run/x/uefi-vars.fd" },
    });
    expect(valueOf(args, "-drive").slice(4)).toEqual([
      "if=pflash,format=raw,unit=0,readonly=on,file=/fw/AAVMF_CODE.fd",
      "if=pflash,format=raw,unit=1,file=/run/x/uefi-vars.fd",
    ]);
    expect(args).not.toContain("-kernel");
  });

  it("keeps a guest's memory in a file when asked: shared to be saved, copy-on-write when restored", () => {
    expect(valueOf(buildQemuArgs(base), "-object")).toEqual([]);
    expect(valueOf(buildQemuArgs(base), "-machine")).toEqual(["q35"]);
    const saved = buildQemuArgs({
      ...base,
      memoryFile: { path: "/run/x/memory.ram", shared: true },
    });
    expect(valueOf(saved, "-machine")).toEqual(["q35,memory-backend=ram"]);
    expect(valueOf(saved, "-object")).toEqual([
      "memory-backend-file,id=ram,size=2048M,mem-path=/run/x/memory.ram,share=on",
    ]);
    expect(valueOf(saved, "-m")).toEqual(["2048M"]);
    const restored = buildQemuArgs({
      ...base,
      arch: "aarch64",
      memoryFile: { path: "/cache/s/memory.ram", shared: false },
    });
    expect(valueOf(restored, "-machine")).toEqual(["virt,memory-backend=ram"]);
    expect(valueOf(restored, "-object")).toEqual([
      "memory-backend-file,id=ram,size=2048M,mem-path=/cache/s/memory.ram,share=off",
    ]);
  });

  it("gives the guest its workspace disk read-only, with the serial number the agent mounts", () => {
    const args = buildQemuArgs(base);
    expect(valueOf(args, "-drive")).toContain(
      "file=/run/workspace.img,if=none,id=workspace,format=raw,readonly=on",
    );
    expect(valueOf(args, "-device")).toContain(
      "virtio-blk-pci,drive=workspace,serial=kvmci-workspace",
    );
  });

  it("forwards SSH from loopback only", () => {
    expect(valueOf(buildQemuArgs(base), "-netdev")).toEqual([
      "user,id=net0,hostfwd=tcp:127.0.0.1:40022-:22",
    ]);
  });

  it("with --network none, restricts the guest to kvmci's SSH forward", () => {
    expect(valueOf(buildQemuArgs({ ...base, network: "none" }), "-netdev")).toEqual([
      "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22",
    ]);
  });

  it("attaches the overlay (booted first), a read-only seed, the workspace disk and the artifacts disk in that order, and sends the serial console to a file", () => {
    const drives = valueOf(buildQemuArgs(base), "-drive");
    expect(drives[0]).toMatch(/^file=\/run\/x\/overlay\.qcow2,if=none,id=root,format=qcow2/);
    expect(drives[1]).toBe("file=/run/x/seed.iso,if=none,id=seed,format=raw,readonly=on");
    expect(drives[2]).toMatch(/^file=\/run\/workspace\.img,if=none,id=workspace,/);
    // Writable: the guest writes its artifacts there.
    expect(drives[3]).toBe("file=/run/artifacts.img,if=none,id=artifacts,format=raw");
    // The guest names virtio disks in PCI order: vda is the root disk, as before there was a
    // third; and a BIOS boots only its first disk.
    expect(
      valueOf(buildQemuArgs(base), "-device").filter((d) => d.startsWith("virtio-blk")),
    ).toEqual([
      "virtio-blk-pci,drive=root,bootindex=1",
      "virtio-blk-pci,drive=seed",
      "virtio-blk-pci,drive=workspace,serial=kvmci-workspace",
      "virtio-blk-pci,drive=artifacts,serial=kvmci-artifacts",
    ]);
    // Last of all devices: the ones before it keep their PCI slots, the network card its name.
    const devices = valueOf(buildQemuArgs(base), "-device");
    expect(devices.at(-1)).toBe("virtio-blk-pci,drive=artifacts,serial=kvmci-artifacts");
    expect(valueOf(buildQemuArgs(base), "-chardev")).toEqual([
      "file,id=console,path=/run/x/console.log",
      "socket,id=wake,path=/run/x/wake.sock,server=on,wait=off",
    ]);
  });

  it("boots the kernel directly only when asked", () => {
    expect(buildQemuArgs(base)).not.toContain("-kernel");
    const args = buildQemuArgs({
      ...base,
      boot: {
        kind: "kernel",
        kernel: "/i/vmlinuz",
        initrd: "/i/initrd.img",
        cmdline: "root=PARTUUID=x-01 rw",
      },
    });
    expect(valueOf(args, "-kernel")).toEqual(["/i/vmlinuz"]);
    expect(valueOf(args, "-initrd")).toEqual(["/i/initrd.img"]);
    expect(valueOf(args, "-append")).toEqual(["root=PARTUUID=x-01 rw"]);
  });

  it("sizes the guest", () => {
    const args = buildQemuArgs({ ...base, cpus: 4, memoryMiB: 1024 });
    expect(valueOf(args, "-smp")).toEqual(["4"]);
    expect(valueOf(args, "-m")).toEqual(["1024M"]);
  });

  it("probes KVM with the host CPU model and no reboot, so a panic ends QEMU", () => {
    const args = buildKvmProbeArgs("x86_64", "/k/vmlinuz");
    expect(args[0]).toBe("qemu-system-x86_64");
    expect(valueOf(args, "-cpu")).toEqual(["host"]);
    expect(args).toContain("-no-reboot");
    expect(valueOf(args, "-append")[0]).toContain("panic=-1");
    const arm = buildKvmProbeArgs("aarch64", "/k/Image");
    expect(arm[0]).toBe("qemu-system-aarch64");
    expect(valueOf(arm, "-machine")).toEqual(["virt,gic-version=host"]);
    expect(valueOf(arm, "-append")[0]).toMatch(/^console=ttyAMA0 panic=-1/);
  });

  it("emulates a guest of another architecture without probing KVM; --accel kvm cannot run it", async () => {
    const probe = { arch: "aarch64" as const, hostArch: "x86_64" as const, devicePath: "/nope" };
    const auto = await decideAccel("auto", probe);
    expect(auto.accel).toBe("tcg");
    expect(auto.kvmProblem).toBeUndefined();
    expect(auto.reason).toMatch(/^software emulation \(TCG\): an aarch64 guest on an x86_64 host/);
    const kvm = await decideAccel("kvm", probe);
    expect(kvm.kvmProblem?.message).toMatch(/KVM runs guests of the host's own architecture only/);
    // The host's own architecture is probed as before: here /dev/kvm is missing.
    const own = await decideAccel("auto", { ...probe, arch: "x86_64" });
    expect(own.kvmProblem?.message).toBe("/nope does not exist");
  });

  it("has a QMP socket and the wake channel, and waits for a saved state only when asked", () => {
    const args = buildQemuArgs(base);
    expect(valueOf(args, "-qmp")).toEqual(["unix:/run/x/qmp.sock,server=on,wait=off"]);
    expect(valueOf(args, "-device")).toContain(
      "virtserialport,bus=serial0.0,chardev=wake,name=org.kvmci.wake",
    );
    expect(valueOf(args, "-device")).toContain("vmgenid,guid=auto");
    expect(args).not.toContain("-incoming");
    expect(valueOf(buildQemuArgs({ ...base, incoming: true }), "-incoming")).toEqual(["defer"]);
  });
});
