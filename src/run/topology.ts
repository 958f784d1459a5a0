import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir as osTmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { requireWritableCache } from "../cache/layout.js";
import { ConnectionLostError, ExitCode, KvmciError, isKvmciError } from "../errors.js";
import { buildGuestCommandLine } from "../guest/command-line.js";
import { Guest } from "../guest/guest.js";
import { buildLanCommand, buildProbeCommand } from "../guest/lan-config.js";
import { removeStaleRunFolders } from "../guest/run-folder.js";
import type { CachedImage } from "../image/cache.js";
import { refuseMissingTools } from "../image/resolve.js";
import { LanSwitch, lanAddress, lanMac } from "../net/lan.js";
import { qemuBinary } from "../qemu/args.js";
import { formatDuration } from "../units/duration.js";
import { errorMessage } from "../units/error-message.js";
import { formatSize } from "../units/size.js";
import { chooseAccel, type MachineChoice } from "./accel.js";
import { bringBackArtifacts } from "./artifacts.js";
import { runCommand } from "./command.js";
import { shellAfterFailure } from "./debug.js";
import type { Emit } from "./events.js";
import { tryTakeHostSlot, waitForHostSlot } from "./host-slots.js";
import type { GuestOutcome } from "./matrix.js";
import { PhaseClock } from "./phase-clock.js";
import { prepareForRun } from "./prepare.js";
import { defaultBootTimeoutMs, type RunConfig, type TopologyGuest } from "./run-config.js";
import {
  bootMethodFor,
  guestUserData,
  provisioningEnv,
  resolveForRun,
  type RunDeps,
  type RunResult,
} from "./run.js";
import { planSnapshot, startGuest } from "./warm.js";
import { putWorkspace, workspaceSource } from "./workspace.js";
import { trustCloudConfig } from "../cloud-init/trust.js";

/** One guest of a topology while it runs: its settings, its own events, clock and result. */
interface Member {
  spec: TopologyGuest;
  index: number;
  emit: Emit;
  clock: PhaseClock;
  result: RunResult;
  image?: CachedImage;
  accel?: MachineChoice;
  bootTimeoutMs: number;
  guest?: Guest;
  cleanups: (() => PromiseLike<unknown>)[];
  /** Why something else stopped it. */
  stoppedBy?: "fail-fast" | "another guest";
}

/**
 * A topology (`guests:` in kvmci.yml): every guest on one private network of the run's own
 * (net/lan.ts), each reaching the others by name. The guests go through each stage together:
 * images, admission to the host (all or none), provisioning, start (restore or boot), the
 * network, sync, services (started in the background) and their ready: probes, then every run:
 * command at once, artifacts, and teardown. A guest that fails a stage stops the others.
 */
export async function runTopology(
  config: RunConfig,
  deps: RunDeps,
  o: {
    emitFor: (name: string) => Emit;
    onGuestEnd?: (outcome: GuestOutcome) => void;
  },
): Promise<GuestOutcome[]> {
  const topology = config.topology ?? [];
  const { signal } = deps;
  const members: Member[] = topology.map((spec, index) => {
    const raw = o.emitFor(spec.name);
    const member: Member = {
      spec,
      index,
      emit: (event) => {
        if (event.type === "warning") member.result.warnings.push(event.message);
        raw(event);
      },
      clock: undefined as unknown as PhaseClock,
      result: undefined as unknown as RunResult,
      bootTimeoutMs: 0,
      cleanups: [],
    };
    member.clock = new PhaseClock(member.emit);
    member.result = newResult(member.clock);
    return member;
  });
  const stop = new AbortController();
  const stageSignal = AbortSignal.any([signal, stop.signal]);
  let lan: LanSwitch | undefined;
  let lanFolder: string | undefined;
  try {
    const ensureTools = deps.ensureTools ?? refuseMissingTools;
    await ensureTools([qemuBinary(config.arch), "qemu-img", "tar", "git"], "to run the guests");
    await requireWritableCache(deps.cacheDir);
    for (const folder of await removeStaleRunFolders(deps.tmpdir))
      members[0]?.emit({
        type: "note",
        message: `removed ${folder}, left by a kvmci that was killed`,
      });

    await stage(members, stop, signal, async (m) => {
      const { image, inUse } = await m.clock.time("image", () =>
        resolveForRun(m.spec.config, deps, { ensureTools, emit: m.emit, result: m.result }),
      );
      if (inUse) m.cleanups.push(() => inUse[Symbol.asyncDispose]());
      m.image = image;
      m.accel = await chooseAccel(m.spec.config, image, {
        cacheDir: deps.cacheDir,
        signal: stageSignal,
        emit: m.emit,
        hostArch: deps.hostArch,
      });
      m.result.accel = { name: m.accel.accel, reason: m.accel.reason };
      m.bootTimeoutMs = m.spec.config.bootTimeoutMs ?? defaultBootTimeoutMs(m.accel.accel);
    });

    // Every guest of the run starts, or none: a half-started topology holds no place.
    const slot = await admitTogether(members, config, deps);
    members[0]!.cleanups.push(() => slot[Symbol.asyncDispose]());

    await stage(members, stop, signal, async (m) => {
      const provision = m.spec.config.provision;
      if (!provision) return;
      await m.clock.time("prepare", async () => {
        const prepared = await prepareForRun(m.image!, provision, {
          cacheDir: deps.cacheDir,
          arch: m.spec.config.arch,
          accel: m.accel!.accel,
          cpu: m.accel!.cpu,
          cpus: m.spec.config.cpus,
          memoryBytes: m.spec.config.memoryBytes,
          diskBytes: m.spec.config.diskBytes,
          boot: bootMethodFor(m.spec.config, m.image!),
          bootTimeoutMs: m.bootTimeoutMs,
          consoleLog: m.spec.config.consoleLog,
          tmpdir: deps.tmpdir,
          signal: stageSignal,
          emit: m.emit,
          now: deps.now,
          trust: trustCloudConfig(m.spec.config.hostTrust?.certificates ?? []),
          env: provisioningEnv(m.spec.config),
        });
        m.cleanups.push(() => prepared.inUse[Symbol.asyncDispose]());
        m.image = prepared.image;
        m.result.prepared = { entry: prepared.image.entry!, reused: prepared.reused };
      });
    });

    lanFolder = await mkdtemp(join(deps.tmpdir ?? osTmpdir(), "kvmci-lan-"));
    lan = await LanSwitch.start(join(lanFolder, "lan.sock"));
    const peers = members.map((m) => ({ name: m.spec.name, address: lanAddress(m.index) }));

    await stage(members, stop, signal, async (m) => {
      const cfg = m.spec.config;
      const boot = bootMethodFor(cfg, m.image!);
      m.result.boot = boot;
      const userData = guestUserData(cfg);
      const guest = await Guest.create(
        {
          name: m.spec.name,
          image: m.image!,
          arch: cfg.arch,
          accel: m.accel!.accel,
          cpu: m.accel!.cpu,
          cpus: cfg.cpus,
          memoryBytes: cfg.memoryBytes,
          diskBytes: cfg.diskBytes,
          boot,
          network: cfg.network,
          extraUserData: userData,
          consoleLogCopy: cfg.consoleLog,
          lan: { socketPath: lan!.path, mac: lanMac(m.index) },
          artifactsLimits: cfg.artifactsLimits,
        },
        deps.tmpdir,
      );
      m.guest = guest;
      const plan = cfg.snapshot
        ? await planSnapshot(guest, m.image!, userData, deps.cacheDir)
        : undefined;
      const started = await startGuest(guest, {
        plan,
        image: m.image!,
        cacheDir: deps.cacheDir,
        bootTimeoutMs: m.bootTimeoutMs,
        workdir: cfg.workdir,
        workspace: workspaceSource(cfg),
        clock: m.clock,
        signal: stageSignal,
        emit: m.emit,
        now: deps.now,
      });
      if (started.inUse) m.cleanups.push(() => started.inUse![Symbol.asyncDispose]());
      m.result.snapshot = started.snapshot;
      m.result.cloudInitErrors = started.cloudInitErrors;
      await m.clock.time("network", () =>
        execOrFail(
          guest,
          buildLanCommand({ mac: lanMac(m.index), address: lanAddress(m.index), peers }),
          `putting ${m.spec.name} on the run's private network`,
          stageSignal,
        ),
      );
      m.emit({
        type: "note",
        message: `on the run's private network as ${m.spec.name} (${lanAddress(m.index)}), with ${peers
          .filter((p) => p.name !== m.spec.name)
          .map((p) => p.name)
          .join(", ")}`,
      });
      if (!started.synced)
        await m.clock.time("sync", () =>
          putWorkspace(guest, cfg, { signal: stageSignal, emit: m.emit }),
        );
    });

    // Services first (every guest's, in the background), then every probe: a service may
    // need another guest's to be up before it answers.
    const readyBy = Date.now() + config.readyTimeoutMs;
    await stage(members, stop, signal, async (m) => {
      if (m.spec.services.length === 0 && m.spec.probes.length === 0) return;
      await m.clock.time("services", async () => {
        for (const service of m.spec.services) startService(m, service, stageSignal);
        for (const probe of m.spec.probes)
          await waitForProbe(m, probe, readyBy, stageSignal, config);
      });
    });

    // Every run: at once; with --fail-fast the first failure stops the others.
    await stage(members, stop, signal, async (m) => {
      if (!m.spec.command) {
        m.result.outcome = "passed";
        return;
      }
      const cfg = m.spec.config;
      const commandStarted = Date.now();
      const command = await m.clock.time("command", () =>
        runCommand(m.guest!, cfg, {
          signal: stageSignal,
          emit: m.emit,
          size: deps.terminalSize?.(),
        }),
      );
      m.result.exitCode = command.exitCode;
      m.result.outcome = command.outcome;
      if (command.outcome !== "passed" && config.failFast && !stop.signal.aborted) {
        for (const other of members)
          if (other !== m && other.result.outcome === "error") other.stoppedBy = "fail-fast";
        stop.abort("fail-fast");
      }
      if (cfg.artifacts.length > 0)
        m.result.artifacts = await m.clock.time("artifacts", () =>
          bringBackArtifacts(m.guest!, cfg, {
            umask: deps.umask,
            commandStarted,
            signal,
            emit: m.emit,
            disk: m.guest!.artifactsDiskPath,
          }),
        );
    });

    // A shell in each guest whose command failed, one after another, on the terminal.
    for (const m of members)
      if (
        config.shellOnFailure &&
        m.spec.command &&
        m.result.outcome !== "passed" &&
        m.guest?.reachable
      )
        await shellAfterFailure(m.guest, m.spec.config, {
          why: `${m.spec.name}: the command ${m.result.outcome === "timeout" ? "timed out" : `failed with exit code ${m.result.exitCode}`}`,
          terminal: deps.terminal,
          emit: m.emit,
        });
  } catch (error) {
    if (signal.aborted)
      for (const m of members)
        if (m.result.outcome === "error" && !m.result.error) interrupted(m, signal);
        // Before any guest's stage (tools, the cache): every guest fails alike.
        else if (!(error instanceof StageFailed)) for (const m of members) fail(m, error);
  } finally {
    await Promise.all(members.map((m) => teardown(m)));
    await lan?.[Symbol.asyncDispose]().catch(() => undefined);
    if (lanFolder) await rm(lanFolder, { recursive: true, force: true });
  }
  return members.map((m) => {
    const outcome: GuestOutcome = {
      name: m.spec.name,
      config: m.spec.config,
      result: m.result,
      stoppedBy: m.stoppedBy,
      serves: !m.spec.command,
    };
    o.onGuestEnd?.(outcome);
    return outcome;
  });
}

class StageFailed extends Error {}

/**
 * Runs one stage for every guest at once. If one fails, the others are stopped (they say so),
 * its error is recorded, and the run goes straight to teardown. `signal` is the person's
 * (Ctrl-C, SIGTERM): then every guest is interrupted.
 */
async function stage(
  members: Member[],
  stop: AbortController,
  signal: AbortSignal,
  work: (m: Member) => Promise<void>,
): Promise<void> {
  const failed: Member[] = [];
  await Promise.all(
    members.map(async (m) => {
      try {
        await work(m);
      } catch (error) {
        m.clock.end(false);
        if (signal.aborted) {
          interrupted(m, signal);
          return;
        }
        // Stopped because another guest failed, or by --fail-fast.
        if (stop.signal.aborted) return;
        failed.push(m);
        const why =
          error instanceof ConnectionLostError && m.guest?.launched
            ? await m.guest.lostFailure(error)
            : error;
        fail(m, why);
        if (!stop.signal.aborted) stop.abort("another guest failed");
      }
    }),
  );
  signal.throwIfAborted();
  if (failed.length === 0) {
    if (stop.signal.aborted && stop.signal.reason !== "fail-fast") throw new StageFailed("stopped");
    return;
  }
  for (const m of members) if (!failed.includes(m)) m.stoppedBy ??= "another guest";
  throw new StageFailed(failed.map((m) => m.spec.name).join(", "));
}

function interrupted(m: Member, signal: AbortSignal): void {
  m.result.outcome = "interrupted";
  m.result.exitCode = signal.reason === "SIGTERM" ? ExitCode.sigterm : ExitCode.sigint;
}

function fail(m: Member, error: unknown): void {
  const failure = isKvmciError(error)
    ? error
    : new KvmciError("internal", errorMessage(error), {
        cause: error,
        hint: "This is a bug in kvmci, not something you did: please report it with this output.",
      });
  m.result.outcome = "error";
  m.result.error = failure;
  m.result.exitCode = failure.exitCode;
  m.emit({ type: "warning", message: `${m.spec.name}: ${failure.message}` });
}

/** The admission of every guest of the topology at once (the `queue` phase when it waits). */
async function admitTogether(
  members: Member[],
  config: RunConfig,
  deps: RunDeps,
): Promise<AsyncDisposable> {
  const needs = members.map((m) => ({ memoryBytes: m.spec.config.memoryBytes }));
  const options = { parallel: config.parallel, signal: deps.signal };
  const attempt = await tryTakeHostSlot(deps.cacheDir, needs, options);
  if ("slot" in attempt) return attempt.slot;
  const { running, limits } = attempt.busy;
  for (const m of members) {
    m.clock.start("queue");
    m.emit({
      type: "note",
      message: `waiting for the host, with the run's ${members.length} guests: ${running} other guest${running === 1 ? "" : "s"} running (at most ${limits.maxGuests} at once here, and ${formatSize(limits.memoryBytes)} of memory for guests)`,
    });
  }
  try {
    const slot = await waitForHostSlot(deps.cacheDir, needs, options);
    for (const m of members) m.clock.end(true);
    return slot;
  } catch (error) {
    for (const m of members) m.clock.end(false);
    throw error;
  }
}

/** A service in the background; its output in the guest's log, its end said. */
function startService(m: Member, service: string, signal: AbortSignal): void {
  const cfg = m.spec.config;
  const line = buildGuestCommandLine(
    { script: service },
    { workdir: cfg.workdir, env: { ...cfg.baseEnv, ...cfg.env } },
  );
  m.emit({ type: "note", message: `service: ${service}` });
  void m
    .guest!.exec(line, {
      onStdout: (chunk) => m.emit({ type: "output", stream: "stdout", chunk }),
      onStderr: (chunk) => m.emit({ type: "output", stream: "stderr", chunk }),
      signal,
    })
    .then(
      (result) => {
        if (!signal.aborted)
          m.emit({
            type: "note",
            message: `service ended with exit code ${result.code}: ${service}`,
          });
      },
      () => undefined,
    );
}

/** Polls a ready: probe until it answers, or fails naming the guest and the probe. */
async function waitForProbe(
  m: Member,
  probe: TopologyGuest["probes"][number],
  readyBy: number,
  signal: AbortSignal,
  config: RunConfig,
): Promise<void> {
  const what = probe.kind === "tcp" ? `tcp:${probe.port}` : probe.command;
  const command = buildGuestCommandLine(
    { script: buildProbeCommand(probe, lanAddress(m.index)) },
    { workdir: m.spec.config.workdir, env: { ...m.spec.config.baseEnv, ...m.spec.config.env } },
  );
  for (;;) {
    signal.throwIfAborted();
    const result = await m.guest!.exec(command, { signal });
    if (result.code === 0) {
      m.emit({ type: "note", message: `ready: ${what}` });
      return;
    }
    if (Date.now() >= readyBy)
      throw new KvmciError(
        "guestBoot",
        `${m.spec.name} was not ready: its probe ${what} did not succeed within --ready-timeout ${formatDuration(config.readyTimeoutMs)}`,
        {
          hint: "Its service's output is above. Check that the service starts, listens on that port on every address (not only 127.0.0.1), or raise ready-timeout.",
        },
      );
    await sleep(500, undefined, { signal });
  }
}

async function execOrFail(
  guest: Guest,
  command: string,
  what: string,
  signal: AbortSignal,
): Promise<void> {
  const stderr: Buffer[] = [];
  const result = await guest.exec(command, { onStderr: (c) => stderr.push(c), signal });
  if (result.code !== 0)
    throw new KvmciError("guestBoot", `${what} failed (exit code ${result.code})`, {
      details: Buffer.concat(stderr).toString().trim().split("\n").slice(-5),
    });
}

async function teardown(m: Member): Promise<void> {
  if (m.guest) {
    m.clock.start("teardown");
    try {
      await m.guest[Symbol.asyncDispose]();
      m.clock.end(true);
    } catch (error) {
      m.clock.end(false);
      m.emit({ type: "warning", message: `teardown: ${errorMessage(error)}` });
    }
  }
  for (const cleanup of m.cleanups.reverse())
    await Promise.resolve(cleanup()).catch(() => undefined);
}

function newResult(clock: PhaseClock): RunResult {
  return {
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
}
