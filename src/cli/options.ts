import { parseArgs } from "node:util";
import type { RunSettingsInput } from "../config/schema.js";
import { settingsInfo, type SettingKey } from "../config/settings.js";
import { closestNames, didYouMean } from "../units/similar-names.js";
import type { HelpRow } from "./help.js";

export interface OptionSpec {
  name: string;
  type: "string" | "boolean";
  multiple?: boolean;
  value?: string;
  /** A switch that may also take a value inline: `--keep` or `--keep=30m`. */
  inlineValue?: boolean;
  help: string;
}

/**
 * The command line's options of `kvmci run` and `kvmci prepare` that are not settings: where
 * the settings come from, and how much kvmci itself says. None of them is a key of kvmci.yml.
 */
const runOnlyOptions: OptionSpec[] = [
  {
    name: "keep",
    type: "boolean",
    inlineValue: true,
    value: "[=DURATION]",
    help: "leave the guest running after the run, for DURATION (default 1h, at most 7d); it stops by itself then. kvmci prints its name: kvmci ssh NAME, kvmci ls, kvmci stop NAME",
  },
  {
    name: "config",
    type: "string",
    value: "FILE",
    help: "read settings from FILE instead of ./kvmci.yml",
  },
  {
    name: "verbose",
    type: "boolean",
    help: "also show what is usually hidden: each host command kvmci starts (QEMU, qemu-img, tar, git…) and each step of a long phase",
  },
  {
    name: "quiet",
    type: "boolean",
    help: "show only the command's output, warnings, errors and the last line",
  },
  { name: "help", type: "boolean", help: "show this help" },
];

/** `kvmci run` flags: made from the settings table, so a flag's name is its kvmci.yml key. */
export const runOptions: OptionSpec[] = [
  ...(Object.entries(settingsInfo) as [SettingKey, (typeof settingsInfo)[SettingKey]][]).flatMap(
    ([key, info]): OptionSpec[] => {
      const form = info.flag;
      switch (form.kind) {
        case "value":
          return [
            {
              name: key,
              type: "string",
              value: form.value,
              help: info.help,
              ...(form.multiple ? { multiple: true } : {}),
            },
          ];
        case "switch":
          return [{ name: key, type: "boolean", help: info.help }];
        case "negated":
          return [{ name: form.flag, type: "boolean", help: info.help }];
        case "none":
          return [];
      }
    },
  ),
  ...runOnlyOptions,
];

/** The settings the flags give, as kvmci.yml would give them (only those given). Pure. */
export function settingsFromFlags(values: ParsedOptions["values"]): RunSettingsInput {
  const settings: Record<string, unknown> = {};
  for (const [key, info] of Object.entries(settingsInfo)) {
    const form = info.flag;
    if (form.kind === "value") {
      const value = values[key];
      if (form.multiple) {
        if (Array.isArray(value) && value.length > 0) settings[key] = value.map(String);
      } else if (typeof value === "string") settings[key] = value;
    } else if (form.kind === "switch" && values[key] === true) settings[key] = true;
    else if (form.kind === "negated" && values[form.flag] === true) settings[key] = false;
  }
  return settings;
}

/** `--arch` of `kvmci image build` and `pull`: which architecture's entry to fetch or build. */
const imageArchOption: OptionSpec = {
  name: "arch",
  type: "string",
  value: "x86_64|aarch64",
  help: "the architecture to build or download the image for (default the host's)",
};

export const imagePullOptions: OptionSpec[] = [
  imageArchOption,
  { name: "help", type: "boolean", help: "show this help" },
];

export const imageBuildOptions: OptionSpec[] = [
  imageArchOption,
  {
    name: "mirror",
    type: "string",
    value: "URL",
    help: "Debian mirror to build from (default: the host's APT mirror)",
  },
  { name: "force", type: "boolean", help: "build again even if the image is cached" },
  { name: "help", type: "boolean", help: "show this help" },
];

export const imageListOptions: OptionSpec[] = [
  { name: "available", type: "boolean", help: "list the catalog instead of the cache" },
  {
    name: "json",
    type: "boolean",
    help: "print the list as JSON (sizes in bytes, times in ISO 8601) for scripts",
  },
  { name: "help", type: "boolean", help: "show this help" },
];

export const doctorOptions: OptionSpec[] = [
  {
    name: "json",
    type: "boolean",
    help: "print the checks as JSON for scripts (the exit code is the same)",
  },
  { name: "help", type: "boolean", help: "show this help" },
];

export const gcOptions: OptionSpec[] = [
  {
    name: "max-size",
    type: "string",
    value: "SIZE",
    help: "also remove least recently used images until the cache is at most SIZE (e.g. 10G)",
  },
  { name: "dry-run", type: "boolean", help: "say what would be removed, remove nothing" },
  { name: "help", type: "boolean", help: "show this help" },
];

export const helpOnly: OptionSpec[] = [{ name: "help", type: "boolean", help: "show this help" }];

export interface ParsedOptions {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** Words after `--`. */
  rest: string[];
  problems: string[];
}

/** Parses argv against a spec and collects every problem instead of stopping at the first. */
export function parseOptions(argv: string[], spec: OptionSpec[]): ParsedOptions {
  const dashDash = argv.indexOf("--");
  const own = dashDash === -1 ? argv : argv.slice(0, dashDash);
  const rest = dashDash === -1 ? [] : argv.slice(dashDash + 1);
  const options = Object.fromEntries(
    spec.map((o) => [o.name, { type: o.type, multiple: o.multiple ?? false }]),
  );
  const { values, tokens } = parseArgs({
    args: own,
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const problems: string[] = [];
  const known = new Map(spec.map((o) => [o.name, o]));
  // The word after a mistyped option that takes a value is its value, not a stray word.
  const valuesOfTypos = new Set<number>();
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const option = known.get(token.name);
    if (!option) {
      const close = closestNames(token.name, [...known.keys()]);
      const hint = didYouMean(token.name, [...known.keys()], (name) => `--${name}`);
      problems.push(`${token.rawName}: unknown option${hint ? ` (${hint})` : ""}`);
      const next = tokens.find((t) => t.index === token.index + 1);
      if (
        token.inlineValue === undefined &&
        next?.kind === "positional" &&
        known.get(close[0] ?? "")?.type === "string"
      )
        valuesOfTypos.add(next.index);
    } else if (option.type === "string" && token.value === undefined) {
      problems.push(`${token.rawName}: expected a value (${option.value ?? "VALUE"})`);
    } else if (
      option.type === "boolean" &&
      token.value !== undefined &&
      token.inlineValue &&
      !option.inlineValue
    ) {
      problems.push(`${token.rawName}: takes no value`);
    }
  }
  return {
    values,
    positionals: tokens.flatMap((t) =>
      t.kind === "positional" && !valuesOfTypos.has(t.index) ? [t.value] : [],
    ),
    rest,
    problems,
  };
}

/** The words a command takes besides its options: how many, and what they are. */
export interface Positionals {
  min: number;
  max: number;
  /** What is missing when there are too few, as in "an image name or URL". */
  what: string;
  /** A command line that gives them. */
  example: string;
}

/** What is wrong with a command's words: too few, or too many. Pure. */
export function positionalProblems(words: string[], expected: Positionals): string[] {
  if (words.length < expected.min)
    return [`expected ${expected.what}, as in \`${expected.example}\``];
  if (words.length > expected.max)
    return [
      `unexpected ${words
        .slice(expected.max)
        .map((w) => JSON.stringify(w))
        .join(" ")}`,
    ];
  return [];
}

/** A command that takes no words besides its options. */
export function noWords(example: string): Positionals {
  return { min: 0, max: 0, what: "nothing", example };
}

/** The options as rows of `--help`: the flag (with its value) and what it does. Pure. */
export function optionRows(spec: OptionSpec[]): HelpRow[] {
  return spec.map((o) => [
    `--${o.name}${o.value ? `${o.value.startsWith("[") ? "" : " "}${o.value}` : ""}`,
    o.help,
  ]);
}

/** `kvmci ls`, `kvmci ssh`, `kvmci stop`: kept guests. */
export const lsOptions: OptionSpec[] = [
  { name: "json", type: "boolean", help: "print the list as JSON" },
  ...helpOnly,
];
export const sshOptions: OptionSpec[] = [
  {
    name: "print",
    type: "boolean",
    help: "print an OpenSSH command line (with a known-hosts file holding exactly the guest's key) instead of connecting",
  },
  ...helpOnly,
];
export const stopOptions: OptionSpec[] = [
  { name: "all", type: "boolean", help: "stop every kept guest" },
  ...helpOnly,
];
