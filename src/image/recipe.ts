import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";
import { z } from "zod";
import { parseSize } from "../config/size.js";
import { KvmciError } from "../errors.js";

/** Bumped when the way kvmci turns a recipe into a disk changes, so old cache entries are rebuilt. */
const buildFormat = "kvmci-recipe-build-1";

/** The `images/` folder shipped with kvmci. */
export const catalogDir = fileURLToPath(new URL("../../images/", import.meta.url));

const recipeSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/),
    description: z.string(),
    arch: z.literal("x86_64"),
    suite: z.string().min(1),
    variant: z.enum(["apt", "minbase", "important", "required", "standard"]),
    components: z.array(z.string()).min(1),
    user: z.string().regex(/^[a-z_][a-z0-9_-]*$/),
    size: z.string().refine((s) => parseSize(s) !== undefined, "expected a size like 3G"),
    packages: z.array(z.string().min(1)).min(1),
    "kernel-cmdline": z.string(),
  })
  .strict();

export interface Recipe {
  name: string;
  description: string;
  arch: "x86_64";
  suite: string;
  variant: string;
  components: string[];
  user: string;
  sizeBytes: number;
  packages: string[];
  kernelCmdline: string;
  /** The customize hook mmdebstrap runs. */
  customizeScript: string;
  /** Hash of everything that decides the image's content. */
  key: string;
}

export async function listRecipeNames(dir = catalogDir): Promise<string[]> {
  const entries = await readdir(dir);
  return entries
    .filter((e) => e.endsWith(".yml"))
    .map((e) => e.slice(0, -4))
    .sort();
}

export async function loadRecipe(name: string, dir = catalogDir): Promise<Recipe | undefined> {
  if (!/^[a-z0-9][a-z0-9.-]*$/.test(name)) return undefined;
  const file = `${dir}/${name}.yml`;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return undefined;
  }
  const customizeFile = `${dir}/${name}/customize.sh`;
  const customize = await readFile(customizeFile, "utf8");
  return parseRecipe(text, customize, customizeFile);
}

/** Pure: recipe text and hook text in, a validated recipe with its cache key out. */
export function parseRecipe(text: string, customize: string, customizeScript: string): Recipe {
  const parsed = recipeSchema.safeParse(yaml.load(text));
  if (!parsed.success) {
    throw new KvmciError("internal", "The image recipe is invalid", {
      details: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`),
    });
  }
  const r = parsed.data;
  const key = createHash("sha256")
    .update(buildFormat)
    .update("\0")
    .update(text)
    .update("\0")
    .update(customize)
    .digest("hex");
  return {
    name: r.name,
    description: r.description,
    arch: r.arch,
    suite: r.suite,
    variant: r.variant,
    components: r.components,
    user: r.user,
    sizeBytes: parseSize(r.size) ?? 0,
    packages: r.packages,
    kernelCmdline: r["kernel-cmdline"],
    customizeScript,
    key,
  };
}
