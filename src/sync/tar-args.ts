import { shellQuote } from "../ssh/shell-quote.js";

export interface PackOptions {
  /** Folder the paths are relative to. */
  dir: string;
  /** Read a NUL-separated list of paths from stdin (git mode) instead of packing the whole folder. */
  fromList: boolean;
  excludes: string[];
}

/** Host tar command that writes the workspace to stdout. Pure. */
export function buildPackArgs(o: PackOptions): string[] {
  const args = ["tar", "-c", "-f", "-", "-C", o.dir];
  for (const pattern of o.excludes) args.push(`--exclude=${pattern}`);
  if (o.fromList) args.push("--null", "--no-recursion", "-T", "-");
  else args.push(".");
  return args;
}

/**
 * Guest command that creates the workdir, owned by the guest user, unless it is there and
 * writable already (a restored snapshot has it): sudo alone costs ~0.3 s under emulation.
 */
export function buildWorkdirCommand(workdir: string): string {
  const w = shellQuote(workdir);
  // sudo may relay stdin to its child, which would eat the start of an archive sent after it.
  return `{ [ -d ${w} ] && [ -w ${w} ]; } || sudo install -d -o "$(id -u)" -g "$(id -g)" ${w} </dev/null`;
}

/** Guest command that creates the workdir for the guest user and unpacks stdin into it. */
export function buildUnpackCommand(workdir: string): string {
  const w = shellQuote(workdir);
  return `${buildWorkdirCommand(workdir)} && tar -x -f - -C ${w} --no-same-owner --warning=no-timestamp`;
}

/**
 * Guest command that packs the files matching the globs (relative to the workdir) to stdout.
 * Globs are expanded by bash with `**` and empty matches dropped; everything but glob
 * characters is quoted so a pattern cannot run code.
 */
export function buildArtifactPackCommand(workdir: string, globs: string[]): string {
  const patterns = globs.map(quoteGlob).join(" ");
  const script = `cd ${shellQuote(workdir)} 2>/dev/null || exit 0; shopt -s globstar nullglob dotglob; files=(${patterns}); [ \${#files[@]} -eq 0 ] || exec tar -c -f - -- "\${files[@]}"`;
  return `bash -c ${shellQuote(script)}`;
}

/** Host tar command that unpacks artifacts into a folder and lists what it wrote. */
export function buildArtifactUnpackArgs(dir: string): string[] {
  return ["tar", "-x", "-v", "-f", "-", "-C", dir, "--no-same-owner", "--warning=no-timestamp"];
}

/** Quotes every run of non-glob characters, leaving `*`, `?` and `[...]` active. */
export function quoteGlob(glob: string): string {
  return glob
    .split(/([*?]|\[[^\]]*\])/)
    .filter((part) => part !== "")
    .map((part) => (/^([*?]|\[[^\]]*\])$/.test(part) ? part : shellQuote(part)))
    .join("");
}
