import { access, mkdir, statfs } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { formatSize } from "../units/size.js";
import { tailLines } from "../units/text.js";
import { sudoWithoutPassword } from "../host/packages.js";
import { which } from "../host/which.js";
import {
  decideBuildMode,
  unshareBuildLacks,
  userNamespacesWork,
  type BuildHost,
} from "../image/build-mode.js";
import { listCachedImages } from "../image/cache.js";
import {
  binfmtFix,
  binfmtName,
  qemuUserBinary,
  readBinfmtState,
  type BinfmtState,
} from "../image/foreign-arch.js";
import { probeKvm } from "../qemu/accel.js";
import { qemuBinary } from "../qemu/args.js";
import { aarch64Uefi } from "../qemu/firmware.js";
import { fileProbeMemo } from "../qemu/probe-memo.js";
import { arches, debianArch, type Arch } from "../units/arch.js";

/** One thing doctor looked at: fine, or not, and then always with what fixes it. */
export type Check = { name: string; detail: string } & (
  { status: "ok"; fix?: undefined } | { status: "warn" | "fail"; fix: string }
);

/**
 * Every host requirement, checked for real, each with the fix when it fails: first what guests
 * of the host's own architecture need, then what guests of the other one need (emulated).
 */
export async function runDoctor(o: {
  cacheDir: string;
  isRoot: boolean;
  hostArch: Arch | undefined;
}): Promise<Check[]> {
  const hostArch = o.hostArch ?? "x86_64";
  const foreign = arches.filter((a) => a !== hostArch);
  const checks: Check[] = [];
  checks.push(
    await toolCheck(qemuBinary(hostArch), qemuPackage(hostArch), "fail", "to run guests"),
    await toolCheck("qemu-img", "qemu-utils", "fail", "to make overlays"),
    await toolCheck("mmdebstrap", "mmdebstrap", "warn", "only to build images"),
    await toolCheck("tar", "tar", "fail", "to sync the workspace and save snapshots"),
    await toolCheck("git", "git", "warn", "to sync a git work tree"),
    await toolCheck(
      "mksquashfs",
      "squashfs-tools",
      "warn",
      "to put the workspace on a disk for restored guests; without it, it goes over SSH, more slowly",
      ["-version"],
    ),
  );
  checks.push(await kvmCheck(o.cacheDir, hostArch));
  checks.push(await cacheCheck(o.cacheDir));
  const userns = await userNamespacesWork();
  const host: BuildHost = {
    isRoot: o.isRoot,
    username: userInfo().username,
    unshareLacks: o.isRoot ? [] : await unshareBuildLacks(),
    sudo: !o.isRoot && (await sudoWithoutPassword()),
  };
  checks.push(...buildChecks(host, userns));
  for (const arch of foreign) {
    checks.push(
      await toolCheck(
        qemuBinary(arch),
        qemuPackage(arch),
        "warn",
        `only for ${arch} guests (emulated here)`,
      ),
    );
    if (arch === "aarch64") checks.push(await uefiCheck());
    checks.push(
      foreignBuildCheck(arch, hostArch, await readBinfmtState(arch), {
        archTest: (await which("arch-test")) !== undefined,
        qemuUser: (await which(qemuUserBinary(arch))) !== undefined,
        mayRoot: host.isRoot || host.sudo,
      }),
    );
  }
  return checks;
}

function qemuPackage(arch: Arch): string {
  return arch === "x86_64" ? "qemu-system-x86" : "qemu-system-arm";
}

async function uefiCheck(): Promise<Check> {
  const present = await access(aarch64Uefi.code).then(
    () => true,
    () => false,
  );
  return present
    ? { name: "aarch64 firmware", status: "ok", detail: `UEFI for arm64 (${aarch64Uefi.code})` }
    : {
        name: "aarch64 firmware",
        status: "warn",
        detail: `${aarch64Uefi.code} is missing: aarch64 cloud images (ubuntu-24.04, debian-12-genericcloud, …) boot through it; kvmci's own debian recipes do not need it`,
        fix: "sudo apt-get install qemu-efi-aarch64 (kvmci installs it itself when it may use sudo -n)",
      };
}

/**
 * What doctor says of building images for another architecture here: binfmt_misc must hand its
 * programs to qemu-user, and mmdebstrap checks that with arch-test. Pure.
 */
export function foreignBuildCheck(
  arch: Arch,
  hostArch: Arch,
  state: BinfmtState,
  have: { archTest: boolean; qemuUser: boolean; mayRoot: boolean },
): Check {
  const name = `${arch} image builds`;
  const ready = state.mounted && state.entry?.enabled === true;
  const missing = [
    ...(have.archTest ? [] : ["arch-test"]),
    ...(have.qemuUser || (ready && state.entry?.flags.includes("F")) ? [] : [qemuUserBinary(arch)]),
  ];
  const what = !state.mounted
    ? "binfmt_misc is not mounted"
    : !state.entry
      ? `binfmt_misc has no ${binfmtName(arch)} entry`
      : !state.entry.enabled
        ? `binfmt_misc's ${binfmtName(arch)} entry is switched off`
        : `${debianArch(arch)} programs run through ${state.entry.interpreter ?? "qemu-user"} (flags ${state.entry.flags || "none"})`;
  if (ready && missing.length === 0)
    return {
      name,
      status: "ok",
      detail: `${what}: an ${arch} recipe builds here under emulation (about 5 times as long as for ${hostArch})`,
    };
  if (have.mayRoot)
    return {
      name,
      status: "ok",
      detail: `${[what, ...(missing.length ? [`${missing.join(" and ")} not installed`] : [])].join("; ")}: kvmci sets this up itself (as root) when it first builds an ${arch} image`,
    };
  return {
    name,
    status: "warn",
    detail: `${[what, ...(missing.length ? [`${missing.join(" and ")} not installed`] : [])].join("; ")}: ${arch} images cannot be built here, and kvmci may not set it up (not root, no passwordless sudo)`,
    fix: `${binfmtFix(arch)}. Downloaded ${arch} images and ones built elsewhere still run.`,
  };
}

/**
 * What doctor says of sudo, user namespaces and the way an image build would go here (see
 * chooseBuildMode): root, user namespaces, or root through `sudo -n`. Pure.
 */
export function buildChecks(
  host: BuildHost,
  userns: { ok: true } | { ok: false; why: string },
): Check[] {
  const sudo: Check = host.isRoot
    ? { name: "sudo", status: "ok", detail: "not needed: kvmci runs as root" }
    : host.sudo
      ? {
          name: "sudo",
          status: "ok",
          detail: "sudo -n works: kvmci can install what the host lacks with apt-get",
        }
      : {
          name: "sudo",
          status: "warn",
          detail: `${host.username} may not use sudo without a password: kvmci cannot install what the host lacks, and says the command instead`,
          fix: "Install what the checks above say yourself, or run kvmci where it may use sudo -n (a CI runner's user usually may).",
        };
  const namespaces: Check =
    userns.ok || host.isRoot
      ? {
          name: "user namespaces",
          status: "ok",
          detail: userns.ok
            ? "unprivileged user namespaces work"
            : `unprivileged user namespaces do not work (${userns.why}); not needed as root`,
        }
      : {
          name: "user namespaces",
          status: "warn",
          detail: `unprivileged user namespaces do not work (${userns.why})`,
          fix: "Needed only to build images without root or sudo. Where AppArmor restricts them (Ubuntu 24.04): sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0; elsewhere: sudo sysctl -w kernel.unprivileged_userns_clone=1.",
        };
  const choice = decideBuildMode(host);
  const path: Check =
    "problem" in choice
      ? {
          name: "image builds",
          status: "warn",
          detail: `no way to build an image from its recipe here: ${choice.problem}; downloaded images still work`,
          fix: choice.hint,
        }
      : {
          name: "image builds",
          status: "ok",
          detail: {
            root: "as root (kvmci runs as root)",
            unshare: `as ${host.username}, in user namespaces (mmdebstrap's unshare mode)`,
            sudo: `as root through sudo -n: building as ${host.username} would need ${host.unshareLacks.join(", ")}`,
          }[choice.mode],
        };
  return [sudo, namespaces, path];
}

/**
 * A host tool: where it is and its version, or the package that provides it. `missing` is how
 * bad its absence is; `purpose` says why kvmci needs it.
 */
async function toolCheck(
  tool: string,
  pkg: string,
  missing: "warn" | "fail",
  purpose: string,
  versionArgs = ["--version"],
): Promise<Check> {
  const install = `sudo apt-get install ${pkg} (needed ${purpose}; kvmci installs it itself when it may use sudo -n)`;
  const path = await which(tool);
  if (!path) return { name: tool, status: missing, detail: "not installed", fix: install };
  const result = await execa(path, versionArgs, {
    reject: false,
    stdin: "ignore",
    timeout: 30_000,
  });
  if (result.exitCode !== 0)
    return {
      name: tool,
      status: missing,
      detail: `${path} ${versionArgs.join(" ")} failed (${result.exitCode === undefined ? result.shortMessage : `exit code ${result.exitCode}`}): ${tailLines(String(result.stderr ?? ""), 1).join("") || "no output"}`,
      fix: `sudo apt-get install --reinstall ${pkg}`,
    };
  const first = `${result.stdout}`.split("\n")[0] ?? "";
  return { name: tool, status: "ok", detail: `${first.trim() || "present"} (${path})` };
}

async function kvmCheck(cacheDir: string, hostArch: Arch): Promise<Check> {
  const images = await listCachedImages(cacheDir);
  const withKernel = images.find((i) => i.info.boot.kernel && i.info.arch === hostArch);
  const kernel = withKernel ? join(withKernel.dir, withKernel.info.boot.kernel ?? "") : undefined;
  // Always probe afresh, and record the outcome for the runs that follow.
  const memo = fileProbeMemo(cacheDir);
  const problem = await probeKvm({
    arch: hostArch,
    hostArch,
    kernel,
    memo: { get: () => Promise.resolve(undefined), set: (k, v) => memo.set(k, v) },
  });
  if (problem) {
    return {
      name: "kvm",
      status: "warn",
      detail: `not usable: ${problem.message}; guests will run under software emulation (much slower)`,
      fix: problem.hint,
    };
  }
  return kernel
    ? {
        name: "kvm",
        status: "ok",
        detail: `/dev/kvm is usable: a 64-bit kernel booted under it (${hostArch} guests; others are emulated)`,
      }
    : {
        name: "kvm",
        status: "warn",
        detail:
          "/dev/kvm can be opened; whether it runs 64-bit guests is proven once an image is cached",
        fix: `kvmci image build debian-12 --arch ${hostArch}, then kvmci doctor again`,
      };
}

async function cacheCheck(cacheDir: string): Promise<Check> {
  try {
    await mkdir(cacheDir, { recursive: true });
    const fs = await statfs(cacheDir);
    const free = fs.bavail * fs.bsize;
    const enough = free > 4 * 1024 ** 3;
    const detail = `${cacheDir}, ${formatSize(free)} free`;
    return enough
      ? { name: "cache", status: "ok", detail }
      : {
          name: "cache",
          status: "warn",
          detail,
          fix: "Images need about 1 GiB each and guests write overlays: free some space, or set KVMCI_CACHE_DIR to a larger disk.",
        };
  } catch (error) {
    return {
      name: "cache",
      status: "fail",
      detail: `${cacheDir} is not usable (${(error as Error).message})`,
      fix: "Set KVMCI_CACHE_DIR to a folder you can write.",
    };
  }
}
