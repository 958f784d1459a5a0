import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { dirname, extname, join, resolve } from "node:path";
import yaml from "js-yaml";
import type { ZodType } from "zod";
import type { CloudConfig } from "../cloud-init/user-data.js";
import { problemsError } from "../errors.js";
import type { GuestCommand } from "../guest/command-line.js";
import type { Provision } from "../guest/provision.js";
import type { MatrixEntry, RunConfig } from "../run/run-config.js";
import { baseCommandEnv } from "../guest/command-env.js";
import { findHostNode, readNodeInstall, type NodeInstall } from "../host/node-install.js";
import { readHostTrust, type HostTrust } from "../host/trust.js";
import { errorMessage } from "../units/error-message.js";
import { formatIssue } from "../units/issues.js";
import type { Arch } from "../units/arch.js";
import { defaultTreeLimits } from "../sync/receive-tree.js";
import { runSettingsSchema, type RunSettingsInput, type RunSettingsParsed } from "./schema.js";
import { settingsInfo, type SettingKey } from "./settings.js";

export const defaultConfigFile = "kvmci.yml";

export interface LoadInput {
  /** Settings from flags, as strings/arrays the way the command line gave them. */
  flags: RunSettingsInput;
  /** Words after `--`, if any. */
  argv: string[];
  /** `--config FILE`; otherwise kvmci.yml in cwd is used if present. */
  configPath: string | undefined;
  cwd: string;
  /** `kvmci prepare` runs no command: a missing one is not a problem there. */
  commandOptional?: boolean;
  /** How a flag's name is shown in problems: `--` on the command line, `input ` in the Action. */
  flagPrefix?: string;
  /** A setting's name where it differs from its key (the Action's input `artifacts`). */
  flagNames?: Record<string, string>;
  /** Problems found before (in the Action's own inputs), reported with the rest. */
  problems?: string[];
  /** How the Action says what the CLI says with `--` and `--help`. */
  wording?: { noCommand: string; hint: string };
  /** kvmci's own environment, where `--env NAME` (no value) takes NAME's value from. */
  hostEnv?: NodeJS.ProcessEnv;
  /** kvmci's own output is a terminal (so the command gets one too, unless `tty: false`). */
  terminal?: boolean;
  /** The host's architecture: the guests' unless `arch` says otherwise (x86_64 if unknown). */
  hostArch?: Arch;
  /** The node binary running kvmci: the host's Node.js when none is on PATH. */
  nodeFallback?: string;
  /** Reads what the host trusts (its extra certificates, proxy); tests give their own. */
  readTrust?: (env: NodeJS.ProcessEnv) => Promise<HostTrust>;
}

/** Reads kvmci.yml, merges the flags over it, validates all of it, and reports every problem at once. */
export async function loadRunConfig(input: LoadInput): Promise<RunConfig> {
  const problems: string[] = [...(input.problems ?? [])];
  const flagPrefix = input.flagPrefix ?? "--";
  const configPath = input.configPath
    ? resolve(input.cwd, input.configPath)
    : resolve(input.cwd, defaultConfigFile);
  let fileSettings: RunSettingsParsed = {};
  const fileText = await readOptional(configPath);
  if (fileText === undefined && input.configPath) {
    problems.push(`--config: cannot read ${configPath}`);
  } else if (fileText !== undefined) {
    fileSettings = parseSettings(
      parseYaml(fileText, configPath, problems),
      `${relativeName(configPath, input.cwd)}: `,
      problems,
      {},
      "file",
    );
  }
  const flagSettings = parseSettings(input.flags, flagPrefix, problems, input.flagNames);
  const merged: RunSettingsParsed = { ...fileSettings, ...dropUndefined(flagSettings) };

  let command: GuestCommand | undefined;
  if (merged.guests && (input.argv.length > 0 || merged.run !== undefined)) {
    problems.push(
      "with guests:, each guest says its own run: (a command after `--`, or run: at the top, would not say which guest runs it)",
    );
    command = { argv: ["true"] };
  } else if (input.argv.length > 0) command = { argv: input.argv };
  else if (merged.run !== undefined) command = toCommand(merged.run);
  else if (input.commandOptional || merged.guests) command = { argv: ["true"] };
  else
    problems.push(
      input.wording?.noCommand ??
        `no command: give one after \`--\` (kvmci run -- npm test) or set \`run:\` in ${defaultConfigFile}`,
    );

  let userData: CloudConfig | undefined;
  if (merged["user-data"]) {
    const path = resolve(input.cwd, merged["user-data"]);
    // Say where the setting came from, like every other problem.
    const where = flagSettings["user-data"]
      ? `${flagPrefix}user-data`
      : `${relativeName(configPath, input.cwd)}: user-data`;
    const text = await readOptional(path);
    if (text === undefined) problems.push(`${where}: cannot read ${path}`);
    else {
      const parsed = parseYaml(text, path, problems);
      if (
        parsed !== undefined &&
        (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      ) {
        problems.push(
          `${where}: ${path} must be a cloud-config mapping (#cloud-config followed by keys)`,
        );
      } else userData = parsed as CloudConfig | undefined;
    }
  }

  const hostEnv = input.hostEnv ?? {};
  const node = await loadNode(merged.node ?? "auto", input, `${flagPrefix}node`, problems);
  const provision = await loadProvision(
    merged.provision,
    flagSettings,
    { configPath, cwd: input.cwd, flagPrefix },
    problems,
    node,
  );
  const network = merged.network ?? "user";
  const hostTrust =
    merged["host-trust"] !== false && network === "user"
      ? await (input.readTrust ?? readHostTrust)(hostEnv)
      : undefined;
  const locale = merged.locale ?? "C.UTF-8";

  const fromHost = (values: Record<string, string | undefined> | undefined, where: string) =>
    resolveEnv(values, input.hostEnv ?? {}, where, problems);
  const env = fromHost(merged.env, `${flagPrefix}env`);
  const matrix = buildMatrix(merged, input.hostArch ?? "x86_64", problems).map((entry) => ({
    ...entry,
    env: entry.env && fromHost(entry.env, `matrix ${entry.name}: env`),
  }));

  if (merged.guests && (merged.matrix || Array.isArray(merged.image)))
    problems.push("give guests: or several images (image: [A, B], matrix:), not both");
  if (merged.guests && Array.isArray(merged.arch) && merged.arch.length > 1)
    problems.push("with guests:, every guest has the run's one architecture (arch: A, not a list)");
  const topologySettings = merged.guests
    ? await loadTopology(merged.guests, { input, configPath, node, flagPrefix }, problems)
    : undefined;

  if (problems.length > 0 || !command) {
    throw problemsError(
      "configuration",
      problems,
      input.wording?.hint ?? "Run `kvmci run --help` for every option.",
    );
  }

  const config: RunConfig = Object.freeze({
    image: matrix[0]?.image ?? "debian-12",
    arch: matrix[0]?.arch ?? input.hostArch ?? "x86_64",
    matrix,
    parallel: merged.parallel,
    output: merged.output ?? "prefixed",
    failFast: merged["fail-fast"] ?? false,
    shard: merged.shard,
    cpus: merged.cpus ?? Math.min(2, availableParallelism()),
    memoryBytes: merged.memory ?? 2 * 1024 ** 3,
    diskBytes: merged.disk,
    accel: merged.accel ?? "auto",
    boot: merged.boot ?? "auto",
    network,
    bootTimeoutMs: merged["boot-timeout"],
    timeoutMs: merged.timeout,
    idleTimeoutMs: merged["idle-timeout"],
    workdir: merged.workdir ?? "/work",
    sync: merged.sync ?? true,
    snapshot: merged.snapshot ?? true,
    exclude: merged.exclude ?? [],
    env: env ?? {},
    baseEnv: baseCommandEnv({
      hostEnv,
      locale: locale === "none" ? undefined : locale,
      ciEnv: merged["ci-env"] ?? true,
      certificates: (hostTrust?.certificates.length ?? 0) > 0,
      proxy: hostTrust?.proxy ?? {},
    }),
    hostTrust,
    tty: (merged.tty ?? true) && (input.terminal ?? false),
    install: merged.install ?? true,
    shellOnFailure: merged["shell-on-failure"] ?? false,
    artifacts: merged.artifact ?? [],
    artifactsDir: resolve(input.cwd, merged["artifacts-dir"] ?? "kvmci-artifacts"),
    artifactsLimits: {
      maxBytes: merged["artifacts-max-size"] ?? defaultTreeLimits.maxBytes,
      maxEntries: merged["artifacts-max-files"] ?? defaultTreeLimits.maxEntries,
    },
    consoleLog: merged["console-log"] ? resolve(input.cwd, merged["console-log"]) : undefined,
    userData,
    json: merged.json ? resolve(input.cwd, merged.json) : undefined,
    mirror: merged.mirror,
    provision,
    command,
    cwd: input.cwd,
    topology: undefined,
    readyTimeoutMs: merged["ready-timeout"] ?? 5 * 60_000,
  });
  if (!topologySettings) return config;
  return Object.freeze({
    ...config,
    topology: topologySettings.map((t) => ({
      name: t.name,
      services: t.services,
      probes: t.probes,
      command: t.command,
      config: Object.freeze({
        ...config,
        image: t.image ?? config.image,
        matrix: [{ name: t.name, image: t.image ?? config.image, arch: config.arch }],
        cpus: t.cpus ?? config.cpus,
        memoryBytes: t.memoryBytes ?? config.memoryBytes,
        diskBytes: t.diskBytes ?? config.diskBytes,
        network: t.network ?? config.network,
        provision: t.provision ?? config.provision,
        env: { ...config.env, ...t.env },
        artifacts: t.artifacts ?? config.artifacts,
        artifactsDir: join(config.artifactsDir, t.name),
        consoleLog: config.consoleLog && withName(config.consoleLog, t.name),
        command: t.command ?? { argv: ["true"] },
      }),
    })),
  });
}

/** `run:` as a command: a string for bash -c, a list as an argv. Pure. */
function toCommand(run: string | string[]): GuestCommand {
  return typeof run === "string" ? { script: run } : { argv: run };
}

/** `console.log` → `console.db.log`: one file per guest of a topology. Pure. */
function withName(path: string, name: string): string {
  const ext = extname(path);
  return `${path.slice(0, path.length - ext.length)}.${name}${ext}`;
}

type GuestsSetting = NonNullable<RunSettingsParsed["guests"]>;

/** The parts of each guest's settings that differ from the run's, read and checked. */
async function loadTopology(
  guests: GuestsSetting,
  o: { input: LoadInput; configPath: string; node: NodeChoice; flagPrefix: string },
  problems: string[],
) {
  const out = [];
  for (const [name, g] of Object.entries(guests)) {
    const where = `guests.${name}`;
    const provision = g.provision
      ? await loadProvision(
          g.provision,
          {},
          { configPath: o.configPath, cwd: o.input.cwd, flagPrefix: o.flagPrefix },
          problems,
          o.node,
        )
      : undefined;
    out.push({
      name,
      image: g.image,
      cpus: g.cpus,
      memoryBytes: g.memory,
      diskBytes: g.disk,
      network: g.network,
      provision,
      env: resolveEnv(g.env, o.input.hostEnv ?? {}, `${where}.env`, problems) ?? {},
      artifacts: g.artifact,
      services: g.service ?? [],
      probes: (g.ready ?? []).map((p) =>
        p.startsWith("tcp:")
          ? { kind: "tcp" as const, port: Number(p.slice(4)) }
          : { kind: "command" as const, command: p },
      ),
      command: g.run === undefined ? undefined : toCommand(g.run),
    });
  }
  if (!out.some((g) => g.command))
    problems.push("guests: no guest has a run: command, so there is nothing to run");
  return out;
}

/**
 * The guests: `matrix:` entries, else one per image and architecture. Names are unique; with
 * more than one architecture, a guest named after its image has its architecture after it
 * (`debian-12-aarch64`).
 */
function buildMatrix(
  merged: RunSettingsParsed,
  hostArch: Arch,
  problems: string[],
): (Omit<MatrixEntry, "env"> & { env?: Record<string, string | undefined> })[] {
  const images =
    merged.image === undefined ? [] : Array.isArray(merged.image) ? merged.image : [merged.image];
  const arches =
    merged.arch === undefined ? [] : Array.isArray(merged.arch) ? merged.arch : [merged.arch];
  if (merged.matrix && images.length > 1) {
    problems.push("give several images with image: [A, B] or with matrix:, not both");
    return [];
  }
  if (merged.matrix && arches.length > 1) {
    problems.push("give several architectures with arch: [A, B] or with matrix:, not both");
    return [];
  }
  const fallbackImage = images[0] ?? "debian-12";
  const fallbackArch = arches[0] ?? hostArch;
  const entries: {
    name?: string;
    image: string;
    arch: Arch;
    cpus?: number;
    memoryBytes?: number;
    env?: Record<string, string | undefined>;
  }[] = merged.matrix
    ? merged.matrix.map((m) => ({
        name: m.name,
        image: m.image ?? fallbackImage,
        arch: m.arch ?? fallbackArch,
        cpus: m.cpus,
        memoryBytes: m.memory,
        env: m.env,
      }))
    : (images.length ? images : [fallbackImage]).flatMap((image) =>
        [...new Set(arches.length ? arches : [fallbackArch])].map((arch) => ({ image, arch })),
      );
  const severalArches = new Set(entries.map((e) => e.arch)).size > 1;
  const seen = new Map<string, number>();
  return entries.map((entry) => {
    const base =
      entry.name ??
      (severalArches
        ? `${shortImageName(entry.image)}-${entry.arch}`
        : shortImageName(entry.image));
    const count = (seen.get(base) ?? 0) + 1;
    seen.set(base, count);
    return { ...entry, name: count === 1 ? base : `${base}-${count}` };
  });
}

/** A file or URL image is named by its file name, without the extension. */
function shortImageName(image: string): string {
  const last = image.replace(/#.*$/, "").split("/").pop() ?? image;
  return image.includes("/") ? last.replace(/\.(qcow2|img|raw)$/, "") : image;
}

/**
 * The file's `provision:` with the flags over it: --provision-script replaces the script,
 * --provision-package adds packages. Script files are read now, so a missing one is reported
 * with every other problem.
 */
async function loadProvision(
  settings: RunSettingsParsed["provision"],
  flags: RunSettingsParsed,
  where: { configPath: string; cwd: string; flagPrefix: string },
  problems: string[],
  node: NodeChoice,
): Promise<Provision | undefined> {
  const packages = [
    ...(settings?.packages ?? []),
    ...(flags["provision-package"] ?? []),
    ...(node === "package" ? ["nodejs", "npm"] : []),
  ];
  let script = settings?.script;
  let scriptSource: string | undefined = script
    ? `${relativeName(where.configPath, where.cwd)}: provision.script`
    : undefined;
  const scriptFile = flags["provision-script"]
    ? {
        path: resolve(where.cwd, flags["provision-script"]),
        setting: `${where.flagPrefix}provision-script`,
      }
    : settings?.["script-file"]
      ? {
          path: resolve(dirname(where.configPath), settings["script-file"]),
          setting: `${relativeName(where.configPath, where.cwd)}: provision.script-file`,
        }
      : undefined;
  if (scriptFile) {
    script = await readOptional(scriptFile.path);
    scriptSource = scriptFile.path;
    if (script === undefined)
      problems.push(`${scriptFile.setting}: cannot read ${scriptFile.path}`);
  }
  const cloudConfig = settings?.["cloud-config"];
  const copy = typeof node === "object" ? node : undefined;
  if (packages.length === 0 && !script && !cloudConfig && !copy) return undefined;
  return { packages: [...new Set(packages)], script, scriptSource, cloudConfig, node: copy };
}

/** What `node:` comes to: nothing, the distribution's package, or an installation to copy. */
type NodeChoice = "none" | "package" | NodeInstall;

/**
 * `node:` resolved: `auto` is `host` in a Node.js project (a package.json in the folder synced)
 * and `none` elsewhere; `host` and a path are read now, so a node that is not there is a
 * problem reported with the others, before anything starts.
 */
async function loadNode(
  setting: string,
  input: LoadInput,
  where: string,
  problems: string[],
): Promise<NodeChoice> {
  if (setting === "none" || setting === "package") return setting;
  if (setting === "auto" && (await readOptional(resolve(input.cwd, "package.json"))) === undefined)
    return "none";
  const path =
    setting === "auto" || setting === "host"
      ? await findHostNode(input.hostEnv ?? {}, input.nodeFallback ?? process.execPath)
      : setting;
  try {
    return await readNodeInstall(path);
  } catch (error) {
    problems.push(
      `${where}: cannot use ${path} as the guest's Node.js (${errorMessage(error).split("\n")[0]}); give node: package for the distribution's, or node: none`,
    );
    return "none";
  }
}

/** `--env NAME` without a value takes NAME from kvmci's environment; unset is a problem. */
function resolveEnv(
  values: Record<string, string | undefined> | undefined,
  hostEnv: NodeJS.ProcessEnv,
  where: string,
  problems: string[],
): Record<string, string> | undefined {
  if (!values) return undefined;
  const resolved: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    const actual = value ?? hostEnv[name];
    if (actual === undefined)
      problems.push(
        `${where}: ${name} is not set in kvmci's environment (export it first, or give ${name}=VALUE)`,
      );
    else resolved[name] = actual;
  }
  return resolved;
}

/**
 * Each setting is checked on its own, so one bad value never hides the good ones (nor the
 * problems they lead to, such as "no command" when only `memory:` was wrong).
 */
function parseSettings(
  raw: unknown,
  prefix: string,
  problems: string[],
  names: Record<string, string> = {},
  from: "file" | "flags" = "flags",
): RunSettingsParsed {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    problems.push(`${prefix.replace(/: $/, "")}: expected settings as key: value lines`);
    return {};
  }
  const shape = runSettingsSchema.shape as Record<string, ZodType>;
  const parsed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const schema = shape[key];
    if (!schema) {
      problems.push(`${prefix}${key}: unknown setting`);
      continue;
    }
    const flagOnly = from === "file" ? fileRefusal(key) : undefined;
    if (flagOnly) {
      problems.push(`${prefix}${flagOnly}`);
      continue;
    }
    const result = schema.safeParse(value);
    if (result.success) parsed[key] = result.data;
    else
      for (const issue of result.error.issues)
        problems.push(
          `${prefix}${formatIssue({ ...issue, path: [names[key] ?? key, ...issue.path] })}`,
        );
  }
  return parsed;
}

/** Why kvmci.yml refuses a key that is a command-line shortcut, or undefined. Pure. */
export function fileRefusal(key: string): string | undefined {
  const info = Object.hasOwn(settingsInfo, key) ? settingsInfo[key as SettingKey] : undefined;
  if (!info?.flagOnly) return undefined;
  return `${key}: only a flag (--${key}); in kvmci.yml write ${info.flagOnly.inFile}`;
}

function parseYaml(text: string, path: string, problems: string[]): unknown {
  try {
    return yaml.load(text, { filename: path });
  } catch (error) {
    problems.push(
      `${path}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`,
    );
    return undefined;
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

function relativeName(path: string, cwd: string): string {
  return path.startsWith(`${cwd}/`) ? path.slice(cwd.length + 1) : path;
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
