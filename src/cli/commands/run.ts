import { loadRunConfig } from "../../config/load.js";
import type { RunConfig } from "../../run/run-config.js";
import { exitCodeRows, problemsError } from "../../errors.js";
import { homedir } from "node:os";
import { createHttpGet } from "../../host/http.js";
import { resolveCacheDir } from "../../image/cache.js";
import { catalogDirs } from "../../image/catalog.js";
import { buildJsonReport, buildMatrixReport, writeJsonReport } from "../../report/json.js";
import { readMemInfo } from "../../host/meminfo.js";
import { cliToolInstaller } from "../install-policy.js";
import { terminalOf } from "../terminal.js";
import { maxDurationMs, parseDuration } from "../../units/duration.js";
import { checkBeforeStart } from "../../run/preflight.js";
import { archOfNode } from "../../units/arch.js";
import { run, type RunDeps } from "../../run/run.js";
import { runTopology } from "../../run/topology.js";
import type { Emit } from "../../run/events.js";
import {
  hostLimits,
  matrixExitCode,
  planGuests,
  runMatrix,
  type GuestOutcome,
  type GuestRun,
} from "../../run/matrix.js";
import { formatMatrixTable } from "../../report/matrix.js";
import { GuestLines } from "../../report/prefix.js";
import { TerminalReporter, type Verbosity } from "../../report/terminal.js";
import { formatDuration } from "../../units/duration.js";
import type { Process } from "../process.js";
import { helpWidth, renderHelp, type HelpBlock } from "../help.js";
import { watchHostCommands } from "../host-commands.js";
import { optionRows, parseOptions, runOptions, settingsFromFlags } from "../options.js";

/** `kvmci run --help`, as blocks to wrap to the terminal. */
export const runHelp: HelpBlock[] = [
  "Usage: kvmci run [options] [-- COMMAND...]",
  "Boots a throwaway guest, copies this folder into it, runs COMMAND there (or `run:` from kvmci.yml), streams its output, copies artifacts back and deletes the guest.",
  {
    heading:
      "Options (each but --config, --verbose, --quiet and --help can also be set in kvmci.yml under the same name, --no-sync as sync: false, --no-snapshot as snapshot: false; flags win):",
    rows: optionRows(runOptions),
  },
  { heading: "Exit codes:", rows: exitCodeRows() },
];

/** `kvmci prepare --help`. */
export const prepareHelp: HelpBlock[] = [
  "Usage: kvmci prepare [options]",
  "Makes, ahead of time, what `kvmci run` with the same options and kvmci.yml starts from: the image (downloaded or built), the prepared image when provisioning is set, and the warm snapshot (unless --no-snapshot). A later run then starts in seconds. Takes the options of `kvmci run`; a command is not needed.",
  { heading: "Options:", rows: optionRows(runOptions) },
];

export function runCommand(
  argv: string[],
  proc: Process,
  signal: AbortSignal,
  reporter: TerminalReporter,
): Promise<number> {
  return runOrPrepare("run", argv, proc, signal, reporter);
}

export function prepareCommand(
  argv: string[],
  proc: Process,
  signal: AbortSignal,
  reporter: TerminalReporter,
): Promise<number> {
  return runOrPrepare("prepare", argv, proc, signal, reporter);
}

async function runOrPrepare(
  mode: "run" | "prepare",
  argv: string[],
  proc: Process,
  signal: AbortSignal,
  reporter: TerminalReporter,
): Promise<number> {
  const read = await readRunArgs(mode, argv, proc);
  if ("help" in read) {
    proc.stdout.write(`${read.help}\n`);
    return 0;
  }
  const { config, guests, verbosity, keepForMs } = read;
  const shown = reporter.withVerbosity(verbosity);
  using _commands =
    verbosity === "verbose"
      ? watchHostCommands({
          started: (command) => shown.hostCommand(command),
          ended: (command, code, signal) => shown.hostCommandEnd(command, code, signal),
        })
      : undefined;
  const startedAt = new Date();
  const deps: RunDeps = {
    cacheDir: resolveCacheDir(proc.env),
    catalogDirs: catalogDirs(proc.env),
    http: createHttpGet(),
    home: homedir(),
    isRoot: proc.getuid?.() === 0,
    hostArch: archOfNode(proc.arch ?? ""),
    signal,
    now: () => new Date(),
    umask: process.umask(),
    ensureTools: cliToolInstaller(proc, {
      install: config.install,
      signal,
      log: (line) => proc.stderr.write(`kvmci › ${line}\n`),
    }),
    terminalSize: () => ({
      columns: proc.stdout.columns ?? 80,
      rows: proc.stdout.rows ?? 24,
    }),
    prepareOnly: mode === "prepare",
    terminal: terminalOf(proc),
    keepForMs,
  };
  if (config.topology) {
    if (mode === "prepare")
      throw problemsError(
        "usage",
        ["kvmci prepare does not take guests: yet"],
        "Run `kvmci run` instead.",
      );
    const topologyGuests = config.topology.map((t) => ({ name: t.name, config: t.config }));
    return runMany(topologyGuests, config, deps, proc, startedAt, verbosity, (o) =>
      runTopology(config, deps, o),
    );
  }
  if (guests.length > 1) return runMany(guests, config, deps, proc, startedAt, verbosity);
  const single = guests[0]?.config ?? config;
  const result = await run(single, deps, shown.onEvent);
  shown.summary(result, passedAs(mode));
  if (config.json) await writeJsonReport(config.json, buildJsonReport(single, result, startedAt));
  return result.exitCode;
}

/**
 * Everything the command line and kvmci.yml say, validated, and checked against this host:
 * the settings every guest runs with, or a usage error listing every problem. Starts nothing.
 */
export async function readRunArgs(
  mode: "run" | "prepare",
  argv: string[],
  proc: Pick<Process, "cwd" | "env"> & Partial<Pick<Process, "stdout" | "arch">>,
): Promise<
  | { config: RunConfig; guests: GuestRun[]; verbosity: Verbosity; keepForMs: number | undefined }
  | { help: string }
> {
  const parsed = parseOptions(argv, runOptions);
  if (parsed.values.help === true)
    return { help: renderHelp(mode === "run" ? runHelp : prepareHelp, helpWidth(proc.stdout)) };
  const problems = [...parsed.problems];
  if (parsed.positionals.length > 0) {
    problems.push(
      mode === "run"
        ? `unexpected ${JSON.stringify(parsed.positionals[0])}: put the command after \`--\`, as in kvmci run -- ${parsed.positionals.join(" ")}`
        : `unexpected ${parsed.positionals.map((w) => JSON.stringify(w)).join(" ")}: kvmci prepare takes options only`,
    );
  }
  if (mode === "prepare" && parsed.rest.length > 0)
    problems.push("kvmci prepare runs no command: drop what follows `--`");
  if (parsed.values.verbose === true && parsed.values.quiet === true)
    problems.push("--verbose and --quiet: give one or the other");
  const keep = parsed.values.keep;
  const keepForMs =
    keep === undefined || keep === false
      ? undefined
      : keep === true
        ? 3_600_000
        : parseDuration(String(keep));
  if (
    keep !== undefined &&
    keep !== false &&
    (keepForMs === undefined || keepForMs <= 0 || keepForMs > maxDurationMs)
  )
    problems.push(
      `--keep: expected a duration of at most 7d, like --keep=30m (or --keep alone for 1h), got ${JSON.stringify(keep)}`,
    );
  if (mode === "prepare" && keep !== undefined)
    problems.push("--keep: kvmci prepare keeps no guest");
  const hint = `Run \`kvmci ${mode} --help\` for every option.`;
  if (problems.length > 0) throw problemsError("usage", problems, hint);
  const config = await loadRunConfig({
    flags: settingsFromFlags(parsed.values),
    argv: parsed.rest,
    configPath: typeof parsed.values.config === "string" ? parsed.values.config : undefined,
    cwd: proc.cwd(),
    commandOptional: mode === "prepare",
    hostEnv: proc.env,
    hostArch: archOfNode(proc.arch ?? ""),
    terminal: Boolean(proc.stdout?.isTTY),
  });
  const guests = config.topology
    ? config.topology.map((t) => ({ name: t.name, config: t.config }))
    : planGuests(config);
  const hostProblems = await checkBeforeStart(config, guests, {
    totalMemoryBytes: (await readMemInfo()).totalBytes,
    arch: archOfNode(proc.arch ?? ""),
  });
  if (hostProblems.length > 0) throw problemsError("configuration", hostProblems, hint);
  if (keepForMs !== undefined && guests.length > 1)
    throw problemsError(
      "usage",
      ["--keep keeps one guest: give one image (or pick one guest of the matrix with --shard)"],
      hint,
    );
  const verbosity: Verbosity =
    parsed.values.verbose === true ? "verbose" : parsed.values.quiet === true ? "quiet" : "normal";
  return { config, guests, verbosity, keepForMs };
}

/**
 * Several guests at once: each one's lines prefixed with its name (or grouped), a table at the
 * end, exit 0 only when every guest passed.
 */
async function runMany(
  guests: GuestRun[],
  config: RunConfig,
  deps: RunDeps,
  proc: Process,
  startedAt: Date,
  verbosity: Verbosity,
  /** A topology's own orchestration; a matrix's by default. */
  runAll?: (o: {
    emitFor: (name: string) => Emit;
    onGuestEnd: (outcome: GuestOutcome) => void;
  }) => Promise<GuestOutcome[]>,
): Promise<number> {
  const limits = await hostLimits(config.parallel);
  const err = (text: string) => proc.stderr.write(text);
  const quiet = verbosity === "quiet";
  if (!quiet)
    err(
      runAll
        ? `kvmci › ${guests.length} guests on one private network: ${guests.map((g) => g.name).join(", ")}\n`
        : `kvmci › ${guests.length} guests (${guests.map((g) => g.name).join(", ")}), up to ${Math.min(limits.maxGuests, guests.length)} at once\n`,
    );
  const streams = new Map(
    guests.map((g) => [
      g.name,
      {
        stdout: new GuestLines(proc.stdout, g.name, config.output),
        stderr: new GuestLines(proc.stderr, g.name, config.output),
      },
    ]),
  );
  const reporters = new Map(
    guests.map((g) => [g.name, new TerminalReporter(streams.get(g.name)!, verbosity)]),
  );
  const callbacks = {
    emitFor: (name: string) => reporters.get(name)!.onEvent,
    onGuestEnd: (outcome: GuestOutcome) => {
      if (outcome.result)
        reporters
          .get(outcome.name)!
          .summary(
            outcome.result,
            outcome.serves ? "served" : passedAs(deps.prepareOnly ? "prepare" : "run"),
          );
      streams.get(outcome.name)!.stdout.flush();
      streams.get(outcome.name)!.stderr.flush();
    },
  };
  const outcomes = runAll
    ? await runAll(callbacks)
    : await runMatrix(guests, deps, { limits, failFast: config.failFast, ...callbacks });
  const exitCode = matrixExitCode(outcomes, deps.signal);
  // Quiet: each guest's last line and the run's say it; the table is left out.
  if (!quiet) err(`\n${formatMatrixTable(outcomes)}`);
  const failed = outcomes.filter((o) => o.result?.outcome !== "passed");
  const seconds = formatDuration(Date.now() - startedAt.getTime());
  err(
    failed.length === 0
      ? `kvmci ✓ all ${outcomes.length} guests ${runAll ? "did their part" : "passed"} in ${seconds}\n`
      : `kvmci ✗ ${failed.length} of ${outcomes.length} guests did not pass (${failed.map((o) => o.name).join(", ")}) in ${seconds}\n`,
  );
  if (config.json) {
    await writeJsonReport(config.json, {
      ...buildMatrixReport(outcomes, startedAt),
      exitCode,
    });
  }
  return exitCode;
}

/** What success is called at the end: `kvmci prepare` runs no command, it makes things ready. */
function passedAs(mode: "run" | "prepare"): string {
  return mode === "prepare" ? "ready" : "passed";
}
