import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import yaml from "js-yaml";
import type { ZodType } from "zod";
import { describe, expect, it } from "vitest";
import { readActionInputs } from "../../src/action/inputs.js";
import {
  doctorOptions,
  gcOptions,
  helpOnly,
  imageBuildOptions,
  imageListOptions,
  lsOptions,
  optionRows,
  parseOptions,
  runOptions,
  settingsFromFlags,
  sshOptions,
  stopOptions,
  type OptionSpec,
} from "../../src/cli/options.js";
import { imageSubcommands } from "../../src/cli/commands/image.js";
import { fileRefusal } from "../../src/config/load.js";
import { runSettingsSchema } from "../../src/config/schema.js";
import { exitCodeRows, exitCodeTable } from "../../src/errors.js";
import { loadCatalogEntry } from "../../src/image/catalog.js";
import { formatIssue } from "../../src/units/issues.js";
import { parseSize } from "../../src/units/size.js";
import {
  cellText,
  codeBlocks,
  codeSpans,
  headingAnchors,
  kvmciArgs,
  links,
  parseMark,
  prose,
  readDocs,
  repoRoot,
  shellLangs,
  shellScript,
  shellWords,
  simpleCommands,
  tables,
  withoutExpressions,
  type CodeBlock,
  type DocFile,
} from "./doc-snippets.js";

// The docs (README.md and docs/*.md) are checked against the code they describe: every command
// and YAML example parses, and the tables of exit codes, flags and Action inputs are the code's.
// Nothing here boots a guest; run-snippets.test.ts (integration) runs the blocks marked `run`.

const docs = await readDocs();
const blocks = docs.flatMap(codeBlocks).filter((b) => parseMark(b.marker).kind !== "not-run");
const where = (b: CodeBlock) => `${b.file}:${b.line}`;
const doc = (path: string): DocFile => {
  const found = docs.find((d) => d.path === path);
  if (!found) throw new Error(`${path} is missing`);
  return found;
};
const actionYml = yaml.load(await readFile(join(repoRoot, "action.yml"), "utf8")) as {
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
};
const settingSchemas = runSettingsSchema.shape as Record<string, ZodType>;

/** A value a reader substitutes (`$TOKEN`, a workflow expression) is not checked as a literal. */
const isPlaceholder = (value: unknown) => JSON.stringify(value).includes("$");

function settingProblems(key: string, value: unknown, prefix: string): string[] {
  if (isPlaceholder(value)) return [];
  const schema = settingSchemas[key];
  if (!schema) return [`${prefix}${key}: unknown setting`];
  const result = schema.safeParse(value);
  return result.success
    ? []
    : result.error.issues.map((issue) => `${prefix}${formatIssue({ ...issue, path: [key] })}`);
}

function optionProblems(args: string[], spec: OptionSpec[], min: number, max: number): string[] {
  const parsed = parseOptions(args, spec);
  const problems = [...parsed.problems];
  const count = parsed.positionals.length;
  if (parsed.values.help !== true && (count < min || count > max))
    problems.push(`expected ${min === max ? min : `${min} to ${max}`} arguments, got ${count}`);
  return problems;
}

const commandNames = ["run", "prepare", "image", "gc", "doctor"];

/** Why `kvmci <argv>` would be refused as usage, as the CLI parses it; [] when it parses. */
function argvProblems(argv: string[]): string[] {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
      return ["kvmci without a command only prints its usage"];
    case "--help":
    case "-h":
    case "help":
      return rest.length > 1 || (rest[0] !== undefined && !commandNames.includes(rest[0]))
        ? [`kvmci ${command} takes at most the name of a command`]
        : [];
    case "--version":
    case "version":
      return rest.length > 0 ? [`nothing may follow ${command}`] : [];
    case "run":
    case "prepare": {
      const parsed = parseOptions(rest, runOptions);
      const problems = [...parsed.problems];
      if (parsed.positionals.length > 0)
        problems.push(`unexpected ${parsed.positionals.join(" ")}: the command goes after --`);
      if (command === "prepare" && parsed.rest.length > 0)
        problems.push("kvmci prepare runs no command");
      for (const [key, value] of Object.entries(settingsFromFlags(parsed.values)))
        problems.push(...settingProblems(key, value, "--"));
      return problems;
    }
    case "image": {
      const [sub, ...args] = rest;
      if (sub === "--help" || sub === "help") return [];
      if (sub === undefined) return ["kvmci image needs a subcommand"];
      if (!Object.hasOwn(imageSubcommands, sub)) return [`unknown image command ${sub}`];
      const { options, positionals } = imageSubcommands[sub as keyof typeof imageSubcommands];
      return optionProblems(args, options, positionals.min, positionals.max);
    }
    case "gc": {
      const problems = optionProblems(rest, gcOptions, 0, 0);
      const maxSize = parseOptions(rest, gcOptions).values["max-size"];
      if (typeof maxSize === "string" && maxSize !== "0" && !isPlaceholder(maxSize)) {
        if (parseSize(maxSize) === undefined) problems.push(`--max-size: not a size: ${maxSize}`);
      }
      return problems;
    }
    case "doctor":
      return optionProblems(rest, doctorOptions, 0, 0);
    default:
      return [`unknown command ${command}`];
  }
}

/** Every kvmci command line in a shell script, with what is wrong with it. */
function commandProblems(script: string): { command: string; problems: string[] }[] {
  return simpleCommands(shellWords(withoutExpressions(script))).flatMap((words) => {
    const argv = kvmciArgs(words);
    return argv ? [{ command: words.join(" "), problems: argvProblems(argv) }] : [];
  });
}

const shellBlocks = blocks.filter((b) => shellLangs.has(b.lang));
const yamlBlocks = blocks.filter((b) => b.lang === "yaml" || b.lang === "yml");

interface Step {
  uses?: unknown;
  run?: unknown;
  with?: Record<string, unknown>;
}

/** The steps of a workflow (`jobs:`), or of a block that is a list of steps; else undefined. */
function workflowSteps(value: unknown): Step[] | undefined {
  const isStep = (s: unknown) => typeof s === "object" && s !== null && ("uses" in s || "run" in s);
  if (Array.isArray(value)) return value.every(isStep) ? value : undefined;
  if (typeof value !== "object" || value === null || !("jobs" in value)) return undefined;
  const jobs = (value as { jobs: Record<string, { steps?: Step[] }> }).jobs;
  return Object.values(jobs).flatMap((job) => job.steps ?? []);
}

/** What is wrong with a `uses: kvmci/kvmci@…` step: its pin, and its inputs. */
function kvmciStepProblems(step: Step): string[] {
  const problems: string[] = [];
  if (!/^kvmci\/kvmci@([0-9a-f]{40}|<full-sha>)$/.test(String(step.uses)))
    problems.push(`${String(step.uses)}: pin kvmci/kvmci to a full commit SHA`);
  const inputs = step.with ?? {};
  for (const name of Object.keys(inputs))
    if (!(name in actionYml.inputs)) problems.push(`with: ${name} is not an input of action.yml`);
  const text = (name: string) => {
    const value = inputs[name];
    if (value === undefined) return "";
    return withoutExpressions(typeof value === "string" ? value : JSON.stringify(value));
  };
  const read = readActionInputs(text, {
    workspace: "/github/workspace",
    files: { report: "/tmp/report.json", consoleLog: "/tmp/console.log" },
  });
  problems.push(...(read.load.problems ?? []));
  for (const [key, value] of Object.entries(read.load.flags))
    problems.push(...settingProblems(key, value, "with: "));
  return problems;
}

describe("the docs", () => {
  it("are README.md and the pages of docs/, with the reference moved out of the README", () => {
    expect(docs.map((d) => d.path)).toEqual(
      expect.arrayContaining([
        "README.md",
        "docs/action.md",
        "docs/architecture.md",
        "docs/cli.md",
        "docs/configuration.md",
        "docs/development.md",
        "docs/images.md",
        "docs/reliability.md",
        "docs/warm-starts.md",
      ]),
    );
    expect(existsSync(join(repoRoot, "RELIABILITY.md")), "moved to docs/reliability.md").toBe(
      false,
    );
    // The front page stays a front page.
    expect(doc("README.md").text.split("\n").length).toBeLessThanOrEqual(200);
    for (const d of docs) expect(d.text, d.path).not.toContain("<owner>/kvmci");
  });

  it("mark blocks only with marks the tests understand", () => {
    const problems = docs
      .flatMap(codeBlocks)
      .filter((b) => /^(not-)?run\b/.test(b.marker ?? ""))
      .flatMap((b) => {
        const mark = parseMark(b.marker);
        if (mark.kind === "none") return [`${where(b)}: <!-- ${b.marker} --> is not a mark`];
        if (mark.kind === "run" && !shellLangs.has(b.lang))
          return [`${where(b)}: only shell blocks can be run`];
        return [];
      });
    expect(problems).toEqual([]);
  });

  it("have a kvmci command in some shell blocks, and the Quick start's runs", () => {
    expect(shellBlocks.flatMap((b) => commandProblems(shellScript(b))).length).toBeGreaterThan(5);
    const marked = shellBlocks.filter((b) => b.file === "README.md" && b.marker?.startsWith("run"));
    expect(marked.length, "the Quick start is marked <!-- run -->").toBeGreaterThan(0);
  });
});

describe("every kvmci command in the docs parses", () => {
  const scripts = [
    ...shellBlocks.map((b) => ({ where: where(b), script: shellScript(b) })),
    // Workflow steps that run kvmci from the command line.
    ...yamlBlocks.flatMap((b) =>
      (workflowSteps(yaml.load(b.body)) ?? []).flatMap((step) =>
        typeof step.run === "string" ? [{ where: where(b), script: step.run }] : [],
      ),
    ),
  ];
  it.each(scripts)("$where", ({ script }) => {
    const found = commandProblems(script)
      .filter((c) => c.problems.length > 0)
      .map((c) => `${c.command}: ${c.problems.join("; ")}`);
    expect(found).toEqual([]);
  });
});

describe("every YAML block parses, and is what it says", () => {
  it.each(yamlBlocks.map((b) => ({ where: where(b), block: b })))("$where", async ({ block }) => {
    const value: unknown = yaml.load(block.body);
    expect(value, "an empty block").toBeDefined();
    const steps = workflowSteps(value);
    if (steps) {
      const problems = steps
        .filter((s) => typeof s.uses === "string" && s.uses.startsWith("kvmci/"))
        .flatMap(kvmciStepProblems);
      expect(problems).toEqual([]);
      return;
    }
    if (block.body.startsWith("#cloud-config")) {
      expect(typeof value === "object" && value !== null && !Array.isArray(value)).toBe(true);
      return;
    }
    if (typeof value === "object" && value !== null && "kind" in value) {
      // A catalog entry: loaded the way KVMCI_CATALOG folders are.
      const name = String((value as { name?: unknown }).name);
      const dir = await mkdtemp(join(tmpdir(), "kvmci-docs-catalog-"));
      try {
        await writeFile(join(dir, `${name}.yml`), block.body);
        const arch = (value as { arch?: unknown }).arch;
        expect(
          await loadCatalogEntry(name, arch === "aarch64" ? arch : "x86_64", [dir]),
        ).toMatchObject({ name });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      return;
    }
    // Otherwise it is kvmci.yml, or a part of one.
    expect(typeof value === "object" && value !== null && !Array.isArray(value)).toBe(true);
    const problems = Object.entries(value as object).flatMap(([key, v]) => {
      const refused = fileRefusal(key);
      return refused ? [`kvmci.yml: ${refused}`] : settingProblems(key, v, "kvmci.yml: ");
    });
    expect(problems).toEqual([]);
  });
});

describe("the reference tables are the code's", () => {
  const cli = doc("docs/cli.md");
  const table = (d: DocFile, first: string) => {
    const found = tables(d.text).filter((t) => t.header[0] === first);
    expect(found, `${d.path}: one table headed "${first}"`).toHaveLength(1);
    return found[0]!;
  };

  it("docs/cli.md: the exit codes are exitCodeTable", () => {
    const [code, meaning] = exitCodeRows()[0]!;
    const rows = table(cli, "code").rows.map((r) => r.map(cellText));
    expect(rows).toEqual([
      [code.replace("-", "–"), meaning],
      ...exitCodeTable.map((e) => [String(e.code), e.meaning]),
    ]);
  });

  it("docs/cli.md: the options of kvmci run are exactly its flags, as --help shows them", () => {
    const documented = table(cli, "option").rows.map((r) => cellText(r[0] ?? ""));
    const flags = optionRows(runOptions).map(([flag]) => flag);
    expect([...documented].sort()).toEqual([...flags].sort());
  });

  it("docs/cli.md: every flag named in the text exists", () => {
    const known = new Set(
      [
        runOptions,
        imageBuildOptions,
        imageListOptions,
        gcOptions,
        doctorOptions,
        lsOptions,
        sshOptions,
        stopOptions,
        helpOnly,
      ]
        .flat()
        .map((o) => o.name),
    );
    known.add("version");
    const named = [...prose(cli.text).matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)].map((m) => m[1]!);
    expect(named.filter((n) => !known.has(n))).toEqual([]);
  });

  it("docs/configuration.md: the settings are exactly the schema's keys", () => {
    const keys = table(doc("docs/configuration.md"), "key").rows.flatMap((r) =>
      codeSpans(r[0] ?? ""),
    );
    expect([...keys].sort()).toEqual(Object.keys(runSettingsSchema.shape).sort());
  });

  it("docs/action.md: the inputs and outputs are exactly action.yml's", () => {
    const action = doc("docs/action.md");
    const names = (first: string) =>
      table(action, first)
        .rows.flatMap((r) => codeSpans(r[0] ?? ""))
        .sort();
    expect(names("input")).toEqual(Object.keys(actionYml.inputs).sort());
    expect(names("output")).toEqual(Object.keys(actionYml.outputs).sort());
  });
});

describe("links between the docs", () => {
  const files = [...docs.map((d) => d.path), "CHANGELOG.md"];
  it.each(files)("%s: every relative link and anchor exists", async (path) => {
    const text = await readFile(join(repoRoot, path), "utf8");
    const broken: string[] = [];
    for (const { line, target } of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      const [file = "", anchor] = target.split("#");
      const resolved = file ? posix.normalize(posix.join(dirname(path), file)) : path;
      if (!existsSync(join(repoRoot, resolved))) {
        broken.push(`${path}:${line}: ${target}: no such file`);
        continue;
      }
      if (anchor === undefined) continue;
      const anchors = resolved.endsWith(".md")
        ? headingAnchors(await readFile(join(repoRoot, resolved), "utf8"))
        : new Set<string>();
      if (!anchors.has(anchor)) broken.push(`${path}:${line}: ${target}: no such heading`);
    }
    expect(broken).toEqual([]);
  });
});
