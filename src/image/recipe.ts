import { createHash } from "node:crypto";
import yaml from "js-yaml";
import { z } from "zod";
import { arches, type Arch } from "../units/arch.js";
import { parseSize } from "../units/size.js";
import { formatIssue } from "../units/issues.js";

/** Bumped when the way kvmci turns a recipe into a disk changes, so old cache entries are rebuilt. */
const buildFormat = "kvmci-recipe-build-2";

/** A hook's file: relative to the catalog folder, inside it. */
const hookPath = z
  .string()
  .refine(
    (p) => /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(p) && !p.split("/").includes(".."),
    "expected a path inside the catalog folder, like debian/customize.sh",
  );

const recipeSchema = z
  .object({
    kind: z.literal("recipe"),
    name: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/),
    description: z.string(),
    arch: z.enum(arches),
    suite: z.string().min(1),
    variant: z.enum(["apt", "minbase", "important", "required", "standard"]),
    components: z.array(z.string()).min(1),
    user: z.string().regex(/^[a-z_][a-z0-9_-]*$/),
    size: z.string().refine((s) => parseSize(s) !== undefined, "expected a size like 3G"),
    packages: z.array(z.string().min(1)).min(1),
    "kernel-cmdline": z.string(),
    /** mmdebstrap's --customize-hook (default `<name>/customize.sh`). */
    "customize-hook": hookPath.optional(),
    /** mmdebstrap's --essential-hook, run before the packages beyond the essential set. */
    "essential-hook": hookPath.optional(),
  })
  .strict();

/** The hook files a recipe names (relative to its catalog folder), read before parsing. Pure. */
export function recipeHookPaths(text: string): { customize: string; essential?: string } {
  const data = yaml.load(text) as Record<string, unknown> | null;
  const named = (key: string) => {
    const value = data?.[key];
    return typeof value === "string" && hookPath.safeParse(value).success ? value : undefined;
  };
  return {
    customize: named("customize-hook") ?? `${String(data?.name)}/customize.sh`,
    essential: named("essential-hook"),
  };
}

/** A hook: where it is, and its text (hashed into the recipe's key). */
export interface RecipeHook {
  path: string;
  text: string;
}

export interface Recipe {
  kind: "recipe";
  name: string;
  description: string;
  arch: Arch;
  suite: string;
  variant: string;
  components: string[];
  user: string;
  sizeBytes: number;
  packages: string[];
  kernelCmdline: string;
  /** The customize hook mmdebstrap runs once every package is installed. */
  customizeScript: string;
  /** The essential hook it runs before the other packages, if the recipe has one. */
  essentialScript: string | undefined;
  /** Hash of everything that decides the image's content. */
  key: string;
}

/**
 * Pure: recipe text and its hooks in, a validated recipe with its cache key out, or the list of
 * problems (`path: message`).
 */
export function parseRecipe(
  text: string,
  hooks: { customize: RecipeHook; essential?: RecipeHook },
): Recipe | { problems: string[] } {
  const parsed = recipeSchema.safeParse(yaml.load(text));
  if (!parsed.success) return { problems: parsed.error.issues.map(formatIssue) };
  const r = parsed.data;
  const key = createHash("sha256")
    .update(buildFormat)
    .update("\0")
    .update(text)
    .update("\0")
    .update(hooks.customize.text)
    .update("\0")
    .update(hooks.essential?.text ?? "")
    .digest("hex");
  return {
    kind: "recipe",
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
    customizeScript: hooks.customize.path,
    essentialScript: hooks.essential?.path,
    key,
  };
}
