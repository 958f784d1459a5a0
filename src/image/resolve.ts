import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { KvmciError } from "../errors.js";
import { buildRecipeImage } from "./build.js";
import {
  findIntactEntry,
  firmwareFor,
  imageEntryName,
  listCachedImages,
  type CachedImage,
} from "./cache.js";
import {
  listCatalogNames,
  loadCatalogEntries,
  loadCatalogEntry,
  type DownloadEntry,
} from "./catalog.js";
import { localFileImage } from "./local-file.js";
import { defaultDebianMirror, findDebianMirror } from "./mirror.js";
import { pullCatalogImage, pullUrlImage } from "./pull.js";
import type { Recipe } from "./recipe.js";
import { parseImageReference } from "./reference.js";
import type { ImageOrigin, ResolveOptions } from "./resolve-options.js";
import { chooseBuildMode } from "./build-mode.js";
import { ensureForeignArch } from "./foreign-arch.js";
import { toolInstaller, type EnsureTools } from "../host/packages.js";
import { withEntryLock } from "./entry-lock.js";
import { closestNames } from "../units/similar-names.js";
import type { Arch } from "../units/arch.js";

/**
 * Turns `--image` into an image ready to boot: a catalog name (downloaded or built once, then
 * cached), a URL with a pinned digest (downloaded once), or a local qcow2/raw file (used in
 * place). Nothing is downloaded when the cache already has it.
 */
export async function resolveImage(
  text: string,
  options: ResolveOptions,
): Promise<{ image: CachedImage; origin: ImageOrigin }> {
  const reference = parseImageReference(text, options.cwd, options.home);
  if ("problem" in reference)
    throw new KvmciError("usage", `Invalid --image: ${reference.problem}`, {
      hint: reference.hint,
    });
  switch (reference.kind) {
    case "file":
      return { image: await localFileImage(reference.path, options), origin: "file" };
    case "url":
      return forArch(await pullUrlImage(reference.url, reference.digest, options), options);
    case "name": {
      const entry = await loadCatalogEntry(reference.name, options.arch, options.catalogDirs);
      if (entry?.kind === "download") return resolveDownload(entry, options);
      if (entry?.kind === "recipe") return resolveRecipe(entry, options);
      const others = await loadCatalogEntries(reference.name, options.catalogDirs);
      if (others.length > 0) throw noEntryForArch(reference.name, options.arch, others);
      // A bare file name in the working folder, when no catalog entry has that name.
      const asFile = await localFileImage(join(options.cwd, reference.name), options).catch(
        (error: unknown) => {
          if (error instanceof KvmciError && error.code === "imageUnknown") return undefined;
          throw error;
        },
      );
      if (asFile) return { image: asFile, origin: "file" };
      throw await unknownImage(reference.name, options);
    }
  }
}

/**
 * A URL's image is taken to be for the architecture asked for (its bytes do not say), whatever
 * the run that downloaded it first asked for.
 */
function forArch(
  pulled: { image: CachedImage; origin: ImageOrigin },
  options: ResolveOptions,
): { image: CachedImage; origin: ImageOrigin } {
  const { info } = pulled.image;
  if (info.arch === options.arch) return pulled;
  return {
    ...pulled,
    image: {
      ...pulled.image,
      info: { ...info, arch: options.arch, boot: { firmware: firmwareFor(options.arch) } },
    },
  };
}

function noEntryForArch(name: string, arch: Arch, others: { arch: Arch }[]): KvmciError {
  const theirs = others.map((e) => e.arch).join(" and ");
  return new KvmciError("imageUnknown", `The catalog has no ${arch} image ${name}`, {
    hint: `${name} is in the catalog for ${theirs} only: give --arch ${others[0]!.arch}, another image (\`kvmci image ls --available\`), or a file or https://…#sha256=DIGEST URL of an ${arch} image.`,
  });
}

async function resolveDownload(
  entry: DownloadEntry,
  options: ResolveOptions,
): Promise<{ image: CachedImage; origin: ImageOrigin }> {
  if (!options.refresh) {
    const cached = await newestCatalogDownload(options.cacheDir, entry.name, entry.arch, options);
    if (cached) return { image: cached, origin: "cached" };
  }
  return pullCatalogImage(entry, options);
}

/** The most recently pulled copy of a catalog image, if any. */
export async function newestCatalogDownload(
  cacheDir: string,
  name: string,
  arch: Arch,
  o: Parameters<typeof findIntactEntry>[2] = {},
): Promise<CachedImage | undefined> {
  const copies = (await listCachedImages(cacheDir)).filter(
    (i) => i.info.source.kind === "catalog" && i.info.name === name && i.info.arch === arch,
  );
  const newest = copies.sort((a, b) => b.info.createdAt.localeCompare(a.info.createdAt))[0];
  return newest?.entry ? findIntactEntry(cacheDir, newest.entry, o) : undefined;
}

async function resolveRecipe(
  recipe: Recipe,
  options: ResolveOptions,
): Promise<{ image: CachedImage; origin: ImageOrigin }> {
  const entryName = imageEntryName(recipe.name, recipe.key);
  if (!options.force) {
    const cached = await findIntactEntry(options.cacheDir, entryName, options);
    if (cached) return { image: cached, origin: "cached" };
  }
  const ensureTools = options.ensureTools ?? refuseMissingTools;
  await ensureTools(["mmdebstrap", "qemu-img"], "to build the image");
  const { mode, why } = await chooseBuildMode({
    isRoot: options.isRoot,
    ensureTools,
    signal: options.signal,
  });
  if (mode === "unshare") await ensureTools(["newuidmap"], "to build the image without root");
  if (recipe.arch !== options.hostArch)
    await ensureForeignArch(recipe.arch, {
      hostArch: options.hostArch,
      isRoot: options.isRoot,
      ensureTools,
      signal: options.signal,
      onNote: options.onNote,
    });
  return withEntryLock(options, entryName, async () => {
    // Another kvmci may have built it while we waited for the lock.
    const cached = options.force
      ? undefined
      : await findIntactEntry(options.cacheDir, entryName, options);
    if (cached) return { image: cached, origin: "cached" };
    const foreign = recipe.arch === options.hostArch ? "" : ` for ${recipe.arch}`;
    options.onNote?.(
      `${recipe.name}${foreign} is not cached yet; building it from packages (once)${mode === "root" ? "" : `: ${why}`}` +
        (foreign
          ? `; its programs run under qemu-user emulation, so this takes about 5 times as long (4–5 minutes on 2 cores)`
          : ""),
    );
    const image = await buildRecipeImage(recipe, {
      cacheDir: options.cacheDir,
      mirror: options.mirror ?? (await hostDebianMirror()),
      mode,
      signal: options.signal,
      onStep: options.onStep,
    });
    return { image, origin: "built" };
  });
}

async function unknownImage(name: string, options: ResolveOptions): Promise<KvmciError> {
  const known = await listCatalogNames(options.catalogDirs);
  const close = closestNames(name, known);
  return new KvmciError("imageUnknown", `Unknown image ${JSON.stringify(name)}`, {
    hint:
      (close.length ? `Did you mean ${close.join(" or ")}? ` : "") +
      `Known images: ${known.join(", ")} (\`kvmci image ls --available\`). ` +
      "--image also takes a path to a qcow2 or raw file, or an https:// URL with #sha256=<digest>.",
  });
}

/** Without an installer: a missing tool is an error that says how to install it. */
export const refuseMissingTools: EnsureTools = toolInstaller({
  mode: "never",
  isRoot: false,
  log: () => undefined,
});

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
        files.push({ name: basename(entry), text: await readFile(join(dir, entry), "utf8") });
    }
  } catch {
    // no sources.list.d
  }
  return findDebianMirror(files) ?? defaultDebianMirror;
}
