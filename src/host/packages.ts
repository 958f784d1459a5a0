import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { execa } from "execa";
import { KvmciError } from "../errors.js";
import { formatDuration } from "../units/duration.js";
import { runCommand } from "./command.js";
import { which } from "./which.js";

/**
 * The Debian/Ubuntu package each tool kvmci runs comes in (and each file it reads: a name that
 * starts with / is a file that must be there, not a command).
 */
export const packageOf: Record<string, string> = {
  "qemu-system-x86_64": "qemu-system-x86",
  "qemu-system-aarch64": "qemu-system-arm",
  "qemu-img": "qemu-utils",
  "qemu-aarch64-static": "qemu-user-static",
  "qemu-x86_64-static": "qemu-user-static",
  "arch-test": "arch-test",
  "/usr/share/AAVMF/AAVMF_CODE.fd": "qemu-efi-aarch64",
  "update-binfmts": "binfmt-support",
  mmdebstrap: "mmdebstrap",
  newuidmap: "uidmap",
  newgidmap: "uidmap",
  tar: "tar",
  mksquashfs: "squashfs-tools",
  unsquashfs: "squashfs-tools",
  git: "git",
  isoinfo: "genisoimage",
  sfdisk: "fdisk",
  sudo: "sudo",
  ssh: "openssh-client",
};

/** Where apt puts what it installs: looked in after an install, whatever PATH says. */
const systemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface InstallPolicy {
  /** `never`: --no-install (or KVMCI_NO_INSTALL=1); say the command instead. */
  mode: "auto" | "never";
  isRoot: boolean;
  /** Asks a yes/no question on a terminal; absent without one (CI), where kvmci goes ahead. */
  ask?: (question: string) => Promise<boolean>;
  /** One line of what is done and why. */
  log: (line: string) => void;
  signal?: AbortSignal;
  /** PATH to look in (kvmci's own by default). */
  path?: string;
  /** Adds the system's folders to kvmci's PATH when what was installed is only found there. */
  extendPath?: (dirs: string) => void;
}

/** Makes sure tools are there: the ones missing installed with apt-get, or an error saying how. */
export type EnsureTools = (tools: string[], purpose: string) => Promise<void>;

/** The tools not found, and the packages that provide them. */
export async function missingTools(
  tools: string[],
  path?: string,
): Promise<{ missing: string[]; packages: string[] }> {
  const missing: string[] = [];
  for (const tool of tools) if (!(await present(tool, path))) missing.push(tool);
  return { missing, packages: [...new Set(missing.map((t) => packageOf[t] ?? t))] };
}

async function present(tool: string, path: string | undefined): Promise<boolean> {
  if (!tool.startsWith("/")) return (await which(tool, path)) !== undefined;
  return access(tool, constants.R_OK).then(
    () => true,
    () => false,
  );
}

/**
 * What the host lacks (QEMU, qemu-img, mmdebstrap, uidmap…) is installed with apt-get when kvmci
 * runs as root or may use sudo without a password: on a terminal after asking, elsewhere (CI)
 * after one line saying what and why. With `mode: never`, without apt-get or without root, the
 * error gives the exact command.
 */
export function toolInstaller(policy: InstallPolicy): EnsureTools {
  return async (tools, purpose) => {
    const { missing, packages } = await missingTools(tools, policy.path);
    if (missing.length === 0) return;
    const command = `sudo apt-get install -y ${packages.join(" ")}`;
    const refuse = (why: string) =>
      new KvmciError(
        "hostRequirement",
        `${missing.join(" and ")} ${missing.length === 1 ? "is" : "are"} needed ${purpose} but not installed${why}`,
        { hint: `Install with: ${command}  (then \`kvmci doctor\` checks the rest)` },
      );
    if (policy.mode === "never") throw refuse(" (--no-install: kvmci installs nothing)");
    if (!(await which("apt-get", policy.path)))
      throw refuse(" (this host has no apt-get for kvmci to install them with)");
    const root = policy.isRoot
      ? []
      : (await sudoWithoutPassword(policy.signal))
        ? ["sudo", "-n"]
        : undefined;
    if (!root) throw refuse(" (kvmci installs them only as root or with passwordless sudo)");
    const what = `${packages.join(" ")} with apt-get (${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} needed ${purpose})`;
    if (policy.ask) {
      if (!(await policy.ask(`kvmci: install ${what}? [y/N] `)))
        throw refuse(" (you chose not to install them)");
    } else policy.log(`installing ${what}; --no-install turns this off`);
    const started = Date.now();
    const options = {
      env: { DEBIAN_FRONTEND: "noninteractive" },
      signal: policy.signal,
      failureCode: "hostRequirement" as const,
      hint: `Install them yourself: ${command}`,
    };
    await runCommand([...root, "apt-get", "update", "-q"], options);
    await runCommand(
      [...root, "apt-get", "install", "-y", "-q", "--no-install-recommends", ...packages],
      options,
    );
    // apt puts them in the system's folders, which a narrow PATH may leave out.
    const after = await missingTools(
      tools,
      `${policy.path ?? process.env.PATH ?? ""}:${systemPath}`,
    );
    if (after.missing.length === 0 && (await missingTools(tools, policy.path)).missing.length > 0)
      policy.extendPath?.(systemPath);
    if (after.missing.length > 0)
      throw new KvmciError(
        "hostRequirement",
        `apt-get installed ${packages.join(" ")}, but ${after.missing.join(" and ")} still cannot be found`,
        { hint: `Check the packages' contents (dpkg -L ${after.packages.join(" ")}).` },
      );
    policy.log(`installed ${packages.join(" ")} in ${formatDuration(Date.now() - started)}`);
  };
}

/** Whether `sudo -n` runs a command here (a CI runner's user usually may). */
export async function sudoWithoutPassword(signal?: AbortSignal): Promise<boolean> {
  if (!(await which("sudo"))) return false;
  const result = await execa("sudo", ["-n", "true"], {
    reject: false,
    stdin: "ignore",
    timeout: 10_000,
    cancelSignal: signal,
  });
  return result.exitCode === 0;
}
