import type { RunSettingsInput } from "./schema.js";

/** A setting of `kvmci run`: a key of kvmci.yml, which is also its flag's name. */
export type SettingKey = keyof RunSettingsInput;

/** How a setting is given on the command line. */
export type FlagForm =
  /** `--memory 2G`; `multiple`: repeatable, collected into a list. */
  | { kind: "value"; value: string; multiple?: true }
  /** `--fail-fast` sets it to true. */
  | { kind: "switch" }
  /** `--no-sync` sets it to false. */
  | { kind: "negated"; flag: string }
  /** Only in kvmci.yml (and, where it has one, the Action's input). */
  | { kind: "none" };

/** How an Action input's text becomes the setting. */
export type InputForm =
  /** The text, trimmed. */
  | "text"
  /** One item per line; a single line is a single value (`image`). */
  | "list"
  /** YAML (`provision`). */
  | "yaml"
  /** true/false, yes/no, on/off. */
  | "boolean";

export interface SettingInfo {
  flag: FlagForm;
  /** One line, for `--help`, the docs and the Action's input descriptions. */
  help: string;
  /** The Action's input for it, if it has one: its name (default the key) and form. */
  input?: { name?: string; form: InputForm };
  /**
   * A shortcut of the command line only: kvmci.yml refuses the key and says what to write
   * there instead (one way to say each thing in the file).
   */
  flagOnly?: { inFile: string };
}

/**
 * Every setting of `kvmci run`, once: the schema (schema.ts) says what a value may be, this table
 * how it is given. The command line's flags and the Action's inputs are made from it, and tests
 * check action.yml and the docs against it. A key missing here, or here but not in the schema,
 * does not compile.
 */
export const settingsInfo: { [K in SettingKey]-?: SettingInfo } = {
  image: {
    flag: { kind: "value", value: "NAME", multiple: true },
    help: "image to boot: a catalog name (default debian-12; `kvmci image ls --available`), a qcow2/raw file, or https://…#sha256=DIGEST; repeat it for one guest per image, in parallel",
    input: { form: "list" },
  },
  arch: {
    flag: { kind: "value", value: "x86_64|aarch64", multiple: true },
    help: "the guest's architecture (default the host's); another than the host's is emulated (TCG), and images are picked or built for it; repeat it for one guest per architecture (and image)",
    input: { form: "list" },
  },
  run: {
    flag: { kind: "none" },
    help: "the command, run with bash -c in the workdir (on the command line: after `--`)",
    input: { form: "text" },
  },
  provision: {
    flag: { kind: "none" },
    help: "provisioning applied once and cached as a prepared image: packages, script (or script-file), cloud-config",
    input: { form: "yaml" },
  },
  matrix: {
    flag: { kind: "none" },
    help: "guests that differ in more than the image: a list of {name, image, arch, cpus, memory, env}",
  },
  cpus: {
    flag: { kind: "value", value: "N" },
    help: "virtual CPUs (default 2, or fewer if the host has fewer)",
    input: { form: "text" },
  },
  memory: {
    flag: { kind: "value", value: "SIZE" },
    help: "guest memory, e.g. 2G or 2048 (MiB); at least 256M (default 2G)",
    input: { form: "text" },
  },
  disk: {
    flag: { kind: "value", value: "SIZE" },
    help: "disk size, at least the image's; the root file system grows to it (default the image's)",
    input: { form: "text" },
  },
  accel: {
    flag: { kind: "value", value: "auto|kvm|tcg" },
    help: "auto (default) uses KVM only after proving it works; kvm fails without it; tcg emulates",
    input: { form: "text" },
  },
  boot: {
    flag: { kind: "value", value: "auto|firmware|kernel" },
    help: "firmware: BIOS and the image's bootloader; kernel: direct kernel boot (auto: kernel when the image has one)",
  },
  network: {
    flag: { kind: "value", value: "user|none" },
    help: "user (default): the guest reaches what the host can; none: nothing in or out but kvmci's SSH",
    input: { form: "text" },
  },
  "boot-timeout": {
    flag: { kind: "value", value: "DURATION" },
    help: "give up if the guest is not ready by then (default 3m with KVM, 10m without)",
    input: { form: "text" },
  },
  timeout: {
    flag: { kind: "value", value: "DURATION" },
    help: "stop the command after this long and exit 124; copying artifacts back counts too (default none)",
    input: { form: "text" },
  },
  "idle-timeout": {
    flag: { kind: "value", value: "DURATION" },
    help: "stop the command when it prints nothing for this long and exit 124 (default none)",
  },
  workdir: {
    flag: { kind: "value", value: "PATH" },
    help: "folder in the guest the workspace goes to and the command runs in (default /work)",
  },
  sync: {
    flag: { kind: "negated", flag: "no-sync" },
    help: "copy the workspace into the guest (default true; --no-sync: do not)",
  },
  snapshot: {
    flag: { kind: "negated", flag: "no-snapshot" },
    help: "start from a warm snapshot and save one when none matches (default true; --no-snapshot: boot cold)",
    input: { form: "boolean" },
  },
  exclude: {
    flag: { kind: "value", value: "PATTERN", multiple: true },
    help: "leave matching paths out of the sync (tar pattern; repeatable)",
  },
  env: {
    flag: { kind: "value", value: "KEY=VALUE|KEY", multiple: true },
    help: "set a variable for the command; KEY alone takes its value from kvmci's environment (use that for secrets: it stays off the command line); repeatable",
    input: { form: "list" },
  },
  artifact: {
    flag: { kind: "value", value: "GLOB", multiple: true },
    help: "copy matching files (relative to the workdir, ** allowed) back after the command (repeatable)",
    input: { name: "artifacts", form: "list" },
  },
  "artifacts-dir": {
    flag: { kind: "value", value: "DIR" },
    help: "where artifacts go (default ./kvmci-artifacts); each run's replace the last's",
  },
  "artifacts-max-size": {
    flag: { kind: "value", value: "SIZE" },
    help: "stop copying artifacts back past this size in all, with a warning (default 1G)",
    input: { form: "text" },
  },
  "artifacts-max-files": {
    flag: { kind: "value", value: "N" },
    help: "stop copying artifacts back past this many files, with a warning (default 100000)",
    input: { form: "text" },
  },
  "console-log": {
    flag: { kind: "value", value: "FILE" },
    help: "keep a copy of the guest's serial console",
  },
  "user-data": {
    flag: { kind: "value", value: "FILE" },
    help: "extra cloud-config merged into kvmci's",
  },
  json: {
    flag: { kind: "value", value: "FILE" },
    help: "write a machine-readable report",
  },
  mirror: {
    flag: { kind: "value", value: "URL" },
    help: "Debian mirror for building the image (default: the host's)",
  },
  "provision-script": {
    flag: { kind: "value", value: "FILE" },
    help: "shell script run once as root; the result is cached as a prepared image (see provision: in kvmci.yml)",
    flagOnly: { inFile: "provision: {script-file: FILE}" },
  },
  "provision-package": {
    flag: { kind: "value", value: "NAME", multiple: true },
    help: "package installed in the prepared image (repeatable)",
    flagOnly: { inFile: "provision: {packages: [NAME, …]}" },
  },
  node: {
    flag: { kind: "value", value: "auto|none|host|package|PATH" },
    help: "Node.js in the guest: host copies the node (and npm) found on the host's PATH, baked once into a prepared image; package installs the distribution's nodejs and npm; a PATH copies that node; auto (default): host when the workspace has a package.json, else none",
    input: { form: "text" },
  },
  "host-trust": {
    flag: { kind: "negated", flag: "no-host-trust" },
    help: "carry the host's extra CA certificates and proxy settings into the guest (default true; --no-host-trust: do not)",
    input: { form: "boolean" },
  },
  locale: {
    flag: { kind: "value", value: "NAME|none" },
    help: "LANG for the command (default C.UTF-8; none leaves the guest's)",
  },
  "ci-env": {
    flag: { kind: "negated", flag: "no-ci-env" },
    help: "under a CI system, give the command its variables (CI, GITHUB_ACTIONS, GITHUB_SHA, …; never paths or tokens) (default true)",
  },
  "shell-on-failure": {
    flag: { kind: "switch" },
    help: "when the command fails or times out (or the sync, with the guest up), open a shell in the guest on this terminal; the guest is torn down when it exits, and the exit code is still the command's",
  },
  install: {
    flag: { kind: "negated", flag: "no-install" },
    help: "install what the host lacks (QEMU, mmdebstrap, uidmap…) with apt-get when root or with passwordless sudo, asking first on a terminal (default true; also KVMCI_NO_INSTALL=1)",
  },
  tty: {
    flag: { kind: "negated", flag: "no-tty" },
    help: "run the command in a pseudo-terminal when kvmci's own output is a terminal, so colours and progress bars work (default true)",
  },
  parallel: {
    flag: { kind: "value", value: "N" },
    help: "guests at once with several images (default: as many as the host's CPUs and free memory allow; the rest wait)",
  },
  output: {
    flag: { kind: "value", value: "prefixed|grouped" },
    help: "several guests: each line prefixed with [guest] as it comes (default), or each guest's lines together when it ends",
  },
  "fail-fast": {
    flag: { kind: "switch" },
    help: "several guests: stop the others when one fails",
  },
  shard: {
    flag: { kind: "value", value: "I/N" },
    help: "run the I-th of N parts of the matrix; guests get KVMCI_SHARD_INDEX and KVMCI_SHARD_TOTAL",
  },
  guests: {
    flag: { kind: "none" },
    help: "machines of one run on a private network of their own, each by its name: a mapping of names to {image, cpus, memory, disk, network, provision, env, artifact, service, ready, run}",
  },
  "ready-timeout": {
    flag: { kind: "value", value: "DURATION" },
    help: "with guests: how long every ready: probe may take, together, before the run fails (default 5m)",
  },
};

/** The name a setting has on the command line (`sync` is `--no-sync`), or undefined. */
export function flagName(key: SettingKey): string | undefined {
  const form = settingsInfo[key].flag;
  if (form.kind === "none") return undefined;
  return form.kind === "negated" ? form.flag : key;
}
