import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { KvmciError } from "../errors.js";
import { runCommand } from "../host/command.js";
import { toolInstaller } from "../host/packages.js";
import { qemuBinary } from "../qemu/args.js";
import type { Arch } from "../units/arch.js";

export type Log = (line: string) => void;

/** `sudo -n` unless already root: a hosted runner's user may sudo without a password. */
function asRoot(argv: string[], isRoot: boolean): string[] {
  return isRoot ? argv : ["sudo", "-n", ...argv];
}

/**
 * Installs QEMU for the guests' architectures (and mmdebstrap when an image must be built) with
 * apt when missing, and says how long that took, before the run's own groups start. What a
 * build for another architecture needs (qemu-user, binfmt_misc) is set up by the build, which
 * says so. A runner without apt or sudo gets the packages named in the error.
 */
export async function ensureHostTools(
  o: { arches: Arch[]; needBuild: boolean; isRoot: boolean; signal: AbortSignal },
  log: Log,
): Promise<void> {
  const tools = [
    ...o.arches.map(qemuBinary),
    "qemu-img",
    "tar",
    // Optional for the CLI (the workspace goes over SSH without it), but a warm run's
    // workspace is on a disk in milliseconds with it.
    "mksquashfs",
    ...(o.needBuild ? ["mmdebstrap"] : []),
  ];
  await toolInstaller({
    mode: "auto",
    isRoot: o.isRoot,
    log: (line) => log(`host tools: ${line}`),
    signal: o.signal,
  })(tools, "to run the guest");
  log(`host tools: ${tools.join(", ")} present`);
}

const udevRule = 'KERNEL=="kvm", GROUP="kvm", MODE="0666", OPTIONS+="static_node=kvm"';
const udevRulePath = "/etc/udev/rules.d/99-kvmci-kvm.rules";

/**
 * Makes /dev/kvm usable for the runner's user when it exists but is not (GitHub's hosted Linux
 * runners: root:kvm 0660): a udev rule, with sudo. Says what it found and did; whether KVM
 * then really runs guests is for `--accel auto` to prove.
 */
export async function enableKvm(
  o: { isRoot: boolean; signal: AbortSignal; device?: string },
  log: Log,
): Promise<void> {
  const device = o.device ?? "/dev/kvm";
  const usable = () =>
    access(device, constants.R_OK | constants.W_OK).then(
      () => true,
      () => false,
    );
  if (
    !(await access(device).then(
      () => true,
      () => false,
    ))
  ) {
    log(
      `kvm: ${device} does not exist on this runner; guests run under software emulation (slower)`,
    );
    return;
  }
  if (await usable()) {
    log(`kvm: ${device} is usable by this user`);
    return;
  }
  try {
    await runCommand(
      asRoot(
        [
          "sh",
          "-c",
          `echo '${udevRule}' > ${udevRulePath} && udevadm control --reload-rules && udevadm trigger --name-match=kvm`,
        ],
        o.isRoot,
      ),
      { signal: o.signal },
    );
  } catch (error) {
    log(
      `kvm: ${device} exists but this user may not use it, and a udev rule could not be added (${error instanceof KvmciError ? error.message : String(error)})`,
    );
    return;
  }
  for (let i = 0; i < 20 && !(await usable()); i++) await new Promise((r) => setTimeout(r, 100));
  log(
    (await usable())
      ? `kvm: made ${device} usable for this user with a udev rule (${udevRulePath})`
      : `kvm: added a udev rule, but ${device} is still not usable by this user`,
  );
}
