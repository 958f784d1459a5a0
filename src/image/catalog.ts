import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";
import { z } from "zod";
import { formatIssue } from "../units/issues.js";
import { KvmciError } from "../errors.js";
import { arches, type Arch } from "../units/arch.js";
import { parseRecipe, recipeHookPaths, type Recipe, type RecipeHook } from "./recipe.js";

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
    arch: z.enum(arches),
    /** The disk image itself. */
    url: httpUrl,
    /** The distribution's published checksum list (SHA256SUMS, SHA512SUMS or CHECKSUM). */
    checksums: httpUrl,
    format: z.enum(["qcow2", "raw"]),
    /** The account cloud-init configures by default; kvmci logs in as this user. */
    user: z.string().regex(/^[a-z_][a-z0-9_-]*$/),
    /**
     * How the image boots: `bios` (SeaBIOS and the image's own bootloader) on x86_64, `uefi`
     * (UEFI firmware and the image's own EFI bootloader) on aarch64.
     */
    boot: z.enum(["bios", "uefi"]),
  })
  .strict()
  .refine((e) => e.boot === (e.arch === "x86_64" ? "bios" : "uefi"), {
    message: "expected boot: bios for x86_64 and boot: uefi for aarch64 (how kvmci boots each)",
    path: ["boot"],
  });

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

/**
 * The catalog entry for an image name on an architecture, if any. An entry is in a file
 * `<name>.<arch>.yml`, or `<name>.yml` for whichever architecture it declares; the folders are
 * searched in order and the first entry for that name and architecture wins.
 */
export async function loadCatalogEntry(
  name: string,
  arch: Arch,
  dirs: string[],
): Promise<CatalogEntry | undefined> {
  return (await loadCatalogEntries(name, dirs)).find((e) => e.arch === arch);
}

/** Every architecture's entry for an image name (an earlier folder's hides a later one's). */
export async function loadCatalogEntries(name: string, dirs: string[]): Promise<CatalogEntry[]> {
  if (!namePattern.test(name)) return [];
  const found = new Map<Arch, CatalogEntry>();
  for (const dir of dirs) {
    for (const file of [`${name}.yml`, ...arches.map((a) => `${name}.${a}.yml`)]) {
      const path = join(dir, file);
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch {
        continue;
      }
      const entry = await parseCatalogEntry(text, path, dir);
      if (!found.has(entry.arch)) found.set(entry.arch, entry);
    }
  }
  return [...found.values()];
}

/** The image name a catalog file holds an entry for: `debian-12.aarch64.yml` → debian-12. Pure. */
export function entryNameOfFile(file: string): string | undefined {
  if (!file.endsWith(".yml")) return undefined;
  const stem = file.slice(0, -4);
  const arch = arches.find((a) => stem.endsWith(`.${a}`));
  return arch ? stem.slice(0, -arch.length - 1) : stem;
}

/**
 * Every entry, sorted by name and architecture; an entry in an earlier folder hides one of the
 * same name and architecture.
 */
export async function listCatalog(dirs: string[]): Promise<CatalogEntry[]> {
  const seen = new Map<string, CatalogEntry>();
  for (const name of await listCatalogNames(dirs)) {
    for (const entry of await loadCatalogEntries(name, dirs))
      seen.set(`${name}/${entry.arch}`, entry);
  }
  return [...seen.values()].sort(
    (a, b) => a.name.localeCompare(b.name) || arches.indexOf(a.arch) - arches.indexOf(b.arch),
  );
}

export async function listCatalogNames(dirs: string[]): Promise<string[]> {
  const names = new Set<string>();
  for (const dir of dirs) {
    try {
      for (const f of await readdir(dir)) {
        const name = entryNameOfFile(f);
        if (name !== undefined && namePattern.test(name)) names.add(name);
      }
    } catch {
      // a KVMCI_CATALOG folder that does not exist holds nothing
    }
  }
  return [...names].sort();
}

async function parseCatalogEntry(text: string, file: string, dir: string): Promise<CatalogEntry> {
  const usersOwn = dir !== builtinCatalogDir;
  let problems: string[];
  let data: unknown;
  try {
    data = yaml.load(text, { filename: file });
  } catch (error) {
    data = undefined;
    problems = [(error as Error).message.split("\n")[0] ?? String(error)];
  }
  const kind = (data as { kind?: unknown } | null | undefined)?.kind;
  if (kind === "recipe") {
    const paths = recipeHookPaths(text);
    const read = async (path: string): Promise<RecipeHook | undefined> => {
      const full = join(dir, path);
      const hookText = await readFile(full, "utf8").catch(() => undefined);
      return hookText === undefined ? undefined : { path: full, text: hookText };
    };
    const customize = await read(paths.customize);
    const essential = paths.essential ? await read(paths.essential) : undefined;
    problems = [
      ...(customize
        ? []
        : [`${join(dir, paths.customize)}: missing (the recipe's customize hook)`]),
      ...(paths.essential && !essential
        ? [`${join(dir, paths.essential)}: missing (the recipe's essential hook)`]
        : []),
    ];
    if (customize && problems.length === 0) {
      const recipe = parseRecipe(text, { customize, essential });
      if (!("problems" in recipe)) return checkName(recipe, file);
      problems = recipe.problems;
    }
  } else if (kind === "download") {
    const parsed = downloadSchema.safeParse(data);
    if (parsed.success) return checkName({ ...parsed.data, file }, file);
    problems = parsed.error.issues.map(formatIssue);
  } else {
    problems ??= [`kind: expected "download" or "recipe", got ${JSON.stringify(kind)}`];
  }
  throw new KvmciError(usersOwn ? "usage" : "internal", `Invalid catalog entry ${file}`, {
    details: problems,
    hint: usersOwn
      ? "Fix the entry (see images/ in kvmci for examples), or remove its folder from KVMCI_CATALOG."
      : undefined,
  });
}

/** The file is `<name>.yml` or `<name>.<arch>.yml`, with the entry's own name and arch. */
function checkName<T extends CatalogEntry>(entry: T, file: string): T {
  const base = basename(file);
  if (base !== `${entry.name}.yml` && base !== `${entry.name}.${entry.arch}.yml`) {
    throw new KvmciError("usage", `Invalid catalog entry ${file}`, {
      details: [
        `name: ${JSON.stringify(entry.name)} and arch: ${entry.arch} must match the file name (${entry.name}.yml or ${entry.name}.${entry.arch}.yml)`,
      ],
    });
  }
  return entry;
}
