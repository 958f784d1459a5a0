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

/** The exit code of a pack onto a disk that could not write it there (no such disk, no room). */
export const diskWriteFailed = 75;

/**
 * Guest command that packs the files matching the globs (relative to the workdir) to stdout.
 * Globs are expanded by bash with `**` and empty matches dropped; everything but glob
 * characters is quoted so a pattern cannot run code. Each path goes into the archive once,
 * however many globs match it or the folders above it (`out/**` matches both), folders
 * included so that empty ones come back too. With `device`, the archive is written from the
 * start of that disk instead, and its length in bytes is the command's output; the command then
 * exits with diskWriteFailed if the disk could not take it. dd writes it in 1 MiB blocks past
 * the guest's page cache (O_DIRECT): through the page cache, 100 MiB took 20 s of an emulated
 * guest's time, and 1.3 s this way.
 */
export function buildArtifactPackCommand(
  workdir: string,
  globs: string[],
  device?: string,
): string {
  const patterns = globs.map(quoteGlob).join(" ");
  const script = [
    `cd ${shellQuote(workdir)} 2>/dev/null || exit 0`,
    "shopt -s globstar nullglob dotglob",
    "set -o pipefail",
    `files=(${patterns})`,
    `[ \${#files[@]} -eq 0 ] && exit 0`,
    // ./ in front: a name starting with - is not taken for an option by find.
    `find "\${files[@]/#/./}" -print0 | LC_ALL=C sort -zu | tar -c -f - --null --no-recursion -T -${
      device ? ` | ${writeOntoDisk(device)}` : ""
    }`,
  ].join("\n");
  return `bash -c ${shellQuote(script)}`;
}

/**
 * The end of the pack pipeline that writes the archive onto the artifacts disk and prints its
 * length. Directly when the device is writable (kvmci's images make it so with a udev rule:
 * `sudo` costs a third of a second of an emulated guest's time), else through sudo.
 */
function writeOntoDisk(device: string): string {
  const write = `[ -b "$1" ] || exit ${diskWriteFailed}; set -o pipefail; LC_ALL=C dd of="$1" bs=1M iflag=fullblock oflag=direct 2>&1 >/dev/null | sed -n "s/^\\([0-9]*\\) bytes.*/\\1/p" || exit ${diskWriteFailed}`;
  const disk = shellQuote(device);
  return `{ sudo=; [ -w ${disk} ] || sudo=sudo; $sudo bash -c ${shellQuote(write)} kvmci ${disk}; }`;
}

/** Quotes every run of non-glob characters, leaving `*`, `?` and `[...]` active. */
export function quoteGlob(glob: string): string {
  return glob
    .split(/([*?]|\[[^\]]*\])/)
    .filter((part) => part !== "")
    .map((part) => (/^([*?]|\[[^\]]*\])$/.test(part) ? part : shellQuote(part)))
    .join("");
}
