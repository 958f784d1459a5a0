import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Reading the docs as data: README.md and docs/*.md, their fenced blocks (with the HTML comment
 * that marks one, if any), the commands in shell blocks as words, their tables and headings.
 * Used by snippets.test.ts (unit: everything parses) and run-snippets.test.ts (integration:
 * marked blocks run). Pure, but for reading the files.
 */

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

export interface DocFile {
  /** Relative to the repository, with `/`. */
  path: string;
  text: string;
}

/** README.md, then every page of docs/, by name. */
export async function readDocs(): Promise<DocFile[]> {
  const pages = (await readdir(join(repoRoot, "docs"))).filter((f) => f.endsWith(".md")).sort();
  return Promise.all(
    ["README.md", ...pages.map((p) => `docs/${p}`)].map(async (path) => ({
      path,
      text: await readFile(join(repoRoot, path), "utf8"),
    })),
  );
}

export interface CodeBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  body: string;
  /** The text of an HTML comment just before the fence (blank lines between allowed). */
  marker: string | undefined;
}

const fenceOpen = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/;

/** Every fenced code block of a Markdown text, indented ones (in list items) included. */
export function codeBlocks(file: DocFile): CodeBlock[] {
  const lines = file.text.split("\n");
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = fenceOpen.exec(lines[i] ?? "");
    if (!open) continue;
    const [, indent = "", fence = "", lang = ""] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j] ?? "";
      const trimmed = line.trim();
      if (trimmed.startsWith(fence) && /^(`+|~+)$/.test(trimmed) && trimmed[0] === fence[0]) break;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    blocks.push({
      file: file.path,
      line: i + 1,
      lang: lang.toLowerCase(),
      body: body.join("\n"),
      marker: markerBefore(lines, i),
    });
    i = j;
  }
  return blocks;
}

function markerBefore(lines: string[], fenceIndex: number): string | undefined {
  for (let k = fenceIndex - 1; k >= 0; k--) {
    const line = (lines[k] ?? "").trim();
    if (line === "") continue;
    return /^<!--\s*(.*?)\s*-->$/.exec(line)?.[1];
  }
  return undefined;
}

/** The Markdown text outside fenced blocks (each fenced line blanked, so lines keep numbers). */
export function prose(text: string): string {
  const lines = text.split("\n");
  let fence: string | undefined;
  return lines
    .map((line) => {
      const trimmed = line.trim();
      if (fence) {
        if (trimmed.startsWith(fence) && /^(`+|~+)$/.test(trimmed)) fence = undefined;
        return "";
      }
      const open = fenceOpen.exec(line);
      if (open) {
        fence = open[2];
        return "";
      }
      return line;
    })
    .join("\n");
}

export const shellLangs = new Set(["sh", "bash", "shell", "console"]);

export type Mark = { kind: "run"; exit: number } | { kind: "not-run" } | { kind: "none" };

/** `<!-- run -->`, `<!-- run exit=3 -->`, `<!-- not-run -->`; anything else is no mark. */
export function parseMark(marker: string | undefined): Mark {
  if (marker === undefined) return { kind: "none" };
  if (/^not-run\b/.test(marker)) return { kind: "not-run" };
  const run = /^run(?:\s+exit=(\d+))?\s*$/.exec(marker);
  if (run) return { kind: "run", exit: Number(run[1] ?? 0) };
  return { kind: "none" };
}

/**
 * The shell script a block holds: for `console` blocks the lines after a `$ ` prompt (output
 * lines dropped), for the others every line. Lines ending in `\` continue.
 */
export function shellScript(block: Pick<CodeBlock, "lang" | "body">): string {
  if (block.lang !== "console") return block.body;
  const commands: string[] = [];
  let continuing = false;
  for (const line of block.body.split("\n")) {
    if (continuing) commands.push(line);
    else if (line.startsWith("$ ")) commands.push(line.slice(2));
    else continue;
    continuing = line.endsWith("\\");
  }
  return commands.join("\n");
}

/** A GitHub expression (`${{ matrix.shard }}`) as one word that is plainly not a literal. */
export function withoutExpressions(text: string): string {
  return text.replace(/\$\{\{[^}]*\}\}/g, "$GITHUB_EXPRESSION");
}

export const operators = new Set(["&&", "||", ";", "|", "&", "(", ")", "\n"]);

/**
 * Splits a POSIX shell script into words and operators (a newline is an operator): quotes and
 * backslashes as the shell reads them, `#` comments dropped, `$VAR` kept as written. Enough for
 * the commands in the docs; no here-documents.
 */
export function shellWords(script: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  const end = () => {
    if (word !== undefined) words.push(word);
    word = undefined;
  };
  for (let i = 0; i < script.length; i++) {
    const c = script[i]!;
    if (c === "\\") {
      const next = script[i + 1];
      i++;
      if (next === "\n") continue;
      word = (word ?? "") + (next ?? "");
    } else if (c === "'") {
      const close = script.indexOf("'", i + 1);
      if (close === -1) throw new Error(`unterminated ' in: ${script}`);
      word = (word ?? "") + script.slice(i + 1, close);
      i = close;
    } else if (c === '"') {
      let text = "";
      for (i++; i < script.length && script[i] !== '"'; i++) {
        if (script[i] === "\\" && '"\\$`'.includes(script[i + 1] ?? "")) i++;
        text += script[i];
      }
      if (i >= script.length) throw new Error(`unterminated " in: ${script}`);
      word = (word ?? "") + text;
    } else if (c === "#" && word === undefined) {
      while (i + 1 < script.length && script[i + 1] !== "\n") i++;
    } else if (c === "\n") {
      end();
      words.push("\n");
    } else if (c === " " || c === "\t") {
      end();
    } else if (c === "&" && word !== undefined && /[<>]$/.test(word)) {
      // A redirection like 2>&1 is part of a word, not an operator.
      word += c;
    } else if ("&|;()".includes(c)) {
      end();
      const two = script.slice(i, i + 2);
      if (two === "&&" || two === "||") {
        words.push(two);
        i++;
      } else words.push(c);
    } else {
      word = (word ?? "") + c;
    }
  }
  end();
  return words;
}

/** The simple commands of a script: its words between operators. */
export function simpleCommands(words: string[]): string[][] {
  const commands: string[][] = [[]];
  for (const word of words) {
    if (operators.has(word)) commands.push([]);
    else commands[commands.length - 1]!.push(word);
  }
  return commands.filter((c) => c.length > 0);
}

const assignment = /^[A-Za-z_][A-Za-z0-9_]*=/;

/**
 * The arguments kvmci gets from a simple command that runs it (`kvmci …`, `sudo kvmci …`,
 * `npx kvmci …`, `node …/bin/kvmci.js …`, with variable assignments before), or undefined when
 * it runs something else (`npm unlink -g kvmci` does not run kvmci).
 */
export function kvmciArgs(command: string[]): string[] | undefined {
  let i = 0;
  const skipAssignments = () => {
    while (assignment.test(command[i] ?? "")) i++;
  };
  skipAssignments();
  while (["sudo", "npx", "exec", "env"].includes(command[i] ?? "")) {
    i++;
    while ((command[i] ?? "").startsWith("-")) i++;
    skipAssignments();
  }
  if (command[i] === "kvmci") return command.slice(i + 1);
  if (command[i] === "node" && /(^|\/)bin\/kvmci\.js$/.test(command[i + 1] ?? ""))
    return command.slice(i + 2);
  return undefined;
}

export interface Table {
  line: number;
  header: string[];
  rows: string[][];
}

/** The cells of a table row: split at `|` that is not escaped; `\|` becomes `|`. */
function cells(row: string): string[] {
  const inner = row.trim().replace(/^\|/, "").replace(/\|$/, "");
  return inner.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
}

/** Every pipe table outside fenced blocks. */
export function tables(text: string): Table[] {
  const lines = prose(text).split("\n");
  const found: Table[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    const header = lines[i] ?? "";
    const rule = lines[i + 1] ?? "";
    if (!header.trim().startsWith("|") || !/^\s*\|[\s:|-]+\|\s*$/.test(rule)) continue;
    const rows: string[][] = [];
    let j = i + 2;
    for (; j < lines.length && (lines[j] ?? "").trim().startsWith("|"); j++)
      rows.push(cells(lines[j] ?? ""));
    found.push({ line: i + 1, header: cells(header), rows });
    i = j;
  }
  return found;
}

/** The text of a cell as it reads: backticks and link targets removed. */
export function cellText(cell: string): string {
  return cell.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/`/g, "");
}

/** The inline-code spans of a cell: `` `image` `` and `` `cpus`, `memory` `` give their names. */
export function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}

/** The anchors GitHub makes for the headings of a Markdown text (outside fenced blocks). */
export function headingAnchors(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of prose(text).split("\n")) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = heading
      .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Every `[text](target)` link outside fenced blocks, with its line. */
export function links(text: string): { line: number; target: string }[] {
  const found: { line: number; target: string }[] = [];
  prose(text)
    .split("\n")
    .forEach((line, i) => {
      // Inline code cannot hold a link.
      const visible = line.replace(/`[^`]*`/g, "");
      for (const m of visible.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g))
        found.push({ line: i + 1, target: m[1]! });
    });
  return found;
}
