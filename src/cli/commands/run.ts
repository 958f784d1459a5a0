import { loadRunConfig } from "../../config/load.js";
import type { RunConfig } from "../../run/run-config.js";
import type { RunSettingsInput } from "../../config/schema.js";
import { problemsError } from "../../errors.js";
import { homedir } from "node:os";
import { createHttpGet } from "../../host/http.js";
import { resolveCacheDir } from "../../image/cache.js";
import { catalogDirs } from "../../image/catalog.js";
import { buildJsonReport, buildMatrixReport, writeJsonReport } from "../../report/json.js";
import { readMemInfo } from "../../host/meminfo.js";
import { checkBeforeStart } from "../../run/preflight.js";
import { run, type RunDeps } from "../../run/run.js";
import {
  hostLimits,
  matrixExitCode,
  planGuests,
  runMatrix,
  type GuestRun,
} from "../../run/matrix.js";
import { formatMatrixTable } from "../../report/matrix.js";
import { GuestLines } from "../../report/prefix.js";
import { TerminalReporter } from "../../report/terminal.js";
import { formatDuration } from "../../units/duration.js";
import type { Process } from "../process.js";
import { formatOptions, parseOptions, runOptions } from "../options.js";

const exitCodes = `Exit codes:
  0-255  the command's own exit code, when it ran to the end
  64     bad usage or configuration (nothing was started)
  65     the image could not be built or used
  66     the guest failed to boot or become ready (the console tail is shown)
  67     the guest died or became unreachable while in use
  69     the host lacks something needed (QEMU, mmdebstrap, a usable /dev/kvm with --accel kvm)
  70     internal error in kvmci (please report it)
  71     unknown image: no catalog entry, file or cached image by that name
  72     the file given as an image is not a disk image kvmci can use
  73     a write on the host failed: the cache's or the artifacts folder's disk is full
  74     an image download failed (HTTP error, or the network after retries)
  75     a downloaded image does not match its published or pinned digest
  76     provisioning failed (a package or the script); nothing was cached
  77     several guests ran and not all of them passed (the table says which)
  124    the command ran past --timeout, or printed nothing for --idle-timeout
  130    interrupted (Ctrl-C); 143: terminated (SIGTERM). The guest is torn down either way.`;

export const runHelp = `Usage: kvmci run [options] [-- COMMAND...]

Boots a throwaway guest, copies this folder into it, runs COMMAND there (or \`run:\` from
kvmci.yml), streams its output, copies artifacts back and deletes the guest.

Options (each can also be set in kvmci.yml under the same name, --no-sync as sync: false,
--no-snapshot as snapshot: false; flags win):
${formatOptions(runOptions)}

${exitCodes}`;

export const prepareHelp = `Usage: kvmci prepare [options]

Makes, ahead of time, what \`kvmci run\` with the same options and kvmci.yml starts from: the
image (downloaded or built), the prepared image when provisioning is set, and the warm
snapshot (unless --no-snapshot). A later run then starts in seconds. Takes the options of
\`kvmci run\`; a command is not needed.

Options:
${formatOptions(runOptions)}`;

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
  const parsed = parseOptions(argv, runOptions);
  if (parsed.values.help === true) {
    proc.stdout.write(`${mode === "run" ? runHelp : prepareHelp}\n`);
    return 0;
  }
  const problems = [...parsed.problems];
  if (parsed.positionals.length > 0) {
    problems.push(
      `unexpected ${JSON.stringify(parsed.positionals[0])}: put the command after \`--\`, as in kvmci run -- ${parsed.positionals.join(" ")}`,
    );
  }
  if (mode === "prepare" && parsed.rest.length > 0)
    problems.push("kvmci prepare runs no command: drop what follows `--`");
  if (problems.length > 0) {
    throw problemsError("usage", problems, `Run \`kvmci ${mode} --help\` for every option.`);
  }
  const v = parsed.values;
  const flags: RunSettingsInput = {
    image: list(v.image),
    cpus: str(v.cpus),
    memory: str(v.memory),
    disk: str(v.disk),
    accel: str(v.accel) as RunSettingsInput["accel"],
    boot: str(v.boot) as RunSettingsInput["boot"],
    network: str(v.network) as RunSettingsInput["network"],
    "boot-timeout": str(v["boot-timeout"]),
    timeout: str(v.timeout),
    "idle-timeout": str(v["idle-timeout"]),
    workdir: str(v.workdir),
    sync: v["no-sync"] ? false : undefined,
    snapshot: v["no-snapshot"] ? false : undefined,
    exclude: list(v.exclude),
    env: list(v.env),
    artifact: list(v.artifact),
    "artifacts-dir": str(v["artifacts-dir"]),
    "artifacts-max-size": str(v["artifacts-max-size"]),
    "artifacts-max-files": str(v["artifacts-max-files"]),
    "console-log": str(v["console-log"]),
    "user-data": str(v["user-data"]),
    json: str(v.json),
    mirror: str(v.mirror),
    "provision-script": str(v["provision-script"]),
    "provision-package": list(v["provision-package"]),
    parallel: str(v.parallel),
    output: str(v.output) as RunSettingsInput["output"],
    "fail-fast": v["fail-fast"] ? true : undefined,
    shard: str(v.shard),
  };
  const config = await loadRunConfig({
    flags: Object.fromEntries(Object.entries(flags).filter(([, value]) => value !== undefined)),
    argv: parsed.rest,
    configPath: str(v.config),
    cwd: proc.cwd(),
    commandOptional: mode === "prepare",
    hostEnv: proc.env,
  });
  const startedAt = new Date();
  const deps: RunDeps = {
    cacheDir: resolveCacheDir(proc.env),
    catalogDirs: catalogDirs(proc.env),
    http: createHttpGet(),
    home: homedir(),
    isRoot: proc.getuid?.() === 0,
    signal,
    now: () => new Date(),
    umask: process.umask(),
    prepareOnly: mode === "prepare",
  };
  const guests = planGuests(config);
  const hostProblems = await checkBeforeStart(config, guests, {
    totalMemoryBytes: (await readMemInfo()).totalBytes,
  });
  if (hostProblems.length > 0)
    throw problemsError(
      "configuration",
      hostProblems,
      `Run \`kvmci ${mode} --help\` for every option.`,
    );
  if (guests.length > 1) return runMany(guests, config, deps, proc, startedAt);
  const single = guests[0]?.config ?? config;
  const result = await run(single, deps, reporter.onEvent);
  reporter.summary(result, passedAs(mode));
  if (config.json) await writeJsonReport(config.json, buildJsonReport(single, result, startedAt));
  return result.exitCode;
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
): Promise<number> {
  const limits = await hostLimits(config.parallel);
  const err = (text: string) => proc.stderr.write(text);
  err(
    `kvmci › ${guests.length} guests (${guests.map((g) => g.name).join(", ")}), up to ${Math.min(limits.maxGuests, guests.length)} at once\n`,
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
    guests.map((g) => [g.name, new TerminalReporter(streams.get(g.name)!)]),
  );
  const outcomes = await runMatrix(guests, deps, {
    limits,
    failFast: config.failFast,
    emitFor: (name) => reporters.get(name)!.onEvent,
    onGuestEnd: (outcome) => {
      if (outcome.result)
        reporters
          .get(outcome.name)!
          .summary(outcome.result, passedAs(deps.prepareOnly ? "prepare" : "run"));
      streams.get(outcome.name)!.stdout.flush();
      streams.get(outcome.name)!.stderr.flush();
    },
  });
  const exitCode = matrixExitCode(outcomes, deps.signal);
  err(`\n${formatMatrixTable(outcomes)}`);
  const failed = outcomes.filter((o) => o.result?.outcome !== "passed");
  const seconds = formatDuration(Date.now() - startedAt.getTime());
  err(
    failed.length === 0
      ? `kvmci ✓ all ${outcomes.length} guests passed in ${seconds}\n`
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

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function list(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.length > 0 ? value.map(String) : undefined;
}

/** What success is called at the end: `kvmci prepare` runs no command, it makes things ready. */
function passedAs(mode: "run" | "prepare"): string {
  return mode === "prepare" ? "ready" : "passed";
}
