import { resolve } from "node:path";
import yaml from "js-yaml";
import type { LoadInput } from "../config/load.js";
import type { RunSettingsInput } from "../config/schema.js";

/** The Action's inputs, as action.yml declares them. Each mirrors a `kvmci run` option. */
export const actionInputs = [
  "image",
  "run",
  "provision",
  "cpus",
  "memory",
  "disk",
  "accel",
  "network",
  "timeout",
  "boot-timeout",
  "env",
  "artifacts",
  "junit",
  "config",
  "working-directory",
  "snapshot",
  "cache",
] as const;

export type ActionInputName = (typeof actionInputs)[number];

export interface ActionSettings {
  /** For loadRunConfig: the inputs as flags, and the problems of the inputs themselves. */
  load: LoadInput;
  /** A JUnit XML file the command writes, relative to the workdir in the guest. */
  junit: string | undefined;
  /** Keep images, prepared images and snapshots in the Actions cache between workflow runs. */
  cache: boolean;
}

/**
 * Reads the inputs (`get` returns "" for one not given) into the same settings the command line
 * gives, plus the Action's own. Problems are collected, never thrown: they are reported together
 * with the configuration's. `files` are where the run's report and console copy go. Pure.
 */
export function readActionInputs(
  get: (name: ActionInputName) => string,
  o: { workspace: string; files: { report: string; consoleLog: string } },
): ActionSettings {
  const problems: string[] = [];
  const text = (name: ActionInputName) => get(name).trim() || undefined;
  const lines = (name: ActionInputName) => {
    const list = get(name)
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    return list.length ? list : undefined;
  };
  const boolean = (name: ActionInputName, fallback: boolean) => {
    const value = text(name);
    if (value === undefined) return fallback;
    if (/^(true|yes|on)$/i.test(value)) return true;
    if (/^(false|no|off)$/i.test(value)) return false;
    problems.push(`input ${name}: expected true or false, got ${JSON.stringify(value)}`);
    return fallback;
  };
  let provision: unknown;
  const provisionText = text("provision");
  if (provisionText) {
    try {
      provision = yaml.load(provisionText);
    } catch (error) {
      problems.push(`input provision: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  const junitText = text("junit");
  const junitBad = junitText && (junitText.startsWith("/") || junitText.split("/").includes(".."));
  const junit = junitBad ? undefined : junitText;
  if (junitBad)
    problems.push(
      `input junit: expected a path relative to the working directory in the guest, got ${JSON.stringify(junitText)}`,
    );
  const artifacts = [...(lines("artifacts") ?? []), ...(junit ? [junit] : [])];
  const snapshot = boolean("snapshot", true);
  const flags: RunSettingsInput = {
    // One image per line: one guest each, at once (see planGuests).
    image: (() => {
      const images = lines("image");
      return images && images.length > 1 ? images : images?.[0];
    })(),
    run: text("run"),
    provision: provision as RunSettingsInput["provision"],
    cpus: text("cpus"),
    memory: text("memory"),
    disk: text("disk"),
    accel: text("accel") as RunSettingsInput["accel"],
    network: text("network") as RunSettingsInput["network"],
    timeout: text("timeout"),
    "boot-timeout": text("boot-timeout"),
    env: lines("env"),
    artifact: artifacts.length ? artifacts : undefined,
    snapshot: snapshot ? undefined : false,
    json: o.files.report,
    "console-log": o.files.consoleLog,
  };
  return {
    load: {
      flags: Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)),
      argv: [],
      configPath: text("config"),
      cwd: resolve(o.workspace, text("working-directory") ?? "."),
      flagPrefix: "input ",
      problems,
      wording: {
        noCommand: "no command: set the input run, or run: in kvmci.yml",
        hint: "The inputs are listed in the README's GitHub Action section and in action.yml.",
      },
    },
    junit,
    cache: boolean("cache", true),
  };
}
