import { formatSize } from "../../config/size.js";
import { KvmciError } from "../../errors.js";
import { listCachedImages, resolveCacheDir } from "../../image/cache.js";
import { resolveImage } from "../../image/resolve.js";
import type { TerminalReporter } from "../../report/terminal.js";
import { PhaseClock } from "../../run/phase-clock.js";
import type { Process } from "../main.js";
import { formatOptions, helpOnly, imageBuildOptions, parseOptions } from "../options.js";

const imageHelp = `Usage:
  kvmci image build [NAME] [options]   build an image from its recipe in images/ (default debian-12)
  kvmci image ls                       list cached images: name, size, digest, when built

Options for build:
${formatOptions(imageBuildOptions)}`;

export async function imageCommand(
  argv: string[],
  proc: Process,
  signal: AbortSignal,
  reporter: TerminalReporter,
): Promise<number> {
  const [sub, ...rest] = argv;
  const cacheDir = resolveCacheDir(proc.env);
  switch (sub) {
    case "build": {
      const parsed = parseOptions(rest, imageBuildOptions);
      if (parsed.values.help) return help(proc);
      const problems = [...parsed.problems];
      if (parsed.positionals.length > 1)
        problems.push(`expected one image name, got ${parsed.positionals.join(" ")}`);
      if (problems.length)
        throw new KvmciError("usage", `Invalid usage: ${problems.join("; ")}`, {
          hint: "Run `kvmci image --help`.",
        });
      const name = parsed.positionals[0] ?? "debian-12";
      const clock = new PhaseClock(reporter.onEvent);
      const { image } = await clock.time("image", () =>
        resolveImage(name, {
          cacheDir,
          mirror: typeof parsed.values.mirror === "string" ? parsed.values.mirror : undefined,
          force: parsed.values.force === true,
          isRoot: proc.getuid?.() === 0,
          signal,
          onStep: (message) => reporter.onEvent({ type: "progress", phase: "image", message }),
        }),
      );
      proc.stdout.write(`${image.info.name} ${image.info.digest} ${image.diskPath}\n`);
      return 0;
    }
    case "ls": {
      const parsed = parseOptions(rest, helpOnly);
      if (parsed.values.help) return help(proc);
      if (parsed.problems.length)
        throw new KvmciError("usage", `Invalid usage: ${parsed.problems.join("; ")}`);
      const images = await listCachedImages(cacheDir);
      if (images.length === 0) {
        proc.stdout.write(
          `No images cached in ${cacheDir}. \`kvmci image build debian-12\` builds the default one.\n`,
        );
        return 0;
      }
      const rows = [
        ["NAME", "SIZE", "DIGEST", "BUILT"],
        ...images.map((i) => [
          i.info.name,
          formatSize(i.sizeOnDisk),
          i.info.digest.slice(0, 19),
          i.info.builtAt.replace(/\.\d+Z$/, "Z"),
        ]),
      ];
      const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? "").length)));
      for (const row of rows)
        proc.stdout.write(
          `${row
            .map((cell, col) => cell.padEnd(widths[col] ?? 0))
            .join("  ")
            .trimEnd()}\n`,
        );
      return 0;
    }
    case undefined:
    case "--help":
    case "help":
      return help(proc);
    default:
      throw new KvmciError("usage", `Unknown image command ${JSON.stringify(sub)}`, {
        hint: "Use `kvmci image build` or `kvmci image ls`.",
      });
  }
}

function help(proc: Process): number {
  proc.stdout.write(`${imageHelp}\n`);
  return 0;
}
