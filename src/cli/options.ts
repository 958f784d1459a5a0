import { parseArgs } from "node:util";

export interface OptionSpec {
  name: string;
  type: "string" | "boolean";
  multiple?: boolean;
  value?: string;
  help: string;
}

/** `kvmci run` flags. The same names are the keys of kvmci.yml. */
export const runOptions: OptionSpec[] = [
  {
    name: "image",
    type: "string",
    multiple: true,
    value: "NAME",
    help: "image to boot: a catalog name (default debian-12; `kvmci image ls --available`), a qcow2/raw file, or https://…#sha256=DIGEST; repeat it for one guest per image, in parallel",
  },
  {
    name: "cpus",
    type: "string",
    value: "N",
    help: "virtual CPUs (default: 2, or fewer if the host has fewer)",
  },
  { name: "memory", type: "string", value: "SIZE", help: "guest memory, e.g. 2G (default 2G)" },
  {
    name: "disk",
    type: "string",
    value: "SIZE",
    help: "disk size; the root file system grows to it (default: the image's, 3G)",
  },
  {
    name: "accel",
    type: "string",
    value: "auto|kvm|tcg",
    help: "auto (default) uses KVM only after proving it works",
  },
  {
    name: "boot",
    type: "string",
    value: "auto|firmware|kernel",
    help: "firmware: BIOS and the image's bootloader; kernel: direct kernel boot (auto: kernel when the image has one)",
  },
  {
    name: "network",
    type: "string",
    value: "user|none",
    help: "user (default): the guest reaches what the host can; none: nothing in or out but kvmci's SSH",
  },
  {
    name: "boot-timeout",
    type: "string",
    value: "DURATION",
    help: "give up if the guest is not ready by then (default 3m with KVM, 10m without)",
  },
  {
    name: "timeout",
    type: "string",
    value: "DURATION",
    help: "stop the command after this long and exit 124 (default: none)",
  },
  {
    name: "idle-timeout",
    type: "string",
    value: "DURATION",
    help: "stop the command when it prints nothing for this long and exit 124 (default: none)",
  },
  {
    name: "workdir",
    type: "string",
    value: "PATH",
    help: "folder in the guest the workspace goes to and the command runs in (default /work)",
  },
  { name: "no-sync", type: "boolean", help: "do not copy the workspace into the guest" },
  {
    name: "no-snapshot",
    type: "boolean",
    help: "boot cold: neither start from a warm snapshot nor save one",
  },
  {
    name: "exclude",
    type: "string",
    multiple: true,
    value: "PATTERN",
    help: "leave matching paths out of the sync (tar pattern; repeatable)",
  },
  {
    name: "env",
    type: "string",
    multiple: true,
    value: "KEY=VALUE",
    help: "set a variable for the command (repeatable)",
  },
  {
    name: "artifact",
    type: "string",
    multiple: true,
    value: "GLOB",
    help: "copy matching files (relative to the workdir, ** allowed) back after the command (repeatable)",
  },
  {
    name: "artifacts-dir",
    type: "string",
    value: "DIR",
    help: "where artifacts go (default ./kvmci-artifacts); replaced by each run's",
  },
  {
    name: "artifacts-max-size",
    type: "string",
    value: "SIZE",
    help: "stop copying artifacts back past this size in all (default 1G)",
  },
  {
    name: "artifacts-max-files",
    type: "string",
    value: "N",
    help: "stop copying artifacts back past this many files (default 100000)",
  },
  {
    name: "console-log",
    type: "string",
    value: "FILE",
    help: "keep a copy of the guest's serial console",
  },
  {
    name: "user-data",
    type: "string",
    value: "FILE",
    help: "extra cloud-config merged into kvmci's",
  },
  {
    name: "provision-script",
    type: "string",
    value: "FILE",
    help: "shell script run once as root; the result is cached as a prepared image (see provision: in kvmci.yml)",
  },
  {
    name: "provision-package",
    type: "string",
    multiple: true,
    value: "NAME",
    help: "package installed in the prepared image (repeatable)",
  },
  { name: "json", type: "string", value: "FILE", help: "write a machine-readable report" },
  {
    name: "config",
    type: "string",
    value: "FILE",
    help: "read settings from FILE instead of ./kvmci.yml",
  },
  {
    name: "mirror",
    type: "string",
    value: "URL",
    help: "Debian mirror for building the image (default: the host's)",
  },
  {
    name: "parallel",
    type: "string",
    value: "N",
    help: "guests at once with several images (default: as many as the host's CPUs and free memory allow; the rest wait)",
  },
  {
    name: "output",
    type: "string",
    value: "prefixed|grouped",
    help: "several guests: each line prefixed with [guest] as it comes (default), or each guest's lines together when it ends",
  },
  { name: "fail-fast", type: "boolean", help: "several guests: stop the others when one fails" },
  {
    name: "shard",
    type: "string",
    value: "I/N",
    help: "run the I-th of N parts of the matrix; guests get KVMCI_SHARD_INDEX and KVMCI_SHARD_TOTAL",
  },
  { name: "help", type: "boolean", help: "show this help" },
];

export const imageBuildOptions: OptionSpec[] = [
  {
    name: "mirror",
    type: "string",
    value: "URL",
    help: "Debian mirror to build from (default: the host's APT mirror)",
  },
  { name: "force", type: "boolean", help: "build again even if the image is cached" },
  { name: "help", type: "boolean", help: "show this help" },
];

export const imageListOptions: OptionSpec[] = [
  { name: "available", type: "boolean", help: "list the catalog instead of the cache" },
  { name: "help", type: "boolean", help: "show this help" },
];

export const gcOptions: OptionSpec[] = [
  {
    name: "max-size",
    type: "string",
    value: "SIZE",
    help: "also remove least recently used images until the cache is at most SIZE (e.g. 10G)",
  },
  { name: "dry-run", type: "boolean", help: "say what would be removed, remove nothing" },
  { name: "help", type: "boolean", help: "show this help" },
];

export const helpOnly: OptionSpec[] = [{ name: "help", type: "boolean", help: "show this help" }];

export interface ParsedOptions {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** Words after `--`. */
  rest: string[];
  problems: string[];
}

/** Parses argv against a spec and collects every problem instead of stopping at the first. */
export function parseOptions(argv: string[], spec: OptionSpec[]): ParsedOptions {
  const dashDash = argv.indexOf("--");
  const own = dashDash === -1 ? argv : argv.slice(0, dashDash);
  const rest = dashDash === -1 ? [] : argv.slice(dashDash + 1);
  const options = Object.fromEntries(
    spec.map((o) => [o.name, { type: o.type, multiple: o.multiple ?? false }]),
  );
  const { values, positionals, tokens } = parseArgs({
    args: own,
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const problems: string[] = [];
  const known = new Map(spec.map((o) => [o.name, o]));
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const option = known.get(token.name);
    if (!option) {
      problems.push(`${token.rawName}: unknown option`);
    } else if (option.type === "string" && token.value === undefined) {
      problems.push(`${token.rawName}: expected a value (${option.value ?? "VALUE"})`);
    } else if (option.type === "boolean" && token.value !== undefined && token.inlineValue) {
      problems.push(`${token.rawName}: takes no value`);
    }
  }
  return { values, positionals, rest, problems };
}

export function formatOptions(spec: OptionSpec[]): string {
  const left = spec.map((o) => `  --${o.name}${o.value ? ` ${o.value}` : ""}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return spec.map((o, i) => `${(left[i] ?? "").padEnd(width)}${o.help}`).join("\n");
}
