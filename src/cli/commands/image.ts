import { homedir } from "node:os";
import { rm } from "node:fs/promises";
import { scanCacheItems, withDependents } from "../../housekeeping/cache-items.js";
import { entriesInUse, holdRemovals } from "../../cache/in-use.js";
import { requireWritableCache } from "../../cache/layout.js";
import { formatSize } from "../../units/size.js";
import { KvmciError } from "../../errors.js";
import { createHttpGet } from "../../host/http.js";
import { listCachedImages, resolveCacheDir, type CachedImage } from "../../image/cache.js";
import { catalogDirs, listCatalog } from "../../image/catalog.js";
import { resolveImage } from "../../image/resolve.js";
import { cliToolInstaller } from "../install-policy.js";
import type { ResolveOptions } from "../../image/resolve-options.js";
import {
  catalogListJson,
  formatCatalogList,
  formatImageList,
  imageListJson,
} from "../../report/image-list.js";
import type { TerminalReporter } from "../../report/terminal.js";
import { PhaseClock } from "../../run/phase-clock.js";
import type { Process } from "../process.js";
import { didYouMean } from "../../units/similar-names.js";
import { arches, archOfNode, isArch } from "../../units/arch.js";
import { helpWidth, renderHelp, type HelpBlock } from "../help.js";
import {
  helpOnly,
  imageBuildOptions,
  imageListOptions,
  imagePullOptions,
  optionRows,
  parseOptions,
  positionalProblems,
  type OptionSpec,
  type Positionals,
} from "../options.js";

/** `kvmci image`'s subcommands: how each is written, what it does, its options and words. */
export const imageSubcommands = {
  pull: {
    usage: "kvmci image pull NAME|URL#sha256=DIGEST [--arch ARCH]",
    about:
      "download (or build) an image into the cache now; for a catalog image, check its published checksum again and fetch a newer release if there is one",
    options: imagePullOptions,
    positionals: {
      min: 1,
      max: 1,
      what: "an image name or URL",
      example: "kvmci image pull ubuntu-24.04",
    },
  },
  build: {
    usage: "kvmci image build [NAME] [options]",
    about: "build an image from its recipe (default debian-12)",
    options: imageBuildOptions,
    positionals: { min: 0, max: 1, what: "a recipe's name", example: "kvmci image build" },
  },
  ls: {
    usage: "kvmci image ls [--available] [--json]",
    about: "list cached images (--available: the catalog)",
    options: imageListOptions,
    positionals: { min: 0, max: 0, what: "nothing", example: "kvmci image ls" },
  },
  rm: {
    usage: "kvmci image rm NAME|ENTRY|DIGEST...",
    about: "remove cached images (not those a guest is using)",
    options: helpOnly,
    positionals: {
      min: 1,
      max: Infinity,
      what: "what to remove",
      example: "kvmci image rm ubuntu-24.04",
    },
  },
} satisfies Record<
  string,
  { usage: string; about: string; options: OptionSpec[]; positionals: Positionals }
>;

type ImageSubcommand = keyof typeof imageSubcommands;
const subcommandNames = Object.keys(imageSubcommands) as ImageSubcommand[];

const imageHelp: HelpBlock[] = [
  {
    heading: "Usage:",
    rows: subcommandNames.map((name) => [
      imageSubcommands[name].usage,
      imageSubcommands[name].about,
    ]),
  },
  { heading: "Options for pull:", rows: optionRows(imagePullOptions) },
  { heading: "Options for build:", rows: optionRows(imageBuildOptions) },
  { heading: "Options for ls:", rows: optionRows(imageListOptions) },
];

export async function imageCommand(
  argv: string[],
  proc: Process,
  signal: AbortSignal,
  reporter: TerminalReporter,
): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "--help" || sub === "help") return help(proc);
  if (sub === undefined)
    throw new KvmciError("usage", `kvmci image needs a subcommand: ${subcommandNames.join(", ")}`, {
      details: subcommandNames.map((name) => imageSubcommands[name].usage),
      hint: "`kvmci image --help` says what each does.",
    });
  if (!(subcommandNames as string[]).includes(sub)) {
    const suggestion = didYouMean(sub, subcommandNames);
    throw new KvmciError(
      "usage",
      `Unknown image command ${JSON.stringify(sub)}${suggestion ? ` (${suggestion})` : ""}`,
      { hint: "Use `kvmci image pull`, `build`, `ls` or `rm` (`kvmci image --help`)." },
    );
  }
  const command = sub as ImageSubcommand;
  const { options, positionals } = imageSubcommands[command];
  const parsed = parseOptions(rest, options);
  if (parsed.values.help === true) return help(proc);
  const problems = [...parsed.problems, ...positionalProblems(parsed.positionals, positionals)];
  const hostArch = archOfNode(proc.arch ?? "");
  const archText = parsed.values.arch;
  if (typeof archText === "string" && !isArch(archText))
    problems.push(`--arch: expected ${arches.join(" or ")}, got ${JSON.stringify(archText)}`);
  if (problems.length)
    throw new KvmciError("usage", `Invalid usage: ${problems.join("; ")}`, {
      hint: `Usage: ${imageSubcommands[command].usage} (\`kvmci image --help\`).`,
    });
  const cacheDir = resolveCacheDir(proc.env);
  // Listing only reads the cache; the others write to it.
  if (command !== "ls") await requireWritableCache(cacheDir);
  switch (command) {
    case "build":
    case "pull": {
      const name = parsed.positionals[0] ?? "debian-12";
      const clock = new PhaseClock(reporter.onEvent);
      const options: ResolveOptions = {
        arch: typeof archText === "string" && isArch(archText) ? archText : (hostArch ?? "x86_64"),
        hostArch,
        cacheDir,
        catalogDirs: catalogDirs(proc.env),
        http: createHttpGet(),
        cwd: proc.cwd(),
        home: homedir(),
        mirror: typeof parsed.values.mirror === "string" ? parsed.values.mirror : undefined,
        force: parsed.values.force === true,
        refresh: command === "pull",
        isRoot: proc.getuid?.() === 0,
        ensureTools: cliToolInstaller(proc, {
          install: true,
          signal,
          log: (line) => proc.stderr.write(`kvmci › ${line}\n`),
        }),
        signal,
        onNote: (message) => reporter.onEvent({ type: "note", message }),
        onStep: (message) => reporter.onEvent({ type: "progress", phase: "image", message }),
        onTransfer: (what, progress) =>
          reporter.onEvent({ type: "transfer", phase: "image", what, progress }),
      };
      const { image, origin } = await clock.time("image", () => resolveImage(name, options));
      if (origin === "cached")
        reporter.onEvent({ type: "note", message: `${name} is up to date in the cache` });
      proc.stdout.write(`${image.info.name} ${image.info.digest} ${image.diskPath}\n`);
      return 0;
    }
    case "ls": {
      const json = parsed.values.json === true;
      if (parsed.values.available) await listAvailable(proc, cacheDir, json);
      else await listCached(proc, cacheDir, json);
      return 0;
    }
    case "rm":
      await removeImages(proc, cacheDir, parsed.positionals);
      return 0;
  }
}

async function listCached(proc: Process, cacheDir: string, json: boolean): Promise<void> {
  const { images, snapshots } = await scanCacheItems(cacheDir);
  const listing = { cacheDir, images, snapshots, inUse: await entriesInUse(cacheDir) };
  proc.stdout.write(
    json ? `${JSON.stringify(imageListJson(listing), null, 2)}\n` : formatImageList(listing),
  );
}

async function listAvailable(proc: Process, cacheDir: string, json: boolean): Promise<void> {
  const listing = {
    entries: await listCatalog(catalogDirs(proc.env)),
    cached: await listCachedImages(cacheDir),
  };
  proc.stdout.write(
    json ? `${JSON.stringify(catalogListJson(listing), null, 2)}\n` : formatCatalogList(listing),
  );
}

/**
 * Removes every cached image or snapshot matching each word (a name, an entry folder or a
 * digest prefix), with whatever is layered over it (prepared images, snapshots).
 */
async function removeImages(proc: Process, cacheDir: string, words: string[]): Promise<void> {
  await using _removals = await holdRemovals(cacheDir);
  const { items, images } = await scanCacheItems(cacheDir);
  const inUse = await entriesInUse(cacheDir);
  const missing: string[] = [];
  const chosen = new Set<string>();
  for (const word of words) {
    const matches = [
      ...images.filter((i) => matchesImage(i, word)).map((i) => i.entry ?? i.dir),
      ...items.filter((i) => i.kind === "snapshot" && i.entry === word).map((i) => i.entry),
    ];
    if (matches.length === 0) missing.push(word);
    for (const m of matches) chosen.add(m);
  }
  if (missing.length)
    throw new KvmciError("imageUnknown", `Not in the cache: ${missing.join(", ")}`, {
      hint: "`kvmci image ls` lists cached images and snapshots by name, digest and entry.",
    });
  const busy: string[] = [];
  const gone = new Set<string>();
  for (const entry of chosen) {
    const tree = withDependents(items, entry).filter((i) => !gone.has(i.entry));
    const used = tree.filter((i) => inUse.has(i.entry));
    if (used.length) {
      busy.push(
        ...used.map((i) => `${i.entry} (used by pid ${(inUse.get(i.entry) ?? []).join(", ")})`),
      );
      continue;
    }
    for (const item of tree) {
      await rm(item.dir, { recursive: true, force: true });
      gone.add(item.entry);
      const over = item.entry === entry ? "" : `, layered over ${entry}`;
      proc.stdout.write(`removed ${item.entry} (${formatSize(item.sizeOnDisk)}${over})\n`);
    }
  }
  if (busy.length)
    throw new KvmciError("image", `In use by a running guest, not removed: ${busy.join(", ")}`, {
      hint: "Run the command again after those runs end.",
    });
}

function matchesImage(image: CachedImage, word: string): boolean {
  const hex = word.replace(/^sha(256|512):/, "");
  const digestHex = image.info.digest.replace(/^sha(256|512):/, "");
  return (
    image.info.name === word ||
    image.entry === word ||
    (/^[0-9a-f]{8,}$/.test(hex) && digestHex.startsWith(hex))
  );
}

function help(proc: Process): number {
  proc.stdout.write(`${renderHelp(imageHelp, helpWidth(proc.stdout))}\n`);
  return 0;
}
