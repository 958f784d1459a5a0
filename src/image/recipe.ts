import { createHash } from "node:crypto";
import yaml from "js-yaml";
import { z } from "zod";
import { parseSize } from "../units/size.js";
import { formatIssue } from "../units/issues.js";

/** Bumped when the way kvmci turns a recipe into a disk changes, so old cache entries are rebuilt. */
const buildFormat = "kvmci-recipe-build-1";

const recipeSchema = z
  .object({
    kind: z.literal("recipe"),
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
  kind: "recipe";
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

/**
 * Pure: recipe text and hook text in, a validated recipe with its cache key out, or the list of
 * problems (`path: message`).
 */
export function parseRecipe(
  text: string,
  customize: string,
  customizeScript: string,
): Recipe | { problems: string[] } {
  const parsed = recipeSchema.safeParse(yaml.load(text));
  if (!parsed.success) return { problems: parsed.error.issues.map(formatIssue) };
  const r = parsed.data;
  const key = createHash("sha256")
    .update(buildFormat)
    .update("\0")
    .update(text)
    .update("\0")
    .update(customize)
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
    customizeScript,
    key,
  };
}
