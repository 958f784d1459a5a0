import { collectGarbage } from "../../housekeeping/gc.js";
import { formatSize, parseSize } from "../../units/size.js";
import { KvmciError } from "../../errors.js";
import { listKeptGuests, stopKeptGuest } from "../../guest/kept.js";
import { removeStaleRunFolders } from "../../guest/run-folder.js";
import { requireWritableCache } from "../../cache/layout.js";
import { resolveCacheDir } from "../../image/cache.js";
import { catalogDirs, listCatalog } from "../../image/catalog.js";
import type { Process } from "../process.js";
import { helpWidth, renderHelp, type HelpBlock } from "../help.js";
import { gcOptions, noWords, optionRows, parseOptions, positionalProblems } from "../options.js";

const gcHelp: HelpBlock[] = [
  "Usage: kvmci gc [options]",
  "Cleans what killed runs left (run folders in the temporary folder, unfinished builds and downloads, unreadable cache entries), kept guests whose keeper is gone or whose time is up, and images built from older versions of their recipe, and with --max-size whole images, least recently used first. Images a running guest uses are never removed.",
  { heading: "Options:", rows: optionRows(gcOptions) },
];

export async function gcCommand(argv: string[], proc: Process): Promise<number> {
  const parsed = parseOptions(argv, gcOptions);
  if (parsed.values.help === true) {
    proc.stdout.write(`${renderHelp(gcHelp, helpWidth(proc.stdout))}\n`);
    return 0;
  }
  const problems = [...parsed.problems];
  const maxSizeText = parsed.values["max-size"];
  const maxBytes =
    typeof maxSizeText === "string"
      ? maxSizeText === "0"
        ? 0
        : parseSize(maxSizeText)
      : undefined;
  if (typeof maxSizeText === "string" && maxBytes === undefined)
    problems.push(
      `--max-size: expected a size like 10G or 500M, got ${JSON.stringify(maxSizeText)}`,
    );
  problems.push(...positionalProblems(parsed.positionals, noWords("kvmci gc")));
  if (problems.length)
    throw new KvmciError("usage", `Invalid usage: ${problems.join("; ")}`, {
      hint: "Run `kvmci gc --help`.",
    });
  const cacheDir = resolveCacheDir(proc.env);
  await requireWritableCache(cacheDir);
  const dryRun = parsed.values["dry-run"] === true;
  // A build from a recipe as it no longer is cannot be chosen by any run of this kvmci.
  const recipeKeys = new Set(
    (await listCatalog(catalogDirs(proc.env))).flatMap((e) => (e.kind === "recipe" ? [e.key] : [])),
  );
  const report = await collectGarbage(cacheDir, {
    maxBytes,
    dryRun,
    unreachable: (image) =>
      image.info.source.kind === "recipe" && !recipeKeys.has(image.info.source.key)
        ? "built from an older version of its recipe"
        : undefined,
  });
  const verb = dryRun ? "would remove" : "removed";
  // Kept guests whose keeper is gone, or whose time is up (a keeper that missed it is ended).
  let keptRemoved = 0;
  for (const { guest, state } of await listKeptGuests(cacheDir)) {
    const over = Date.parse(guest.until) <= Date.now();
    if (state === "stopped" || (state === "running" && over)) {
      if (!dryRun) await stopKeptGuest(cacheDir, guest);
      keptRemoved++;
      proc.stdout.write(
        `${verb} kept guest ${guest.name}: ${state === "stopped" ? "its keeper is gone" : "its time is up"}\n`,
      );
    }
  }
  if (!dryRun)
    for (const folder of await removeStaleRunFolders())
      proc.stdout.write(`removed ${folder}: run folder of a kvmci that was killed\n`);
  for (const r of report.removed)
    proc.stdout.write(`${verb} ${r.what} (${formatSize(r.bytes)}): ${r.why}\n`);
  for (const k of report.keptInUse)
    proc.stdout.write(`kept ${k.entry}: in use by pid ${k.pids.join(", ")}\n`);
  proc.stdout.write(
    `cache ${cacheDir}: ${formatSize(report.bytesBefore)} → ${formatSize(report.bytesAfter)}${
      maxBytes !== undefined ? ` (limit ${formatSize(maxBytes)})` : ""
    }${report.removed.length === 0 && keptRemoved === 0 ? ", nothing to remove" : ""}\n`,
  );
  if (maxBytes !== undefined && report.bytesAfter > maxBytes && report.keptInUse.length)
    proc.stdout.write("still above the limit: the rest is in use by running guests\n");
  return 0;
}
