import { randomInt } from "node:crypto";
import {
  access,
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  open,
  readFile,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KvmciError } from "../errors.js";
import { formatCommand, runCommand } from "../host/command.js";
import { removeTree } from "../host/remove-tree.js";
import { buildDiskHeader, formatDiskId } from "./mbr.js";
import {
  commitEntry,
  createPartialEntry,
  imageEntryName,
  ImageFiles,
  type CachedImage,
  type ImageInfo,
} from "./cache.js";
import { digestFile, formatDigest } from "./digest.js";
import type { BuildMode } from "./build-mode.js";
import type { Recipe } from "./recipe.js";
import { debianArch } from "../units/arch.js";

export interface BuildOptions {
  cacheDir: string;
  mirror: string;
  /** See chooseBuildMode: as root, in user namespaces, or as root through sudo. */
  mode: BuildMode;
  signal?: AbortSignal;
  /** Called when the build moves to a new step, with a short description. */
  onStep?: (step: string) => void;
  now?: () => Date;
}

/**
 * As root, mmdebstrap mounts /proc, /sys and /dev inside its chroot and its cleanup on SIGTERM
 * takes many seconds. Run in its own mount and PID namespaces, the build can be ended at once
 * with SIGKILL: the kernel ends every process in the namespace and drops its mounts with it,
 * so nothing is left running or mounted. (In unshare mode mmdebstrap makes its own namespaces.)
 */
const isolatedBuildPrefix = [
  "unshare",
  "--mount",
  "--propagation=private",
  "--pid",
  "--fork",
  "--kill-child",
];

/** The mmdebstrap command line for a recipe, as data. */
export function buildMmdebstrapArgs(
  recipe: Recipe,
  o: { mode: BuildMode; mirror: string; outDir: string; diskId: string; tmpdir: string },
): string[] {
  const fsKib = Math.floor(recipe.sizeBytes / 1024) - 1024;
  const shellLine = (parts: string[]) =>
    parts.map((part) => (part === '"$1"' ? part : `'${part.replace(/'/g, `'\\''`)}'`)).join(" ");
  const hook = shellLine([
    "sh",
    recipe.customizeScript,
    '"$1"',
    o.outDir,
    String(fsKib),
    o.diskId,
    recipe.kernelCmdline,
  ]);
  // Through sudo, TMPDIR would be reset: it is given again on the far side.
  const prefix =
    o.mode === "root"
      ? isolatedBuildPrefix
      : o.mode === "sudo"
        ? ["sudo", "-n", "env", `TMPDIR=${o.tmpdir}`, ...isolatedBuildPrefix]
        : [];
  return [
    ...prefix,
    "mmdebstrap",
    `--mode=${o.mode === "unshare" ? "unshare" : "root"}`,
    `--arch=${debianArch(recipe.arch)}`,
    `--variant=${recipe.variant}`,
    `--components=${recipe.components.join(",")}`,
    `--include=${recipe.packages.join(",")}`,
    "--format=null",
    ...(recipe.essentialScript
      ? [`--essential-hook=${shellLine(["sh", recipe.essentialScript, '"$1"'])}`]
      : []),
    `--customize-hook=${hook}`,
    recipe.suite,
    "/dev/null",
    o.mirror,
  ];
}

const mmdebstrapSteps: [RegExp, string][] = [
  [/^I: (?:downloading|running apt-get update)/, "downloading packages"],
  [/^I: extracting archives/, "extracting packages"],
  [/^I: installing essential packages/, "installing essential packages"],
  [/^I: installing remaining packages/, "installing packages"],
  [/^kvmci-step: (.+)$/, "$1"],
];

/** Maps one line of mmdebstrap's output to a build step, if it starts one. Pure. */
export function stepFromLine(line: string): string | undefined {
  for (const [pattern, step] of mmdebstrapSteps) {
    const match = pattern.exec(line);
    if (match) return step === "$1" ? match[1] : step;
  }
  return undefined;
}

/**
 * Builds a recipe into the cache: mmdebstrap makes the root file system (the recipe's hook
 * writes it straight into a raw disk at the partition's offset), kvmci writes the partition
 * table (and GRUB, when the hook made it) in front, converts to qcow2 and records the digest.
 * A recipe for another architecture than the host's runs its programs under qemu-user (see
 * foreign-arch.ts). Nothing appears under the entry's real name until it is complete.
 */
export async function buildRecipeImage(
  recipe: Recipe,
  options: BuildOptions,
): Promise<CachedImage> {
  const entryName = imageEntryName(recipe.name, recipe.key);
  const partial = await createPartialEntry(options.cacheDir, entryName);
  const log: string[] = [];
  let work: string | undefined;
  try {
    work = await createWorkDir(partial, options.mode);
    const diskId = randomInt(1, 2 ** 32 - 1);
    const raw = join(work, "disk.raw");
    const handle = await open(raw, "w", 0o644);
    await handle.truncate(recipe.sizeBytes);
    await handle.close();
    // mmdebstrap's own temporary files go inside the work folder, so they go with it.
    const scratch = join(work, "tmp");
    await mkdir(scratch);
    if (options.mode === "unshare") {
      // In unshare mode the hook runs as the namespace's root, a subordinate uid on the host.
      await chmod(raw, 0o666);
      await chmod(scratch, 0o777);
    }

    options.onStep?.("starting mmdebstrap");
    const argv = buildMmdebstrapArgs(recipe, {
      mode: options.mode,
      mirror: options.mirror,
      outDir: work,
      diskId: formatDiskId(diskId),
      tmpdir: scratch,
    });
    await runCommand(argv, {
      env: { TMPDIR: scratch },
      signal: options.signal,
      // See isolatedBuildPrefix: as root, nothing of the build outlives its namespace. Through
      // sudo, SIGTERM (which sudo passes on) ends unshare, and --kill-child the rest.
      killSignal: options.mode === "root" ? "SIGKILL" : "SIGTERM",
      failureCode: "image",
      hint: mmdebstrapHint(options.mode),
      onLine: (line) => {
        log.push(line);
        const step = stepFromLine(line);
        if (step) options.onStep?.(step);
      },
    });

    // Built as root through sudo: what the hook wrote is root's; make it this user's to read.
    if (options.mode === "sudo")
      await runCommand([
        "sudo",
        "-n",
        "chown",
        "-R",
        `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`,
        work,
      ]);
    // The hook leaves GRUB's images when the recipe has a BIOS bootloader (x86_64); without
    // them the disk boots only with its kernel (arm64), and its boot code area stays empty.
    const bios = await access(join(work, "core.img")).then(
      () => true,
      () => false,
    );
    options.onStep?.(`writing the partition table${bios ? " and bootloader" : ""}`);
    const header = buildDiskHeader({
      boot: bios
        ? {
            bootCode: await readFile(join(work, "boot.img")),
            coreImage: await readFile(join(work, "core.img")),
          }
        : undefined,
      diskId,
      diskBytes: recipe.sizeBytes,
    });
    const disk = await open(raw, "r+");
    await disk.write(header, 0, header.length, 0);
    await disk.close();

    options.onStep?.("converting to qcow2");
    await runCommand(
      ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, join(partial, ImageFiles.disk)],
      { signal: options.signal, failureCode: "image" },
    );
    await copyFile(join(work, "vmlinuz"), join(partial, ImageFiles.kernel));
    await copyFile(join(work, "initrd.img"), join(partial, ImageFiles.initrd));
    const kernelVersion = (await readFile(join(work, "kernel-version"), "utf8")).trim();
    await removeTree(work, options.mode === "sudo");
    work = undefined;

    options.onStep?.("computing the digest");
    const info: ImageInfo = {
      name: recipe.name,
      arch: recipe.arch,
      digest: formatDigest(
        await digestFile(join(partial, ImageFiles.disk), "sha256", options.signal),
      ),
      format: "qcow2",
      user: recipe.user,
      virtualSize: recipe.sizeBytes,
      source: { kind: "recipe", key: recipe.key },
      boot: {
        firmware: bios ? "bios" : "none",
        kernel: ImageFiles.kernel,
        initrd: ImageFiles.initrd,
        cmdline: `root=PARTUUID=${formatDiskId(diskId)}-01 ${recipe.kernelCmdline}`,
      },
      createdAt: (options.now?.() ?? new Date()).toISOString(),
    };
    await writeFile(
      join(partial, "build.log"),
      `${formatCommand(argv)}\n${log.join("\n")}\nkernel ${kernelVersion}\n`,
    );
    return await commitEntry(partial, options.cacheDir, entryName, info);
  } catch (error) {
    // A cleanup failure is added to the build's own error, never put in its place.
    for (const dir of [work, partial]) {
      if (!dir) continue;
      await removeTree(dir, options.mode === "sudo").catch((cleanup: unknown) => {
        if (error instanceof KvmciError)
          error.details.push(`also: could not clean up ${dir}: ${String(cleanup)}`);
      });
    }
    throw error;
  }
}

/**
 * Where mmdebstrap and the recipe's hook write. As root: inside the partial entry. In unshare
 * mode the hook runs as a subordinate uid that cannot enter the user's private cache, so the
 * work folder is a fresh, randomly named one under the temporary folder that it may write to.
 */
async function createWorkDir(partial: string, mode: BuildMode): Promise<string> {
  if (mode !== "unshare") {
    const work = join(partial, "work");
    await mkdir(work, { mode: 0o700 });
    return work;
  }
  const work = await mkdtemp(join(tmpdir(), "kvmci-build-"));
  await chmod(work, 0o777);
  return work;
}

function mmdebstrapHint(mode: BuildMode): string {
  return mode !== "unshare"
    ? "Check that the Debian mirror is reachable (--mirror URL to use another) and that there is free space in the cache folder."
    : "Building without root uses unprivileged user namespaces: they must be enabled (sysctl kernel.unprivileged_userns_clone=1) " +
        "and your user needs ranges in /etc/subuid and /etc/subgid (see `man mmdebstrap`, UNSHARE MODE). Or build once as root: " +
        "sudo KVMCI_CACHE_DIR=<your cache folder> kvmci image build debian-12.";
}
