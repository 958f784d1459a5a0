import { mkdir } from "node:fs/promises";
import { homedir } from "node:os";
import { join, relative } from "node:path";
import * as core from "@actions/core";
import * as actionsCache from "@actions/cache";
import { failOnStall, Interrupts, stalledMessage } from "../cli/interrupts.js";
import { loadRunConfig } from "../config/load.js";
import type { RunConfig } from "../run/run-config.js";
import { formatDuration } from "../units/duration.js";
import { ExitCode, isKvmciError, KvmciError, problemsError } from "../errors.js";
import { readMemInfo } from "../host/meminfo.js";
import { checkBeforeStart } from "../run/preflight.js";
import { archOfNode } from "../units/arch.js";
import { readConsoleTail } from "../guest/console.js";
import { toolInstaller } from "../host/packages.js";
import { errorMessage } from "../units/error-message.js";
import { createHttpGet } from "../host/http.js";
import { listCachedImages, resolveCacheDir } from "../image/cache.js";
import { catalogDirs, loadCatalogEntry } from "../image/catalog.js";
import { buildJsonReport, buildMatrixReport, writeJsonReport } from "../report/json.js";
import {
  GithubLogReporter,
  renderJobSummary,
  renderMatrixSummary,
  type SummaryInput,
} from "../report/github.js";
import { junitSummary, readJunitFile, type JunitRead } from "../report/junit-file.js";
import { run, type RunDeps, type RunResult } from "../run/run.js";
import { runTopology } from "../run/topology.js";
import type { Emit } from "../run/events.js";
import {
  hostLimits,
  matrixExitCode,
  planGuests,
  runMatrix,
  type GuestOutcome,
  type GuestRun,
} from "../run/matrix.js";
import { guestVerdict } from "../report/matrix.js";
import { GuestLines } from "../report/prefix.js";
import { TerminalReporter } from "../report/terminal.js";
import { randomUUID } from "node:crypto";
import { cacheKeyPrefix, restoreKvmciCache, saveKvmciCache, type CacheService } from "./cache.js";
import { enableKvm, ensureHostTools } from "./host.js";
import { readActionInputs } from "./inputs.js";
import { ActionState } from "./state.js";

/**
 * The Action's main step: inputs → host (QEMU, KVM) → cache → `kvmci run` → JUnit → outputs,
 * job summary and annotations. A failed run fails the step; cache trouble is only a warning.
 */
export async function runAction(
  env: NodeJS.ProcessEnv = process.env,
  cacheService: CacheService = actionsCache,
): Promise<void> {
  const started = Date.now();
  const hostArch = archOfNode(process.arch);
  const runnerTemp = env.RUNNER_TEMP ?? join(homedir(), ".cache", "kvmci-action");
  // Everything of this step in one folder, recorded first: the post step cleans it up even
  // when this process is killed in the middle of a boot.
  const folder = join(runnerTemp, `kvmci-${process.pid}-${Date.now()}`);
  await mkdir(join(folder, "tmp"), { recursive: true, mode: 0o700 });
  core.saveState(ActionState.folder, folder);
  const files = { report: join(folder, "report.json"), consoleLog: join(folder, "console.log") };

  const interrupts = new Interrupts({
    exit: (code) => process.exit(code),
    warn: (message) => process.stderr.write(message),
  });
  const { signal } = interrupts.controller;
  const onInt = () => interrupts.onSignal("SIGINT");
  const onTerm = () => interrupts.onSignal("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  using _stall = failOnStall(process, () => {
    core.setFailed(stalledMessage);
    process.exit(ExitCode.internal);
  });
  const reporter = new GithubLogReporter(process.stdout, core);
  const log = (line: string) => reporter.line(`kvmci › ${line}`);
  const warn = (line: string) => core.warning(line, { title: "kvmci" });
  try {
    const workspace = env.GITHUB_WORKSPACE ?? process.cwd();
    const settings = readActionInputs((name) => core.getInput(name), { workspace, files });
    let config: RunConfig;
    let guests: GuestRun[];
    try {
      config = await loadRunConfig({ ...settings.load, hostEnv: env, hostArch });
      guests = config.topology
        ? config.topology.map((t) => ({ name: t.name, config: t.config }))
        : planGuests(config);
      const problems = await checkBeforeStart(
        config,
        guests,
        { totalMemoryBytes: (await readMemInfo()).totalBytes, arch: hostArch },
        "input ",
      );
      if (problems.length > 0)
        throw problemsError("configuration", problems, settings.load.wording!.hint);
    } catch (error) {
      if (!isKvmciError(error)) throw error;
      return fail(error, "Invalid inputs");
    }
    const isRoot = process.getuid?.() === 0;
    const cacheDir = resolveCacheDir(env);

    reporter.line("::group::kvmci: host");
    const prefix = cacheKeyPrefix(config, env);
    const restoredKey = settings.cache
      ? await restoreKvmciCache(cacheService, { cacheDir, prefix }, log, warn)
      : undefined;
    await ensureHostTools(
      {
        arches: [...new Set(guests.map((g) => g.config.arch))],
        needBuild: await mustBuild(guests, cacheDir, env),
        isRoot,
        signal,
      },
      log,
    );
    await enableKvm({ isRoot, signal }, log);
    reporter.line("::endgroup::");

    const deps: RunDeps = {
      cacheDir,
      catalogDirs: catalogDirs(env),
      http: createHttpGet(),
      home: homedir(),
      isRoot,
      hostArch,
      signal,
      now: () => new Date(),
      umask: process.umask(),
      ensureTools: toolInstaller({ mode: "auto", isRoot, log, signal }),
      tmpdir: join(folder, "tmp"),
    };
    const outcomes: GuestOutcome[] =
      guests.length === 1 && !config.topology
        ? [
            {
              ...guests[0]!,
              result: await run(guests[0]!.config, deps, reporter.onEvent),
              stoppedBy: undefined,
            },
          ]
        : await runGuestsGrouped(
            guests,
            config,
            deps,
            config.topology ? (o) => runTopology(config, deps, o) : undefined,
          );
    const durationMs = Date.now() - started;
    const single = guests.length === 1 && !config.topology ? outcomes[0]!.result : undefined;
    const exitCode = single ? single.exitCode : matrixExitCode(outcomes, signal);
    // The result first: nothing read from the guest after this (its JUnit file, its console)
    // can lose the exit code or the outputs.
    core.setOutput("exit-code", String(exitCode));
    core.setOutput("duration", (durationMs / 1000).toFixed(1));
    core.setOutput("accel", outcomes.find((o) => o.result?.accel)?.result?.accel?.name ?? "");
    core.setOutput(
      "console-log",
      outcomes.flatMap((o) => (o.config.consoleLog ? [o.config.consoleLog] : [])).join("\n"),
    );
    core.setOutput("report", files.report);
    const writeReport = (junit: Map<string, JunitRead | undefined>) =>
      writeJsonReport(
        files.report,
        single
          ? {
              ...buildJsonReport(outcomes[0]!.config, single, new Date(started)),
              junit: junitSummary(junit.get(outcomes[0]!.name)),
            }
          : { ...buildMatrixReport(outcomes, new Date(started), junit), exitCode },
      );
    await writeReport(new Map());

    const junits = new Map<string, JunitRead | undefined>();
    const sections: SummaryInput[] = [];
    await guarded("reading the results", warn, async () => {
      for (const outcome of outcomes) {
        if (!outcome.result) continue;
        const junit = settings.junit
          ? await readJunitFile(outcome.config.artifactsDir, settings.junit)
          : undefined;
        junits.set(outcome.name, junit);
        const consoleTail = outcome.config.consoleLog
          ? await readConsoleTail(outcome.config.consoleLog)
          : [];
        annotate(outcome.result, junit, consoleTail, {
          projectDir: relative(workspace, config.cwd),
          workdir: config.workdir,
          guest: guests.length > 1 ? outcome.name : undefined,
        });
        sections.push({
          result: outcome.result,
          junit,
          consoleTail,
          durationMs,
          heading: guests.length > 1 ? `### ${outcome.name}` : undefined,
        });
      }
    });
    await guarded("writing the report", warn, () => writeReport(junits));
    await guarded("writing the job summary", warn, () =>
      writeSummary(
        single && sections[0]
          ? renderJobSummary(sections[0])
          : [renderMatrixSummary(outcomes, durationMs), ...sections.map(renderJobSummary)].join(
              "\n",
            ),
      ),
    );

    if (settings.cache && outcomes.some((o) => o.result?.image))
      await saveKvmciCache(cacheService, { cacheDir, prefix, restoredKey }, log, warn);
    if (single && single.outcome !== "passed") core.setFailed(verdict(single, durationMs));
    if (!single && exitCode !== 0) {
      const failed = outcomes.filter((o) => o.result?.outcome !== "passed").map((o) => o.name);
      core.setFailed(
        `kvmci: ${failed.length} of ${outcomes.length} guests did not pass (${failed.join(", ")})`,
      );
    }
  } catch (error) {
    if (signal.aborted) {
      core.setFailed(`kvmci: interrupted (${String(signal.reason)}); the guest was torn down`);
      return;
    }
    if (isKvmciError(error)) return fail(error, error.message);
    core.setFailed(
      `kvmci: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  }

  function fail(error: KvmciError, title: string): void {
    core.setOutput("exit-code", String(error.exitCode));
    const body = [error.message, ...error.details, ...(error.hint ? [error.hint] : [])].join("\n");
    core.error(body, { title: `kvmci: ${title}` });
    core.setFailed(`kvmci: ${error.message}`);
  }
}

/**
 * Several guests in one step: they run at once, and each one's log is one collapsible group,
 * written when it ends (groups cannot interleave), its output fenced like a single guest's.
 */
async function runGuestsGrouped(
  guests: GuestRun[],
  config: RunConfig,
  deps: RunDeps,
  /** A topology's own orchestration; a matrix's by default. */
  runAll?: (o: {
    emitFor: (name: string) => Emit;
    onGuestEnd: (outcome: GuestOutcome) => void;
  }) => Promise<GuestOutcome[]>,
): Promise<GuestOutcome[]> {
  const held = new Map<string, string[]>();
  const lines = new Map(
    guests.map((g) => {
      held.set(g.name, []);
      return [
        g.name,
        new GuestLines({ write: (t) => held.get(g.name)!.push(t) }, g.name, "grouped"),
      ];
    }),
  );
  const reporters = new Map(
    guests.map((g) => {
      const sink = lines.get(g.name)!;
      return [g.name, new TerminalReporter({ stdout: sink, stderr: sink })];
    }),
  );
  process.stdout.write(
    `kvmci › ${guests.length} guests: ${guests.map((g) => g.name).join(", ")}\n`,
  );
  const callbacks = {
    emitFor: (name: string) => reporters.get(name)!.onEvent,
    onGuestEnd: (outcome: GuestOutcome) => {
      if (outcome.result) reporters.get(outcome.name)!.summary(outcome.result);
      lines.get(outcome.name)!.flush();
      const fence = randomUUID();
      process.stdout.write(
        [
          `::group::kvmci [${outcome.name}]: ${guestVerdict(outcome)}`,
          `::stop-commands::${fence}`,
          held.get(outcome.name)!.join("").replace(/\n$/, ""),
          `::${fence}::`,
          "::endgroup::",
          "",
        ].join("\n"),
      );
    },
  };
  return runAll
    ? runAll(callbacks)
    : runMatrix(guests, deps, {
        limits: await hostLimits(config.parallel),
        failFast: config.failFast,
        ...callbacks,
      });
}

/** Whether a guest's image is a recipe that is not cached, so mmdebstrap is needed to build it. */
async function mustBuild(guests: GuestRun[], cacheDir: string, env: NodeJS.ProcessEnv) {
  const cached = await listCachedImages(cacheDir);
  for (const { config } of guests) {
    const entry = await loadCatalogEntry(config.image, config.arch, catalogDirs(env)).catch(
      () => undefined,
    );
    if (entry?.kind !== "recipe") continue;
    const key = entry.key;
    if (!cached.some((i) => i.info.source.kind === "recipe" && i.info.source.key === key))
      return true;
  }
  return false;
}

/**
 * Runs one of the steps after the result is known; if it fails, the step says so as a warning
 * and the rest goes on: the exit code and outputs are already written.
 */
async function guarded(what: string, warn: (line: string) => void, step: () => Promise<unknown>) {
  try {
    await step();
  } catch (error) {
    warn(`${what} failed: ${errorMessage(error)}`);
  }
}

/** Error annotations: each JUnit failure at its file and line, a failed boot with the console. */
function annotate(
  result: RunResult,
  junit: SummaryInput["junit"],
  consoleTail: string[],
  paths: { projectDir: string; workdir: string; guest: string | undefined },
): void {
  const guest = paths.guest ? `[${paths.guest}] ` : "";
  if (result.error) {
    const body = [result.error.message, ...(result.error.hint ? [result.error.hint] : [])];
    if (consoleTail.length && ["guestBoot", "guestLost"].includes(result.error.code))
      body.push("", "Last lines of the guest console:", ...consoleTail.slice(-15));
    core.error(body.join("\n"), {
      title: `kvmci: ${guest}${result.error.message.split(":")[0]}`,
    });
  }
  if (!junit || "problem" in junit) {
    // Read from the guest, and so a warning at most: it never fails the step.
    if (junit) core.warning(junit.problem, { title: `kvmci: ${guest}JUnit` });
    return;
  }
  for (const failure of junit.report.failures) {
    // Paths in the XML are relative to the workdir in the guest (or inside it): make them
    // relative to the repository, as annotations need.
    const inWorkdir = failure.file?.startsWith(`${paths.workdir}/`)
      ? failure.file.slice(paths.workdir.length + 1)
      : failure.file;
    const file = inWorkdir ? join(paths.projectDir, inWorkdir) : undefined;
    core.error(failure.details || failure.message, {
      title: `${guest}${failure.suite} › ${failure.test}: ${failure.message.split("\n")[0]}`,
      file,
      startLine: failure.line,
    });
  }
}

async function writeSummary(markdown: string): Promise<void> {
  try {
    await core.summary.addRaw(markdown).write();
  } catch (error) {
    // No GITHUB_STEP_SUMMARY (a local run): the log has it all.
    core.debug(`no job summary: ${(error as Error).message}`);
  }
}

function verdict(result: RunResult, durationMs: number): string {
  const after = `after ${formatDuration(durationMs)}`;
  switch (result.outcome) {
    case "failed":
      return `kvmci: the command failed with exit code ${result.exitCode} ${after}`;
    case "timeout":
      return `kvmci: the command ran past its timeout (exit code 124) ${after}`;
    case "interrupted":
      return `kvmci: interrupted; the guest was torn down`;
    default:
      return `kvmci: ${result.error?.message ?? "the run could not complete"} (exit code ${result.exitCode})`;
  }
}
