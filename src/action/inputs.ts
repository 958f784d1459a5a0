import { resolve } from "node:path";
import yaml from "js-yaml";
import type { LoadInput } from "../config/load.js";
import { settingsInfo, type SettingKey } from "../config/settings.js";

/** Inputs of the Action's own, which are not settings of `kvmci run`. */
export const actionOnlyInputs = ["junit", "config", "working-directory", "cache"] as const;

/** The settings that are also the Action's inputs, with the input's name and form. */
export const settingInputs = (
  Object.entries(settingsInfo) as [SettingKey, (typeof settingsInfo)[SettingKey]][]
).flatMap(([key, info]) =>
  info.input ? [{ key, name: info.input.name ?? key, form: info.input.form }] : [],
);

/** Every input action.yml declares: the settings' and the Action's own (checked by a test). */
export const actionInputs: string[] = [...settingInputs.map((i) => i.name), ...actionOnlyInputs];

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
  get: (name: string) => string,
  o: { workspace: string; files: { report: string; consoleLog: string } },
): ActionSettings {
  const problems: string[] = [];
  const text = (name: string) => get(name).trim() || undefined;
  const lines = (name: string) => {
    const list = get(name)
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    return list.length ? list : undefined;
  };
  const boolean = (name: string) => {
    const value = text(name);
    if (value === undefined) return undefined;
    if (/^(true|yes|on)$/i.test(value)) return true;
    if (/^(false|no|off)$/i.test(value)) return false;
    problems.push(`input ${name}: expected true or false, got ${JSON.stringify(value)}`);
    return undefined;
  };

  const flags: Record<string, unknown> = {};
  for (const { key, name, form } of settingInputs) {
    switch (form) {
      case "text":
        flags[key] = text(name);
        break;
      case "list": {
        const list = lines(name);
        // One line is one value, as in kvmci.yml (`image: debian-12`); several are a list.
        flags[key] =
          list && list.length === 1 && (key === "image" || key === "arch") ? list[0] : list;
        break;
      }
      case "boolean":
        flags[key] = boolean(name);
        break;
      case "yaml": {
        const source = text(name);
        if (!source) break;
        try {
          flags[key] = yaml.load(source);
        } catch (error) {
          problems.push(`input ${name}: ${(error as Error).message.split("\n")[0]}`);
        }
        break;
      }
    }
  }

  const junitText = text("junit");
  const junitBad = junitText && (junitText.startsWith("/") || junitText.split("/").includes(".."));
  const junit = junitBad ? undefined : junitText;
  if (junitBad)
    problems.push(
      `input junit: expected a path relative to the working directory in the guest, got ${JSON.stringify(junitText)}`,
    );
  // The JUnit file comes back with the artifacts.
  if (junit) flags.artifact = [...((flags.artifact as string[] | undefined) ?? []), junit];
  flags.json = o.files.report;
  flags["console-log"] = o.files.consoleLog;
  return {
    load: {
      flags: Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)),
      argv: [],
      configPath: text("config"),
      cwd: resolve(o.workspace, text("working-directory") ?? "."),
      flagPrefix: "input ",
      flagNames: Object.fromEntries(settingInputs.map((i) => [i.key, i.name])),
      problems,
      wording: {
        noCommand: "no command: set the input run, or run: in kvmci.yml",
        hint: "The inputs are listed in docs/action.md and in action.yml.",
      },
    },
    junit,
    cache: boolean("cache") ?? true,
  };
}
