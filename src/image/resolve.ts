import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { KvmciError } from "../errors.js";
import { which } from "../host/which.js";
import { buildRecipeImage } from "./build.js";
import { findCachedRecipeImage, type CachedImage } from "./cache.js";
import { defaultDebianMirror, findDebianMirror } from "./mirror.js";
import { listRecipeNames, loadRecipe } from "./recipe.js";
import { requireUnshareMode } from "./unshare.js";

export interface ResolveOptions {
  cacheDir: string;
  /** Overrides the host's configured Debian mirror. */
  mirror: string | undefined;
  isRoot: boolean;
  signal?: AbortSignal;
  onStep?: (step: string) => void;
  /** Called once when the image has to be built, before the build starts. */
  onBuild?: () => void;
}

/**
 * A cached image for a catalog name, built first when it is not cached (or always, with
 * `force`, for `kvmci image build --force`).
 */
export async function resolveImage(
  name: string,
  options: ResolveOptions & { force?: boolean },
): Promise<{ image: CachedImage; built: boolean }> {
  const recipe = await loadRecipe(name);
  if (!recipe) {
    const known = await listRecipeNames();
    const close = closestNames(name, known);
    throw new KvmciError("image", `Unknown image ${JSON.stringify(name)}`, {
      hint: close.length
        ? `Did you mean ${close.join(" or ")}? Known images: ${known.join(", ")}.`
        : `Known images: ${known.join(", ")}.`,
    });
  }
  if (!options.force) {
    const cached = await findCachedRecipeImage(options.cacheDir, recipe.name, recipe.key);
    if (cached) return { image: cached, built: false };
  }
  options.onBuild?.();
  await requireTools(["mmdebstrap", "qemu-img"], "to build the image");
  if (!options.isRoot) await requireUnshareMode();
  const image = await buildRecipeImage(recipe, {
    cacheDir: options.cacheDir,
    mirror: options.mirror ?? (await hostDebianMirror()),
    mode: options.isRoot ? "root" : "unshare",
    signal: options.signal,
    onStep: options.onStep,
  });
  return { image, built: true };
}

const packageOf: Record<string, string> = {
  mmdebstrap: "mmdebstrap",
  "qemu-img": "qemu-utils",
  "qemu-system-x86_64": "qemu-system-x86",
  tar: "tar",
  git: "git",
};

export async function requireTools(tools: string[], purpose: string): Promise<void> {
  const missing: string[] = [];
  for (const tool of tools) if (!(await which(tool))) missing.push(tool);
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((t) => packageOf[t] ?? t))];
  throw new KvmciError(
    "hostRequirement",
    `${missing.join(" and ")} ${missing.length === 1 ? "is" : "are"} needed ${purpose} but not installed`,
    {
      hint: `Install with: sudo apt-get install ${packages.join(" ")}  (then \`kvmci doctor\` checks the rest)`,
    },
  );
}

async function hostDebianMirror(): Promise<string> {
  const files: { name: string; text: string }[] = [];
  for (const path of ["/etc/apt/sources.list"]) {
    try {
      files.push({ name: path, text: await readFile(path, "utf8") });
    } catch {
      // no such file on this host
    }
  }
  try {
    const dir = "/etc/apt/sources.list.d";
    for (const entry of (await readdir(dir)).sort()) {
      if (entry.endsWith(".list") || entry.endsWith(".sources"))
        files.push({ name: entry, text: await readFile(join(dir, entry), "utf8") });
    }
  } catch {
    // no sources.list.d
  }
  return findDebianMirror(files) ?? defaultDebianMirror;
}

/** Names within a small edit distance, best first. Pure. */
export function closestNames(name: string, known: string[]): string[] {
  return known
    .map((k) => ({ k, d: editDistance(name, k) }))
    .filter(({ k, d }) => d <= Math.max(2, Math.floor(k.length / 3)))
    .sort((a, b) => a.d - b.d)
    .slice(0, 3)
    .map(({ k }) => k);
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
