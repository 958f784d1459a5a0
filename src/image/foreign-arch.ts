import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { KvmciError } from "../errors.js";
import { runCommand } from "../host/command.js";
import { sudoWithoutPassword, type EnsureTools } from "../host/packages.js";
import { which } from "../host/which.js";
import { debianArch, type Arch } from "../units/arch.js";

// Building an image for another architecture than the host's runs the image's own programs
// (dpkg, maintainer scripts, mkinitramfs) on the host under qemu-user: the kernel hands each
// foreign binary to qemu-<arch>-static through binfmt_misc. mmdebstrap checks that with
// arch-test before it starts.

/** Where the kernel's binfmt_misc table is (a file system of its own, mounted there). */
export const binfmtDir = "/proc/sys/fs/binfmt_misc";

/** The ELF header of each architecture's executables, as qemu's binfmt configuration has it. */
const elfMagic: Record<Arch, { magic: string; mask: string }> = {
  x86_64: {
    magic:
      "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x3e\\x00",
    mask: "\\xff\\xff\\xff\\xff\\xff\\xfe\\xfe\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff",
  },
  aarch64: {
    magic:
      "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00",
    mask: "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff",
  },
};

/** binfmt_misc's name for the entry (`qemu-aarch64`), as qemu-user-static registers it. */
export function binfmtName(arch: Arch): string {
  return `qemu-${arch}`;
}

/** The static qemu-user binary for the architecture. */
export function qemuUserBinary(arch: Arch): string {
  return `qemu-${arch}-static`;
}

/**
 * The line that registers qemu-user for the architecture's ELF binaries. `F` opens the
 * interpreter now, so it runs inside chroots and namespaces where its path does not exist. Pure.
 */
export function binfmtRegistration(arch: Arch, interpreter: string): string {
  const { magic, mask } = elfMagic[arch];
  return `:${binfmtName(arch)}:M::${magic}:${mask}:${interpreter}:F`;
}

export interface BinfmtEntry {
  enabled: boolean;
  interpreter: string | undefined;
  flags: string;
}

/** binfmt_misc's file for one entry (`enabled`, `interpreter …`, `flags: PF`, …). Pure. */
export function parseBinfmtEntry(text: string): BinfmtEntry {
  const lines = text.split("\n");
  return {
    enabled: lines[0]?.trim() === "enabled",
    interpreter: /^interpreter (.+)$/m.exec(text)?.[1]?.trim(),
    flags: /^flags: ?(\S*)$/m.exec(text)?.[1] ?? "",
  };
}

/** What binfmt_misc says of the architecture here. */
export interface BinfmtState {
  /** binfmt_misc is mounted (its `register` file exists). */
  mounted: boolean;
  /** The architecture's entry, if registered. */
  entry: BinfmtEntry | undefined;
}

export async function readBinfmtState(arch: Arch): Promise<BinfmtState> {
  const exists = (path: string) =>
    readFile(path, "utf8").then(
      (text) => text,
      () => undefined,
    );
  const status = await exists(join(binfmtDir, "status"));
  const entry = await exists(join(binfmtDir, binfmtName(arch)));
  return {
    mounted: status !== undefined,
    entry: entry === undefined ? undefined : parseBinfmtEntry(entry),
  };
}

/** One thing to do as root, and what to say once it is done. */
export interface RootStep {
  argv: string[];
  done: string;
}

/**
 * What must be done, as root, for the kernel to run the architecture's programs here: mount
 * binfmt_misc, register qemu-user (`interpreter`: the static binary's path), or enable a
 * registration that was switched off. Empty when nothing is missing. Pure.
 */
export function planBinfmtSetup(arch: Arch, state: BinfmtState, interpreter: string): RootStep[] {
  const steps: RootStep[] = [];
  if (!state.mounted)
    steps.push({
      argv: ["mount", "-t", "binfmt_misc", "binfmt_misc", binfmtDir],
      done: `mounted binfmt_misc at ${binfmtDir}`,
    });
  if (!state.mounted || !state.entry)
    steps.push({
      argv: [
        "sh",
        "-c",
        `printf '%s' "$1" > ${binfmtDir}/register`,
        "sh",
        binfmtRegistration(arch, interpreter),
      ],
      done: `registered ${interpreter} with binfmt_misc for ${arch} programs (${binfmtName(arch)}, flag F)`,
    });
  else if (!state.entry.enabled)
    steps.push({
      argv: ["sh", "-c", `echo 1 > ${binfmtDir}/${binfmtName(arch)}`],
      done: `enabled binfmt_misc's ${binfmtName(arch)} entry (it was switched off)`,
    });
  return steps;
}

/** The commands an administrator runs once (per boot) so that anyone may build here. Pure. */
export function binfmtFix(arch: Arch): string {
  return (
    `sudo apt-get install qemu-user-static binfmt-support arch-test && sudo update-binfmts --enable ${binfmtName(arch)} ` +
    "(or run kvmci as root, or as a user who may use sudo without a password, and it does this itself)"
  );
}

/**
 * Makes sure this host can run programs of `arch` for an image build, doing as root (or through
 * `sudo -n`) what is missing, each step said with `onNote`; else an error with the commands that
 * would do it. Proven at the end with arch-test, as mmdebstrap itself checks.
 */
export async function ensureForeignArch(
  arch: Arch,
  o: {
    hostArch: Arch | undefined;
    isRoot: boolean;
    ensureTools: EnsureTools;
    signal?: AbortSignal;
    onNote?: (message: string) => void;
  },
): Promise<void> {
  const purpose = `to build an ${arch} image on this ${o.hostArch ?? "non-x86_64, non-aarch64"} host`;
  const state = await readBinfmtState(arch);
  const ready = state.mounted && state.entry?.enabled === true;
  // mmdebstrap copies the static binary into the build's root when the entry lacks F.
  const needStatic = !ready || !state.entry?.flags.includes("F");
  await o.ensureTools(["arch-test", ...(needStatic ? [qemuUserBinary(arch)] : [])], purpose);
  if (!ready) {
    const asRoot = o.isRoot
      ? []
      : (await sudoWithoutPassword(o.signal))
        ? ["sudo", "-n"]
        : undefined;
    if (!asRoot) {
      const missing = !state.mounted
        ? "binfmt_misc is not mounted"
        : !state.entry
          ? `binfmt_misc has no ${binfmtName(arch)} entry`
          : `binfmt_misc's ${binfmtName(arch)} entry is switched off`;
      throw new KvmciError(
        "hostRequirement",
        `Building an ${arch} image here runs its programs under qemu-user, and ${missing}; only root can change that`,
        { hint: `Once per boot, as an administrator: ${binfmtFix(arch)}.` },
      );
    }
    const interpreter = (await which(qemuUserBinary(arch))) ?? `/usr/bin/${qemuUserBinary(arch)}`;
    for (const step of planBinfmtSetup(arch, state, interpreter)) {
      await runCommand([...asRoot, ...step.argv], {
        signal: o.signal,
        failureCode: "hostRequirement",
        hint: `Do it by hand: ${binfmtFix(arch)}.`,
      });
      o.onNote?.(`${step.done}, ${purpose}`);
    }
  }
  const proof = await runCommand(["arch-test", debianArch(arch)], {
    signal: o.signal,
    failureCode: "hostRequirement",
    hint: `binfmt_misc is set up but ${debianArch(arch)} programs still do not run: ${binfmtFix(arch)}.`,
  });
  if (proof.trim() !== `${debianArch(arch)}: ok`)
    throw new KvmciError(
      "hostRequirement",
      `${debianArch(arch)} programs do not run on this host (arch-test says: ${proof.trim()})`,
      { hint: `${binfmtFix(arch)}.` },
    );
}
