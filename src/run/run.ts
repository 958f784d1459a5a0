import { ConnectionLostError, ExitCode, KvmciError, isKvmciError } from "../errors.js";
import { markInUse } from "../cache/in-use.js";
import { requireWritableCache } from "../cache/layout.js";
import { trustCloudConfig } from "../cloud-init/trust.js";
import { mergeCloudConfig, type CloudConfig } from "../cloud-init/user-data.js";
import { Guest } from "../guest/guest.js";
import { removeStaleRunFolders } from "../guest/run-folder.js";
import type { HttpGet } from "../host/http.js";
import type { EnsureTools } from "../host/packages.js";
import { findCachedEntry, touchLastUsed, type CachedImage } from "../image/cache.js";
import type { ImageOrigin, ResolveOptions } from "../image/resolve-options.js";
import { refuseMissingTools, resolveImage } from "../image/resolve.js";
import { qemuBinary } from "../qemu/args.js";
import { aarch64Uefi } from "../qemu/firmware.js";
import type { Arch } from "../units/arch.js";
import { inGitWorkTree } from "../sync/workspace.js";
import { errorMessage } from "../units/error-message.js";
import { formatSize } from "../units/size.js";
import { chooseAccel, type MachineChoice } from "./accel.js";
import { bringBackArtifacts } from "./artifacts.js";
import { runCommand, type CommandOutcome } from "./command.js";
import type { Emit, PhaseRecord } from "./events.js";
import { tryTakeHostSlot, waitForHostSlot } from "./host-slots.js";
import { PhaseClock } from "./phase-clock.js";
import { prepareForRun } from "./prepare.js";
import { defaultBootTimeoutMs, type RunConfig } from "./run-config.js";
import { planSnapshot, startGuest } from "./warm.js";
import { putWorkspace, workspaceSource } from "./workspace.js";
import { keepGuest, shellAfterFailure } from "./debug.js";
import type { Terminal } from "../guest/shell.js";

export interface RunDeps {
  cacheDir: string;
  /** Folders of catalog entries, the user's first (see `catalogDirs`). */
  catalogDirs: string[];
  http: HttpGet;
  home: string;
  isRoot: boolean;
  /** The host's own architecture (KVM runs only guests of it); undefined for any other. */
  hostArch: Arch | undefined;
  /** Aborted on Ctrl-C / SIGTERM; its reason is the signal name. */
  signal: AbortSignal;
  now: () => Date;
  /** The file mode creation mask artifacts are made with (the process's own). */
  umask: number;
  /** Installs what the host lacks, or says how (see host/packages.ts). */
  ensureTools?: EnsureTools;
  /** The size of kvmci's terminal, for a command run in a pseudo-terminal (config.tty). */
  terminalSize?: () => { columns: number; rows: number };
  /** The person's terminal when kvmci's input and output are one (--shell-on-failure). */
  terminal?: Terminal;
  /** `--keep`: leave the guest running this long after the run. */
  keepForMs?: number;
  /** Where run folders go (the OS temp folder by default). */
  tmpdir?: string;
  /**
   * `kvmci prepare`: make the prepared image and the warm snapshot a run with this
   * configuration would use, and stop there (no sync, no command).
   */
  prepareOnly?: boolean;
}

export type Outcome = CommandOutcome | "error" | "interrupted";

export interface RunResult {
  outcome: Outcome;
  /** The command's exit code, or kvmci's own code for timeouts and failures. */
  exitCode: number;
  image: { name: string; digest: string; origin: ImageOrigin } | undefined;
  accel: { name: string; reason: string } | undefined;
  boot: string | undefined;
  phases: PhaseRecord[];
  artifacts: string[];
  cloudInitErrors: string[];
  /** Every warning the run gave, in order (also sent as events). */
  warnings: string[];
  /** The prepared image the guest used, when the run provisions. */
  prepared: { entry: string; reused: boolean } | undefined;
  /** The warm snapshot this run started from, or saved; undefined with --no-snapshot. */
  snapshot: { entry: string; use: "restored" | "saved" | "cached" } | undefined;
  /** With --keep: the kept guest's name and when it stops by itself. */
  kept?: { name: string; until: string };
  error: KvmciError | undefined;
}

/**
 * One `kvmci run`: image → (queue) → (prepare) → overlay → seed → boot → ready (or restore) →
 * sync → command → artifacts → teardown. Never prints: everything goes out as events. Teardown
 * runs on every path.
 */
export async function run(config: RunConfig, deps: RunDeps, emitEvent: Emit): Promise<RunResult> {
  const emit: Emit = (event) => {
    if (event.type === "warning") result.warnings.push(event.message);
    emitEvent(event);
  };
  const clock = new PhaseClock(emit);
  const result: RunResult = {
    outcome: "error",
    exitCode: 0,
    image: undefined,
    accel: undefined,
    boot: undefined,
    phases: clock.records,
    artifacts: [],
    cloudInitErrors: [],
    warnings: [],
    prepared: undefined,
    snapshot: undefined,
    error: undefined,
  };
  const { signal } = deps;
  try {
    const ensureTools = deps.ensureTools ?? refuseMissingTools;
    const git = config.sync && (await inGitWorkTree(config.cwd));
    await ensureTools(
      [qemuBinary(config.arch), "qemu-img", "tar", ...(git ? ["git"] : [])],
      `to run ${config.arch === deps.hostArch ? "a guest" : `an ${config.arch} guest`}`,
    );
    await requireWritableCache(deps.cacheDir);
    for (const folder of await removeStaleRunFolders(deps.tmpdir))
      emit({ type: "note", message: `removed ${folder}, left by a kvmci that was killed` });
    const { image, inUse } = await clock.time("image", () =>
      resolveForRun(config, deps, { ensureTools, emit, result }),
    );
    await using _inUse = inUse;
    if (bootMethodFor(config, image) === "firmware" && config.arch === "aarch64")
      await ensureTools([aarch64Uefi.code], "to boot an arm64 image through its firmware");
    const accel = await chooseAccel(config, image, {
      cacheDir: deps.cacheDir,
      signal,
      emit,
      hostArch: deps.hostArch,
    });
    result.accel = { name: accel.accel, reason: accel.reason };
    const bootTimeoutMs = config.bootTimeoutMs ?? defaultBootTimeoutMs(accel.accel);
    await using _slot = await takeSlot(config, deps, clock, emit);
    let guestImage = image;
    await using _preparedInUse = config.provision
      ? await clock.time("prepare", async () => {
          const prepared = await prepareForRun(image, config.provision!, {
            cacheDir: deps.cacheDir,
            arch: config.arch,
            accel: accel.accel,
            cpu: accel.cpu,
            cpus: config.cpus,
            memoryBytes: config.memoryBytes,
            diskBytes: config.diskBytes,
            boot: bootMethodFor(config, image),
            bootTimeoutMs,
            consoleLog: config.consoleLog,
            tmpdir: deps.tmpdir,
            signal,
            emit,
            now: deps.now,
            trust: trustCloudConfig(config.hostTrust?.certificates ?? []),
            env: provisioningEnv(config),
          });
          guestImage = prepared.image;
          result.prepared = { entry: prepared.image.entry!, reused: prepared.reused };
          return prepared.inUse;
        })
      : undefined;
    await runGuest(config, deps, {
      entries: [image.entry, result.prepared?.entry].filter((e): e is string => Boolean(e)),
      image: guestImage,
      machine: accel,
      bootTimeoutMs,
      clock,
      result,
      emit,
    });
  } catch (error) {
    clock.end(false);
    if (signal.aborted) {
      result.outcome = "interrupted";
      result.exitCode = signal.reason === "SIGTERM" ? ExitCode.sigterm : ExitCode.sigint;
    } else {
      const failure = isKvmciError(error)
        ? error
        : new KvmciError("internal", errorMessage(error), {
            cause: error,
            hint: "This is a bug in kvmci, not something you did: please report it with this output.",
          });
      result.outcome = "error";
      result.error = failure;
      result.exitCode = failure.exitCode;
    }
  }
  return result;
}

/**
 * The image phase: the image resolved (downloaded or built when not cached), marked in use
 * before the guest starts so that `kvmci gc` elsewhere leaves it alone (and resolved again if
 * a gc removed it just before), and checked against --disk.
 */
export async function resolveForRun(
  config: RunConfig,
  deps: RunDeps,
  o: { ensureTools: EnsureTools; emit: Emit; result: RunResult },
): Promise<{ image: CachedImage; inUse: AsyncDisposable | undefined }> {
  const { emit, result } = o;
  const options: ResolveOptions = {
    arch: config.arch,
    hostArch: deps.hostArch,
    cacheDir: deps.cacheDir,
    catalogDirs: deps.catalogDirs,
    http: deps.http,
    cwd: config.cwd,
    home: deps.home,
    mirror: config.mirror,
    isRoot: deps.isRoot,
    signal: deps.signal,
    onNote: (message) => emit({ type: "note", message }),
    onStep: (message) => emit({ type: "progress", phase: "image", message }),
    onTransfer: (what, progress) => emit({ type: "transfer", phase: "image", what, progress }),
    ensureTools: o.ensureTools,
  };
  for (;;) {
    const { image, origin } = await resolveImage(config.image, options);
    result.image = { name: image.info.name, digest: image.info.digest, origin };
    if (config.diskBytes !== undefined && config.diskBytes < image.info.virtualSize)
      throw new KvmciError(
        "usage",
        `--disk ${formatSize(config.diskBytes)} is smaller than the image ${image.info.name} (${formatSize(image.info.virtualSize)})`,
        { hint: "Give --disk at least the image's size, or leave it out for the image's own." },
      );
    if (!image.entry) return { image, inUse: undefined };
    const inUse = await markInUse(deps.cacheDir, image.entry, deps.signal);
    if (await findCachedEntry(deps.cacheDir, image.entry)) {
      await touchLastUsed(image);
      return { image, inUse };
    }
    await inUse[Symbol.asyncDispose]();
  }
}

/** Variables for the provisioning steps: the host's proxy, the certificates' bundle. Pure. */
export function provisioningEnv(config: RunConfig): Record<string, string> {
  return {
    ...(config.hostTrust?.proxy ?? {}),
    ...(config.baseEnv.NODE_EXTRA_CA_CERTS
      ? { NODE_EXTRA_CA_CERTS: config.baseEnv.NODE_EXTRA_CA_CERTS }
      : {}),
  };
}

/**
 * A place among the guests running on this host (see host-slots.ts); when the host is full the
 * guest waits in the `queue` phase, saying for what.
 */
export async function takeSlot(
  config: RunConfig,
  deps: RunDeps,
  clock: PhaseClock,
  emit: Emit,
): Promise<AsyncDisposable> {
  const needs = { memoryBytes: config.memoryBytes };
  const options = { parallel: config.parallel, signal: deps.signal };
  const attempt = await tryTakeHostSlot(deps.cacheDir, needs, options);
  if ("slot" in attempt) return attempt.slot;
  return clock.time("queue", () => {
    const { running, limits } = attempt.busy;
    emit({
      type: "note",
      message:
        `waiting for the host: ${running} other guest${running === 1 ? "" : "s"} running ` +
        `(at most ${limits.maxGuests} at once here, and ${formatSize(limits.memoryBytes)} of memory for guests)`,
    });
    return waitForHostSlot(deps.cacheDir, needs, options);
  });
}

/** Direct kernel boot when the image has a kernel beside it (unless firmware was asked for). */
export function bootMethodFor(config: RunConfig, image: CachedImage): "firmware" | "kernel" {
  const hasKernel = Boolean(
    image.info.boot.kernel && image.info.boot.initrd && image.info.boot.cmdline,
  );
  if (config.boot === "kernel" && !hasKernel) {
    throw new KvmciError(
      "image",
      `--boot kernel: the image ${image.info.name} has no kernel stored beside it`,
      { hint: "Use --boot firmware (or auto) for this image." },
    );
  }
  // An image built for direct kernel boot only (the arm64 recipes have no bootloader).
  if (config.boot === "firmware" && image.info.boot.firmware === "none") {
    throw new KvmciError(
      "image",
      `--boot firmware: the image ${image.info.name} has no bootloader; it boots only with its kernel`,
      { hint: "Use --boot kernel (or auto) for this image." },
    );
  }
  return config.boot === "firmware" || !hasKernel ? "firmware" : "kernel";
}

/**
 * The cloud-config a guest of this run boots with besides kvmci's own: the host's extra
 * certificates (when carried), then the user's --user-data. Pure.
 */
export function guestUserData(config: RunConfig): CloudConfig | undefined {
  const trust = trustCloudConfig(config.hostTrust?.certificates ?? []);
  if (!trust) return config.userData;
  return config.userData ? mergeCloudConfig(trust, config.userData) : trust;
}

/** One guest's life from its start to its teardown, which runs whatever happens. */
async function runGuest(
  config: RunConfig,
  deps: RunDeps,
  o: {
    /** The cache entries the guest runs from (base and prepared image). */
    entries: string[];
    image: CachedImage;
    machine: MachineChoice;
    bootTimeoutMs: number;
    clock: PhaseClock;
    result: RunResult;
    emit: Emit;
  },
): Promise<void> {
  const { signal } = deps;
  const { image, clock, result, emit } = o;
  const boot = bootMethodFor(config, image);
  result.boot = boot;
  const userData = guestUserData(config);
  const guest = await Guest.create(
    {
      name: image.info.name,
      image,
      arch: config.arch,
      accel: o.machine.accel,
      cpu: o.machine.cpu,
      cpus: config.cpus,
      memoryBytes: config.memoryBytes,
      diskBytes: config.diskBytes,
      boot,
      network: config.network,
      extraUserData: userData,
      consoleLogCopy: config.consoleLog,
      keepable: deps.keepForMs !== undefined,
      artifactsLimits: config.artifactsLimits,
    },
    deps.tmpdir,
  );
  const keep = async (snapshotEntry: string | undefined) => {
    if (deps.keepForMs === undefined || !guest.reachable) return;
    result.kept = await keepGuest(guest, config, {
      forMs: deps.keepForMs,
      cacheDir: deps.cacheDir,
      entries: [...o.entries, ...(snapshotEntry ? [snapshotEntry] : [])],
      emit,
    });
  };
  let snapshotEntry: string | undefined;
  try {
    const plan = config.snapshot
      ? await planSnapshot(guest, image, userData, deps.cacheDir)
      : undefined;
    if (deps.prepareOnly && (plan?.existing || !plan)) {
      result.outcome = "passed";
      if (plan?.existing) {
        result.snapshot = { entry: plan.existing.entry, use: "cached" };
        emit({ type: "note", message: `snapshot ${plan.existing.entry} is already cached` });
      }
      return;
    }
    const started = await startGuest(guest, {
      plan,
      image,
      cacheDir: deps.cacheDir,
      bootTimeoutMs: o.bootTimeoutMs,
      workdir: config.workdir,
      workspace: workspaceSource(config),
      clock,
      signal,
      emit,
      now: deps.now,
    });
    await using _snapshotInUse = started.inUse;
    result.snapshot = started.snapshot;
    if (started.snapshot?.use === "restored") snapshotEntry = started.snapshot.entry;
    result.cloudInitErrors = started.cloudInitErrors;
    if (deps.prepareOnly) {
      result.outcome = "passed";
      return;
    }
    if (!started.synced)
      await clock.time("sync", () => putWorkspace(guest, config, { signal, emit }));
    const commandStarted = Date.now();
    const command = await clock.time("command", () =>
      runCommand(guest, config, { signal, emit, size: deps.terminalSize?.() }),
    );
    result.exitCode = command.exitCode;
    result.outcome = command.outcome;
    if (config.artifacts.length > 0)
      result.artifacts = await clock.time("artifacts", () =>
        bringBackArtifacts(guest, config, {
          umask: deps.umask,
          commandStarted,
          signal,
          emit,
          disk: guest.artifactsDiskPath,
        }),
      );
    if (config.shellOnFailure && command.outcome !== "passed")
      await shellAfterFailure(guest, config, {
        why:
          command.outcome === "timeout"
            ? "the command timed out"
            : `the command failed with exit code ${command.exitCode}`,
        terminal: deps.terminal,
        emit,
      });
    await keep(snapshotEntry);
  } catch (error) {
    // The phase that was running failed (or was interrupted): say so before teardown starts.
    clock.end(false);
    // A guest that answers but failed before its command (readiness, the sync) can still be
    // looked into, or kept.
    if (!signal.aborted && guest.reachable && isKvmciError(error)) {
      if (config.shellOnFailure)
        await shellAfterFailure(guest, config, {
          why: error.message,
          terminal: deps.terminal,
          emit,
        }).catch(() => undefined);
      await keep(snapshotEntry).catch(() => undefined);
    }
    // A lost connection is told apart where ssh2 reports it; here it gains what the console
    // and QEMU's exit say of why (stopped, panicked). Anything else unknown is a bug (70).
    if (error instanceof ConnectionLostError && !signal.aborted && guest.launched)
      throw await guest.lostFailure(error);
    throw error;
  } finally {
    clock.start("teardown");
    try {
      await guest[Symbol.asyncDispose]();
      clock.end(true);
    } catch (error) {
      clock.end(false);
      // A cleanup failure is reported, never allowed to hide the run's own result or error.
      emit({ type: "warning", message: `teardown: ${errorMessage(error)}` });
    }
  }
}
