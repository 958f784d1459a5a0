import { describe, expect, it } from "vitest";
import { buildQemuArgs, type QemuSpec } from "../../src/qemu/args.js";
import { buildKvmProbeArgs } from "../../src/qemu/accel.js";

const base: QemuSpec = {
  name: "kvmci-debian-12-abc",
  accel: "tcg",
  cpus: 2,
  memoryMiB: 2048,
  overlayPath: "/run/x/overlay.qcow2",
  seedPath: "/run/x/seed.iso",
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
    expect(valueOf(buildQemuArgs({ ...base, accel: "kvm" }), "-cpu")).toEqual(["host"]);
    expect(valueOf(buildQemuArgs({ ...base, accel: "kvm" }), "-accel")).toEqual(["kvm"]);
    expect(valueOf(buildQemuArgs(base), "-cpu")[0]).toMatch(/^qemu64,.*\+sse4\.2/);
    expect(valueOf(buildQemuArgs(base), "-accel")[0]).toMatch(/^tcg/);
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

  it("attaches the overlay and a read-only seed, and sends the serial console to a file", () => {
    const drives = valueOf(buildQemuArgs(base), "-drive");
    expect(drives[0]).toMatch(/^file=\/run\/x\/overlay\.qcow2,if=virtio,format=qcow2/);
    expect(drives[1]).toBe("file=/run/x/seed.iso,if=virtio,format=raw,readonly=on");
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
    const args = buildKvmProbeArgs("/k/vmlinuz");
    expect(valueOf(args, "-cpu")).toEqual(["host"]);
    expect(args).toContain("-no-reboot");
    expect(valueOf(args, "-append")[0]).toContain("panic=-1");
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
