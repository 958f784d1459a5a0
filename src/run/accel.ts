import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { release } from "node:os";
import { join } from "node:path";
import { KvmciError } from "../errors.js";
import { listCachedImages, type CachedImage } from "../image/cache.js";
import { cpuModel } from "../qemu/args.js";
import { decideAccel, type AccelDecision } from "../qemu/accel.js";
import { fileProbeMemo } from "../qemu/probe-memo.js";
import { qemuVersion } from "../qemu/version.js";
import type { Arch } from "../units/arch.js";
import type { Emit } from "./events.js";
import type { RunConfig } from "./run-config.js";

/** How the guest's machine runs: KVM or TCG, and the CPU model that goes with it. */
export type MachineChoice = AccelDecision & { cpu: string };

/**
 * KVM when it is proven to run a 64-bit guest here, else emulation with a warning (or, with
 * --accel kvm, an error saying what is wrong). A guest of another architecture than the host's
 * is emulated, and that is no warning: it is what was asked for.
 */
export async function chooseAccel(
  config: RunConfig,
  image: CachedImage,
  o: { cacheDir: string; signal: AbortSignal; emit: Emit; hostArch: Arch | undefined },
): Promise<MachineChoice> {
  const decision = await decideAccel(config.accel, {
    arch: config.arch,
    hostArch: o.hostArch,
    kernel: await probeKernel(image, config.arch, o.cacheDir),
    signal: o.signal,
    memo: fileProbeMemo(o.cacheDir),
  });
  if (decision.kvmProblem && config.accel === "kvm") {
    throw new KvmciError(
      "hostRequirement",
      `--accel kvm was requested, but ${decision.kvmProblem.message}`,
      { hint: decision.kvmProblem.hint },
    );
  }
  if (decision.kvmProblem) {
    o.emit({
      type: "warning",
      about: "host",
      message: `KVM is not usable here (${decision.kvmProblem.message}); using software emulation, which is much slower. ${decision.kvmProblem.hint}`,
    });
  } else {
    o.emit({ type: "note", message: `accel: ${decision.accel} (${decision.reason})` });
  }
  return {
    ...decision,
    cpu: cpuModel(config.arch, decision.accel, await qemuVersion(config.arch)),
  };
}

/**
 * A 64-bit kernel of the guest's architecture to prove KVM with: the image's own, else one
 * stored with any cached image of that architecture, else the host's running kernel (KVM is
 * only tried for the host's own architecture) when this user may read it. Cloud images keep
 * theirs inside the disk, where the probe cannot reach it.
 */
async function probeKernel(
  image: CachedImage,
  arch: Arch,
  cacheDir: string,
): Promise<string | undefined> {
  const own = (i: CachedImage) =>
    i.info.boot.kernel && i.info.arch === arch ? join(i.dir, i.info.boot.kernel) : undefined;
  const candidates = [
    image.info.boot.kernel ? join(image.dir, image.info.boot.kernel) : undefined,
    ...(await listCachedImages(cacheDir)).map(own),
    `/boot/vmlinuz-${release()}`,
  ];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      await access(candidate, constants.R_OK);
      return candidate;
    } catch {
      // not readable by this user; try the next
    }
  }
  return undefined;
}
