import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";
import { z } from "zod";
import { formatIssue } from "../units/issues.js";
import { KvmciError } from "../errors.js";
import { parseRecipe, type Recipe } from "./recipe.js";

/** The `images/` folder shipped with kvmci. */
// From dist/cli.js or dist/main.js (the bundled CLI and Action), or src/image/catalog.ts (tests).
export const builtinCatalogDir =
  ["../images/", "../../images/"]
    .map((relative) => fileURLToPath(new URL(relative, import.meta.url)))
    .find((dir) => existsSync(join(dir, "debian-12.yml"))) ??
  fileURLToPath(new URL("../images/", import.meta.url));

const namePattern = /^[a-z0-9][a-z0-9.-]*$/;

const httpUrl = z
  .string()
  .refine((s) => /^https?:\/\/[^/\s]+\/\S+$/.test(s), "expected an http:// or https:// URL");

const downloadSchema = z
  .object({
    kind: z.literal("download"),
    name: z.string().regex(namePattern),
    description: z.string().min(1),
    arch: z.literal("x86_64"),
    /** The disk image itself. */
    url: httpUrl,
    /** The distribution's published checksum list (SHA256SUMS, SHA512SUMS or CHECKSUM). */
    checksums: httpUrl,
    format: z.enum(["qcow2", "raw"]),
    /** The account cloud-init configures by default; kvmci logs in as this user. */
    user: z.string().regex(/^[a-z_][a-z0-9_-]*$/),
    /** How the image boots: `bios` (SeaBIOS and the image's own bootloader). */
    boot: z.literal("bios"),
  })
  .strict();

/** An official cloud image: downloaded, verified against its published checksum, cached. */
export type DownloadEntry = z.infer<typeof downloadSchema> & { file: string };

export type CatalogEntry = Recipe | DownloadEntry;

/**
 * The folders searched for catalog entries, first match wins: those named in `KVMCI_CATALOG`
 * (colon-separated, for an organisation's own images or mirrors), then kvmci's own.
 */
export function catalogDirs(env: NodeJS.ProcessEnv): string[] {
  const extra = (env.KVMCI_CATALOG ?? "").split(":").filter((d) => d !== "");
  return [...extra, builtinCatalogDir];
}

export async function loadCatalogEntry(
  name: string,
  dirs: string[],
): Promise<CatalogEntry | undefined> {
  if (!namePattern.test(name)) return undefined;
  for (const dir of dirs) {
    const file = join(dir, `${name}.yml`);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch {
      continue;
    }
    return parseCatalogEntry(text, file, dir !== builtinCatalogDir);
  }
  return undefined;
}

/** Every entry, sorted by name; an entry in an earlier folder hides one of the same name. */
export async function listCatalog(dirs: string[]): Promise<CatalogEntry[]> {
  const seen = new Map<string, CatalogEntry>();
  for (const dir of dirs) {
    let files: string[];
    try {
      files = await readdir(dir);
    } catch {
      continue;
    }
    for (const file of files.filter((f) => f.endsWith(".yml")).sort()) {
      const name = file.slice(0, -4);
      if (seen.has(name)) continue;
      const entry = await loadCatalogEntry(name, [dir]);
      if (entry) seen.set(name, entry);
    }
  }
  return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export async function listCatalogNames(dirs: string[]): Promise<string[]> {
  const names = new Set<string>();
  for (const dir of dirs) {
    try {
      for (const f of await readdir(dir)) if (f.endsWith(".yml")) names.add(f.slice(0, -4));
    } catch {
      // a KVMCI_CATALOG folder that does not exist holds nothing
    }
  }
  return [...names].sort();
}

async function parseCatalogEntry(
  text: string,
  file: string,
  usersOwn: boolean,
): Promise<CatalogEntry> {
  let problems: string[];
  const data: unknown = yaml.load(text, { filename: file });
  const kind = (data as { kind?: unknown } | null)?.kind;
  if (kind === "recipe") {
    const customizeFile = join(file.slice(0, -4), "customize.sh");
    const customize = await readFile(customizeFile, "utf8").catch(() => undefined);
    if (customize === undefined) {
      problems = [`${customizeFile}: missing (a recipe's customize hook)`];
    } else {
      const recipe = parseRecipe(text, customize, customizeFile);
      if (!("problems" in recipe)) return checkName(recipe, file);
      problems = recipe.problems;
    }
  } else if (kind === "download") {
    const parsed = downloadSchema.safeParse(data);
    if (parsed.success) return checkName({ ...parsed.data, file }, file);
    problems = parsed.error.issues.map(formatIssue);
  } else {
    problems = [`kind: expected "download" or "recipe", got ${JSON.stringify(kind)}`];
  }
  throw new KvmciError(usersOwn ? "usage" : "internal", `Invalid catalog entry ${file}`, {
    details: problems,
    hint: usersOwn
      ? "Fix the entry (see images/ in kvmci for examples), or remove its folder from KVMCI_CATALOG."
      : undefined,
  });
}

function checkName<T extends CatalogEntry>(entry: T, file: string): T {
  if (`${entry.name}.yml` !== basename(file)) {
    throw new KvmciError("usage", `Invalid catalog entry ${file}`, {
      details: [`name: ${JSON.stringify(entry.name)} must match the file name`],
    });
  }
  return entry;
}
