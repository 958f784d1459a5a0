import { availableParallelism } from "node:os";
import { extname, join } from "node:path";
import type { RunConfig } from "./run-config.js";
import { ExitCode } from "../errors.js";
import { readMemInfo } from "../host/meminfo.js";
import { run, type RunDeps, type RunResult } from "./run.js";
import type { Emit } from "./events.js";
import { mayStart, memoryBudget, selectShard, type HostLimits } from "./schedule.js";

/** One guest of a matrix run, with the settings it runs with. */
export interface GuestRun {
  name: string;
  config: RunConfig;
}

export interface GuestOutcome {
  name: string;
  config: RunConfig;
  /** Undefined for a guest that never started (interrupted or stopped by --fail-fast). */
  result: RunResult | undefined;
  /** Why it stopped before its end, when something else stopped it. */
  stoppedBy: "fail-fast" | "another guest" | undefined;
  /** A topology's guest without a run: command: it only served the others. */
  serves?: boolean;
}

/**
 * One settings object per guest: the matrix entry's image, CPUs, memory and environment over
 * the run's, the shard's part of the suite in KVMCI_SHARD_INDEX/TOTAL, and (with several
 * guests) artifacts and console copies in a place of their own. Pure.
 */
export function planGuests(config: RunConfig): GuestRun[] {
  const selected = config.shard
    ? selectShard(config.matrix, config.shard.index, config.shard.total)
    : config.matrix.map((entry) => ({ entry, part: undefined }));
  const many = selected.length > 1;
  return selected.map(({ entry, part }) => ({
    name: entry.name,
    config: Object.freeze({
      ...config,
      image: entry.image,
      arch: entry.arch,
      matrix: [entry],
      cpus: entry.cpus ?? config.cpus,
      memoryBytes: entry.memoryBytes ?? config.memoryBytes,
      env: {
        ...config.env,
        ...entry.env,
        ...(part
          ? { KVMCI_SHARD_INDEX: String(part.index), KVMCI_SHARD_TOTAL: String(part.total) }
          : {}),
      },
      artifactsDir: many ? join(config.artifactsDir, entry.name) : config.artifactsDir,
      consoleLog:
        many && config.consoleLog ? withSuffix(config.consoleLog, entry.name) : config.consoleLog,
    }),
  }));
}

function withSuffix(path: string, name: string): string {
  const ext = extname(path);
  return `${path.slice(0, path.length - ext.length)}.${name}${ext}`;
}

/** What this host can run at once: its CPUs (or --parallel) and the memory it has available. */
export async function hostLimits(parallel: number | undefined): Promise<HostLimits> {
  return {
    maxGuests: parallel ?? availableParallelism(),
    memoryBytes: memoryBudget(await readMemInfo(), 0),
  };
}

/**
 * Runs every guest, as many at once as `limits` allow, the rest queued in order. With
 * `failFast`, the first guest that does not pass stops the others (torn down like a Ctrl-C)
 * and the queued ones never start. Each guest's events go to its own `emitFor(name)`.
 */
export async function runMatrix(
  guests: GuestRun[],
  deps: RunDeps,
  o: {
    limits: HostLimits;
    failFast: boolean;
    emitFor: (name: string) => Emit;
    onGuestEnd?: (outcome: GuestOutcome) => void;
    /** Runs one guest; the real `run` unless a test says otherwise. */
    runGuest?: typeof run;
  },
): Promise<GuestOutcome[]> {
  const runGuest = o.runGuest ?? run;
  const emitFor = onceForHostWarnings(o.emitFor);
  const stop = new AbortController();
  const outcomes: GuestOutcome[] = guests.map((g) => ({
    name: g.name,
    config: g.config,
    result: undefined,
    stoppedBy: undefined,
  }));
  const queue = guests.map((_, i) => i);
  const running = new Map<number, { memoryBytes: number }>();
  await new Promise<void>((allDone) => {
    const pump = () => {
      while (queue.length > 0) {
        if (deps.signal.aborted || stop.signal.aborted) {
          for (const i of queue.splice(0))
            outcomes[i]!.stoppedBy = stop.signal.aborted ? "fail-fast" : undefined;
          break;
        }
        const next = queue[0]!;
        const needs = { memoryBytes: guests[next]!.config.memoryBytes };
        if (!mayStart(needs, [...running.values()], o.limits)) break;
        queue.shift();
        running.set(next, needs);
        const guest = guests[next]!;
        void runGuest(
          guest.config,
          { ...deps, signal: AbortSignal.any([deps.signal, stop.signal]) },
          emitFor(guest.name),
        ).then((result) => {
          const outcome = outcomes[next]!;
          outcome.result = result;
          if (result.outcome === "interrupted" && stop.signal.aborted && !deps.signal.aborted)
            outcome.stoppedBy = "fail-fast";
          running.delete(next);
          o.onGuestEnd?.(outcome);
          if (o.failFast && result.outcome !== "passed" && !stop.signal.aborted)
            stop.abort("fail-fast");
          pump();
        });
      }
      if (running.size === 0 && queue.length === 0) allDone();
    };
    pump();
  });
  return outcomes;
}

/** 0 when every guest passed; 130/143 when interrupted; else "some guests failed". */
export function matrixExitCode(outcomes: GuestOutcome[], signal: AbortSignal): number {
  if (signal.aborted) return signal.reason === "SIGTERM" ? ExitCode.sigterm : ExitCode.sigint;
  return outcomes.every((o) => o.result?.outcome === "passed") ? 0 : ExitCode.someGuestsFailed;
}

/** A warning about the host (KVM not usable) is the same for every guest: only the first says it. */
function onceForHostWarnings(emitFor: (name: string) => Emit): (name: string) => Emit {
  const shown = new Set<string>();
  return (name) => {
    const emit = emitFor(name);
    return (event) => {
      if (event.type === "warning" && event.about === "host") {
        if (shown.has(event.message)) return;
        shown.add(event.message);
      }
      emit(event);
    };
  };
}
