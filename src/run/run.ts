import { formatDuration } from "../units/duration.js";
import { formatSize } from "../units/size.js";
import { errorMessage } from "../units/error-message.js";
import { ConnectionLostError, ExitCode, KvmciError, isKvmciError } from "../errors.js";
import { trustCloudConfig } from "../cloud-init/trust.js";
import { mergeCloudConfig, type CloudConfig } from "../cloud-init/user-data.js";
import { buildGuestCommandLine } from "../guest/command-line.js";
import { Guest } from "../guest/guest.js";
import { removeStaleRunFolders } from "../guest/run-folder.js";
import type { CachedImage } from "../image/cache.js";
import { markInUse } from "../cache/in-use.js";
import { requireWritableCache } from "../cache/layout.js";
import type { HttpGet } from "../host/http.js";
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { release } from "node:os";
import { join } from "node:path";
import { findCachedEntry, listCachedImages, touchFolder, touchLastUsed } from "../image/cache.js";
import { refuseMissingTools, resolveImage } from "../image/resolve.js";
import type { EnsureTools } from "../host/packages.js";
import { inGitWorkTree } from "../sync/workspace.js";
import type { ImageOrigin, ResolveOptions } from "../image/resolve-options.js";
import { decideAccel, type AccelDecision } from "../qemu/accel.js";
import { fileProbeMemo } from "../qemu/probe-memo.js";
import { buildWorkdirCommand } from "../sync/tar-args.js";
import { collectArtifacts, type CollectedArtifacts } from "../sync/artifacts.js";
import { syncWorkspace } from "../sync/transfer.js";
import type { Emit, PhaseRecord } from "./events.js";
import { tryTakeHostSlot, waitForHostSlot } from "./host-slots.js";
import { PhaseClock } from "./phase-clock.js";
import { prepareImage } from "./prepare.js";
import { defaultBootTimeoutMs, type RunConfig } from "./run-config.js";
import { discardSnapshot, planSnapshot, restoreSnapshot, saveSnapshot } from "./warm.js";

export interface RunDeps {
  cacheDir: string;
  /** Folders of catalog entries, the user's first (see `catalogDirs`). */
  catalogDirs: string[];
  http: HttpGet;
  home: string;
  isRoot: boolean;
  /** Aborted on Ctrl-C / SIGTERM; its reason is the signal name. */
  signal: AbortSignal;
  now: () => Date;
  /** The file mode creation mask artifacts are made with (the process's own). */
  umask: number;
  /** Installs what the host lacks, or says how (see host/packages.ts). */
  ensureTools?: EnsureTools;
  /** The size of kvmci's terminal, for a command run in a pseudo-terminal (config.tty). */
  terminalSize?: () => { columns: number; rows: number };
  /** Where run folders go (the OS temp folder by default). */
  tmpdir?: string;
  /**
   * `kvmci prepare`: make the prepared image and the warm snapshot a run with this
   * configuration would use, and stop there (no sync, no command).
   */
  prepareOnly?: boolean;
}

export type Outcome = "passed" | "failed" | "timeout" | "error" | "interrupted";

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
  error: KvmciError | undefined;
}

/**
 * One `kvmci run`: image → overlay → seed → boot → ready → sync → command → artifacts →
 * teardown. Never prints: everything goes out as events. Teardown runs on every path.
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
    await ensureTools(
      [
        "qemu-system-x86_64",
        "qemu-img",
        "tar",
        ...(config.sync && (await inGitWorkTree(config.cwd)) ? ["git"] : []),
      ],
      "to run a guest",
    );
    await requireWritableCache(deps.cacheDir);
    for (const folder of await removeStaleRunFolders(deps.tmpdir))
      emit({ type: "note", message: `removed ${folder}, left by a kvmci that was killed` });
    const { image, inUse } = await clock.time("image", async () => {
      const resolveOptions: ResolveOptions = {
        cacheDir: deps.cacheDir,
        catalogDirs: deps.catalogDirs,
        http: deps.http,
        cwd: config.cwd,
        home: deps.home,
        mirror: config.mirror,
        isRoot: deps.isRoot,
        signal,
        onNote: (message) => emit({ type: "note", message }),
        onStep: (message) => emit({ type: "progress", phase: "image", message }),
        onTransfer: (what, progress) => emit({ type: "transfer", phase: "image", what, progress }),
        ensureTools,
      };
      for (;;) {
        const { image, origin } = await resolveImage(config.image, resolveOptions);
        result.image = { name: image.info.name, digest: image.info.digest, origin };
        if (!image.entry) return { image, inUse: undefined };
        // Recorded before the guest starts, so `kvmci gc` elsewhere leaves this image alone;
        // if a gc removed it just before, resolve it again.
        const inUse = await markInUse(deps.cacheDir, image.entry, signal);
        if (await findCachedEntry(deps.cacheDir, image.entry)) {
          await touchLastUsed(image);
          return { image, inUse };
        }
        await inUse[Symbol.asyncDispose]();
      }
    });
    await using _inUse = inUse;
    if (config.diskBytes !== undefined && config.diskBytes < image.info.virtualSize)
      throw new KvmciError(
        "usage",
        `--disk ${formatSize(config.diskBytes)} is smaller than the image ${image.info.name} (${formatSize(image.info.virtualSize)})`,
        { hint: "Give --disk at least the image's size, or leave it out for the image's own." },
      );
    const accel = await decide(config, image, deps.cacheDir, signal, emit);
    result.accel = { name: accel.accel, reason: accel.reason };
    await using _slot = await takeSlot(config, deps, clock, emit);
    let guestImage = image;
    await using _preparedInUse = config.provision
      ? await clock.time("prepare", async () => {
          for (;;) {
            const prepared = await prepareImage(image, config.provision!, {
              cacheDir: deps.cacheDir,
              accel: accel.accel,
              cpus: config.cpus,
              memoryBytes: config.memoryBytes,
              diskBytes: config.diskBytes,
              boot: bootMethodFor(config, image),
              bootTimeoutMs: config.bootTimeoutMs ?? defaultBootTimeoutMs(accel.accel),
              consoleLog: config.consoleLog,
              tmpdir: deps.tmpdir,
              signal,
              emit,
              now: deps.now,
              trust: trustCloudConfig(config.hostTrust?.certificates ?? []),
              env: {
                ...(config.hostTrust?.proxy ?? {}),
                ...(config.baseEnv.NODE_EXTRA_CA_CERTS
                  ? { NODE_EXTRA_CA_CERTS: config.baseEnv.NODE_EXTRA_CA_CERTS }
                  : {}),
              },
            });
            // As for the base image: marked, then checked, so a gc in between is noticed.
            const inUse = await markInUse(deps.cacheDir, prepared.image.entry!, signal);
            if (!(await findCachedEntry(deps.cacheDir, prepared.image.entry!))) {
              await inUse[Symbol.asyncDispose]();
              continue;
            }
            guestImage = prepared.image;
            result.prepared = { entry: prepared.image.entry!, reused: prepared.reused };
            emit({
              type: "note",
              message: prepared.reused
                ? `using prepared image ${prepared.image.entry} (provisioning unchanged)`
                : `saved prepared image ${prepared.image.entry}; later runs skip provisioning until it changes`,
            });
            await touchLastUsed(prepared.image);
            return inUse;
          }
        })
      : undefined;
    await runGuest(config, deps, guestImage, accel, clock, result, emit);
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
 * A place among the guests running on this host (see host-slots.ts); when the host is full the
 * guest waits in the `queue` phase, saying for what.
 */
async function takeSlot(
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

async function decide(
  config: RunConfig,
  image: CachedImage,
  cacheDir: string,
  signal: AbortSignal,
  emit: Emit,
): Promise<AccelDecision> {
  const kernel = await probeKernel(image, cacheDir);
  const decision = await decideAccel(config.accel, {
    kernel,
    signal,
    memo: fileProbeMemo(cacheDir),
  });
  if (decision.kvmProblem && config.accel === "kvm") {
    throw new KvmciError(
      "hostRequirement",
      `--accel kvm was requested, but ${decision.kvmProblem.message}`,
      { hint: decision.kvmProblem.hint },
    );
  }
  if (decision.kvmProblem) {
    emit({
      type: "warning",
      about: "host",
      message: `KVM is not usable here (${decision.kvmProblem.message}); using software emulation, which is much slower. ${decision.kvmProblem.hint}`,
    });
  } else {
    emit({ type: "note", message: `accel: ${decision.accel} (${decision.reason})` });
  }
  return decision;
}

/**
 * A 64-bit kernel to prove KVM with: the image's own, else one stored with any cached image,
 * else the host's running kernel when this user may read it. Cloud images keep theirs inside
 * the disk, where the probe cannot reach it.
 */
async function probeKernel(image: CachedImage, cacheDir: string): Promise<string | undefined> {
  const own = (i: CachedImage) =>
    i.info.boot.kernel ? join(i.dir, i.info.boot.kernel) : undefined;
  const candidates = [
    own(image),
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

/** Direct kernel boot when the image has a kernel beside it (unless firmware was asked for). */
function bootMethodFor(config: RunConfig, image: CachedImage): "firmware" | "kernel" {
  const hasKernel = Boolean(
    image.info.boot.kernel && image.info.boot.initrd && image.info.boot.cmdline,
  );
  if (config.boot === "kernel" && !hasKernel) {
    throw new KvmciError(
      "image",
      `--boot kernel: the image ${image.info.name} has no kernel stored beside it`,
      {
        hint: "Use --boot firmware (or auto) for this image.",
      },
    );
  }
  return config.boot === "firmware" || !hasKernel ? "firmware" : "kernel";
}

async function runGuest(
  config: RunConfig,
  deps: RunDeps,
  image: CachedImage,
  accel: AccelDecision,
  clock: PhaseClock,
  result: RunResult,
  emit: Emit,
): Promise<void> {
  const { signal } = deps;
  const boot = bootMethodFor(config, image);
  result.boot = boot;
  const guest = await Guest.create(
    {
      name: image.info.name,
      image,
      accel: accel.accel,
      cpus: config.cpus,
      memoryBytes: config.memoryBytes,
      diskBytes: config.diskBytes,
      boot,
      network: config.network,
      extraUserData: guestUserData(config),
      consoleLogCopy: config.consoleLog,
    },
    deps.tmpdir,
  );
  try {
    const plan = config.snapshot
      ? await planSnapshot(guest, image, guestUserData(config), deps.cacheDir)
      : undefined;
    const snapshot = plan?.existing;
    if (deps.prepareOnly && (snapshot || !plan)) {
      result.outcome = "passed";
      if (snapshot) {
        result.snapshot = { entry: snapshot.entry, use: "cached" };
        emit({ type: "note", message: `snapshot ${snapshot.entry} is already cached` });
      }
      return;
    }
    await clock.time("overlay", () =>
      guest.createOverlay(
        signal,
        snapshot ? { path: snapshot.diskPath, format: "qcow2" } : undefined,
      ),
    );
    await clock.time("seed", () => guest.writeSeed(deps.now()));

    const bootTimeout = config.bootTimeoutMs ?? defaultBootTimeoutMs(accel.accel);
    const bootCold = async () => {
      clock.start("boot");
      await guest.launch(signal);
      const ready = await guest.waitReady(Date.now() + bootTimeout, signal, () =>
        clock.start("ready"),
      );
      clock.end(true);
      result.cloudInitErrors = ready.cloudInitErrors;
      for (const problem of ready.cloudInitErrors)
        emit({ type: "warning", message: `cloud-init reported: ${problem}` });
    };

    await using _snapshotInUse = snapshot
      ? await markInUse(deps.cacheDir, snapshot.entry, signal)
      : undefined;
    let restored = false;
    if (snapshot) {
      clock.start("restore");
      try {
        await restoreSnapshot(guest, snapshot, Date.now() + bootTimeout, signal);
        clock.end(true);
        restored = true;
        result.snapshot = { entry: snapshot.entry, use: "restored" };
        await touchFolder(snapshot.dir);
        emit({ type: "note", message: `started from snapshot ${snapshot.entry}` });
      } catch (error) {
        clock.end(false);
        if (signal.aborted) throw error;
        const reason = errorMessage(error);
        emit({
          type: "note",
          message: `snapshot ${snapshot.entry} could not be restored (${reason}); booting cold and saving a new one`,
        });
        await discardSnapshot(snapshot);
        await guest.reset(signal);
      }
    }
    if (!restored) {
      await bootCold();
      if (plan) {
        try {
          const saved = await clock.time("snapshot", () =>
            saveSnapshot(guest, image, plan, {
              cacheDir: deps.cacheDir,
              deadline: Date.now() + bootTimeout,
              signal,
              emit,
              now: deps.now,
              workdir: config.workdir,
            }),
          );
          if (saved) result.snapshot = { entry: saved.entry, use: "saved" };
        } catch (error) {
          if (signal.aborted || isKvmciError(error)) throw error;
          if (!guest.running) throw await guest.lostFailure(error);
          // The guest may be stopped half-way through the save: start it over, without saving.
          emit({
            type: "warning",
            message: `saving a snapshot failed (${errorMessage(error)}); booting again without one`,
          });
          await guest.reset(signal);
          await bootCold();
        }
      }
    }

    if (deps.prepareOnly) {
      result.outcome = "passed";
      return;
    }

    if (config.sync) {
      const synced = await clock.time("sync", () =>
        syncWorkspace(
          guest,
          {
            cwd: config.cwd,
            workdir: config.workdir,
            excludes: config.exclude,
            artifactsDir: config.artifactsDir,
          },
          signal,
        ),
      );
      const size = formatSize(synced.bytes);
      emit({
        type: "note",
        message:
          synced.mode === "git"
            ? `synced ${synced.files} files, ${size} (git: tracked and untracked, not ignored)`
            : `synced the folder, ${size} (not a git work tree: everything in it; --exclude leaves things out)`,
      });
    } else {
      const made = await guest.exec(buildWorkdirCommand(config.workdir), { signal });
      if (made.code !== 0) {
        throw new KvmciError(
          "guestLost",
          `Creating ${config.workdir} in the guest failed (exit code ${made.code})`,
        );
      }
    }

    const commandStarted = Date.now();
    const commandOutcome = await clock.time("command", () => runCommand(guest, config, deps, emit));
    result.exitCode = commandOutcome.exitCode;
    result.outcome = commandOutcome.outcome;

    if (config.artifacts.length > 0) {
      const collected = await clock.time("artifacts", () =>
        collectArtifacts(
          guest,
          {
            workdir: config.workdir,
            globs: config.artifacts,
            dir: config.artifactsDir,
            limits: config.artifactsLimits,
            umask: deps.umask,
            deadline: artifactsDeadline(config.timeoutMs, commandStarted),
          },
          signal,
        ),
      );
      result.artifacts = collected.files;
      reportArtifacts(collected, config, emit);
    }
  } catch (error) {
    // The phase that was running failed (or was interrupted): say so before teardown starts.
    clock.end(false);
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
      emit({
        type: "warning",
        message: `teardown: ${errorMessage(error)}`,
      });
    }
  }
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

/** Without --timeout, the artifacts phase ends after this long whatever the guest does. */
export const artifactsTimeoutMs = 10 * 60_000;
/** After a command stopped by --timeout, artifacts (its logs, say) still get this long. */
export const artifactsGraceMs = 30_000;

/**
 * When copying artifacts back must end: what is left of --timeout (which counts from the
 * command's start), at least the grace period; without --timeout, the phase's own limit. Pure.
 */
export function artifactsDeadline(timeoutMs: number | undefined, commandStarted: number): number {
  const now = Date.now();
  if (timeoutMs === undefined) return now + artifactsTimeoutMs;
  return Math.max(commandStarted + timeoutMs, now + artifactsGraceMs);
}

/** One note for what came back, one warning for each way the guest's archive fell short. */
function reportArtifacts(collected: CollectedArtifacts, config: RunConfig, emit: Emit): void {
  const count = collected.files.length;
  emit({
    type: "note",
    message: count
      ? `${count} artifact file${count === 1 ? "" : "s"} (${formatSize(collected.bytes)}) copied to ${config.artifactsDir}`
      : `no files matched ${config.artifacts.join(", ")}`,
  });
  if (collected.refused.length > 0) {
    const shown = collected.refused.slice(0, 10).map((r) => `${quoteName(r.path)}: ${r.why}`);
    const more = collected.refused.length - shown.length;
    emit({
      type: "warning",
      message: `${collected.refused.length} entr${collected.refused.length === 1 ? "y" : "ies"} from the guest's artifacts were not copied: ${shown.join("; ")}${more ? `; and ${more} more` : ""}`,
    });
  }
  if (collected.incomplete) {
    emit({
      type: "warning",
      message: `copying artifacts stopped early: ${collected.incomplete}; ${count} file${count === 1 ? "" : "s"} copied, the rest was not (limits: --artifacts-max-size ${formatSize(config.artifactsLimits.maxBytes)}, --artifacts-max-files ${config.artifactsLimits.maxEntries}, and --timeout)`,
    });
  }
  if (collected.packProblem) {
    emit({
      type: "warning",
      message: `packing the artifacts in the guest reported a problem (${collected.packProblem}); what it packed was copied`,
    });
  }
}

/** A name from the guest, quoted so that control characters cannot act on a terminal. */
function quoteName(name: string): string {
  return JSON.stringify(name);
}

async function runCommand(
  guest: Guest,
  config: RunConfig,
  deps: RunDeps,
  emit: Emit,
): Promise<{ exitCode: number; outcome: Outcome }> {
  const { signal } = deps;
  const timeout =
    config.timeoutMs === undefined ? undefined : AbortSignal.timeout(config.timeoutMs);
  // --idle-timeout: a command that prints nothing for that long is taken to hang.
  const idle = new AbortController();
  let idleTimer: NodeJS.Timeout | undefined;
  const heard = () => {
    if (config.idleTimeoutMs === undefined) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => idle.abort(), config.idleTimeoutMs);
  };
  heard();
  const combined = AbortSignal.any([signal, idle.signal, ...(timeout ? [timeout] : [])]);
  const commandLine = buildGuestCommandLine(config.command, {
    workdir: config.workdir,
    env: { ...config.baseEnv, ...config.env },
  });
  const size = deps.terminalSize?.() ?? { columns: 80, rows: 24 };
  let exit;
  try {
    exit = await guest.exec(commandLine, {
      pty: config.tty
        ? { term: config.baseEnv.TERM ?? "xterm", rows: size.rows, cols: size.columns }
        : undefined,
      onStdout: (chunk) => {
        heard();
        emit({ type: "output", stream: "stdout", chunk });
      },
      onStderr: (chunk) => {
        heard();
        emit({ type: "output", stream: "stderr", chunk });
      },
      signal: combined,
    });
  } finally {
    clearTimeout(idleTimer);
  }
  signal.throwIfAborted();
  if (timeout?.aborted) {
    emit({
      type: "warning",
      message: `the command was stopped after --timeout ${formatDuration(config.timeoutMs ?? 0)}`,
    });
    return { exitCode: ExitCode.timeout, outcome: "timeout" };
  }
  if (idle.signal.aborted) {
    emit({
      type: "warning",
      message: `the command printed nothing for --idle-timeout ${formatDuration(config.idleTimeoutMs ?? 0)} and was stopped`,
    });
    return { exitCode: ExitCode.timeout, outcome: "timeout" };
  }
  return { exitCode: exit.code, outcome: exit.code === 0 ? "passed" : "failed" };
}
