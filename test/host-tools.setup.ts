import { toolInstaller } from "../src/host/packages.js";
import { aarch64Uefi } from "../src/qemu/firmware.js";

/**
 * Before any test: what the tests need of the host, installed with kvmci's own installer (apt-get
 * as root or with passwordless sudo, one line saying what and why), so that `npm ci && npm test`
 * in a fresh clone on a fresh Debian or Ubuntu machine needs no step before it. Elsewhere it
 * says what to install, as kvmci does.
 */
export default async function installTestTools(): Promise<void> {
  await toolInstaller({
    mode: "auto",
    isRoot: process.getuid?.() === 0,
    log: (line) => process.stderr.write(`tests › ${line}\n`),
    extendPath: (dirs) => {
      process.env.PATH = `${process.env.PATH ?? ""}:${dirs}`;
    },
  })(
    [
      "qemu-system-x86_64",
      "qemu-img",
      "mmdebstrap",
      // arm64 guests: their QEMU and UEFI firmware, and qemu-user and arch-test to build their
      // images here (kvmci itself mounts binfmt_misc and registers qemu-aarch64 when it builds).
      "qemu-system-aarch64",
      aarch64Uefi.code,
      "qemu-aarch64-static",
      "arch-test",
      "tar",
      "git",
      // The workspace disk (mksquashfs), and its independent reader in the unit tests.
      "mksquashfs",
      "unsquashfs",
      // Independent readers of what kvmci writes (seeds, partition tables), in the unit tests.
      "isoinfo",
      "sfdisk",
      // The simulated CI runner (an ordinary user with sudo) and OpenSSH for kvmci ssh --print.
      "sudo",
      "newuidmap",
      "ssh",
    ],
    "by the tests",
  );
}
