import { shellQuote } from "../ssh/shell-quote.js";
import {
  buildCloudConfig,
  mergeCloudConfig,
  type CloudConfig,
  type SeedSpec,
} from "./user-data.js";

/**
 * kvmci's first boot: what cloud-init's network stage does for kvmci's own cloud-config (its
 * user, its keys, the host name, bootcmd and write_files), as a shell script carried in the
 * seed. kvmci's Debian 12 image runs it in place of that stage when the kernel command line
 * says `kvmci.first-boot=shell` (images/debian/customize.sh): the stage is ~10 s of Python
 * under emulation for ~2 s of work, the script a fraction of a second. Any other image, or
 * cloud-config with anything else in it, keeps cloud-init.
 */

/** The seed's file holding the script. */
export const firstBootFile = "kvmci-first-boot";

/** On the kernel command line: the image may run the seed's script instead of cloud-init. */
export const firstBootWord = "kvmci.first-boot=shell";

/** The keys of extra cloud-config the script does itself, in cloud-init's module order. */
const scriptKeys = new Set(["bootcmd", "write_files"]);

/** The write_files fields the script understands: plain text written with its mode. */
const fileFields = new Set(["path", "content", "permissions"]);

/**
 * Whether the script does all this extra cloud-config asks: nothing but `bootcmd` (commands as
 * strings or argument lists) and `write_files` (a path, text, an octal mode). Pure.
 */
export function firstBootCovers(extra: CloudConfig | undefined): boolean {
  if (!extra) return true;
  return Object.entries(extra).every(([key, value]) => {
    if (!scriptKeys.has(key) || !Array.isArray(value)) return false;
    if (key === "bootcmd") return value.every(isCommand);
    return value.every(isPlainFile);
  });
}

function isCommand(value: unknown): value is string | string[] {
  return (
    typeof value === "string" ||
    (Array.isArray(value) && value.length > 0 && value.every((w) => typeof w === "string"))
  );
}

function isPlainFile(
  value: unknown,
): value is { path: string; content?: string; permissions?: string } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const file = value as Record<string, unknown>;
  return (
    Object.keys(file).every((k) => fileFields.has(k)) &&
    typeof file.path === "string" &&
    file.path.startsWith("/") &&
    (file.content === undefined || typeof file.content === "string") &&
    (file.permissions === undefined ||
      (typeof file.permissions === "string" && /^0?[0-7]{3,4}$/.test(file.permissions)))
  );
}

/**
 * The script, run by root once per boot of a guest told to (before sshd and sysinit.target).
 * It leaves the guest as cloud-init's network stage would with the same cloud-config, in the
 * order of that stage's modules: bootcmd, write_files, the host name, the user (bash,
 * passwordless sudo, no password, the run's key), the pinned host key and no other. A command
 * or file that fails is an error in cloud-init's status.json, as with cloud-init, and the rest
 * goes on; the image's result unit turns that file into result.json, which kvmci waits for.
 * Each program started costs tens of milliseconds under emulation: the shell does what it can
 * itself (modes through umask, the user's ids read from /etc/passwd, the clock from the RTC).
 * Pure.
 */
export function renderFirstBoot(spec: SeedSpec): string {
  const q = shellQuote;
  // kvmci's own cloud-config with the extra merged in, as cloud-init would be given it.
  const config = mergeCloudConfig(buildCloudConfig(spec), spec.extra);
  const commands = (config.bootcmd as (string | string[])[] | undefined) ?? [];
  const files =
    (config.write_files as
      { path: string; content?: string; permissions?: string }[] | undefined) ?? [];
  const folders = [...new Set(files.map((f) => f.path.replace(/\/[^/]*$/, "") || "/"))];
  const modes = new Map<string, string[]>();
  for (const f of files) {
    const mode = (f.permissions ?? "0644").padStart(4, "0");
    modes.set(mode, [...(modes.get(mode) ?? []), f.path]);
  }
  const lines = [
    "#!/bin/sh",
    "# kvmci's first boot (kvmci's src/cloud-init/first-boot.ts), in place of cloud-init's network stage.",
    "set -u",
    "umask 022",
    'clock() { read -r t </sys/class/rtc/rtc0/since_epoch 2>/dev/null || t=$(date +%s); echo "$t"; }',
    "start=$(clock)",
    "errors=",
    // What failed, one JSON string each (made on the host), as cloud-init's errors are.
    'failed() { errors="${errors:+$errors, }$1"; }',
    ...commands.map(
      (c, i) =>
        `${typeof c === "string" ? `sh -c ${q(c)}` : perInstance(c).map(q).join(" ")} || failed ${failure(`bootcmd ${i + 1} (${brief(c)}) failed with exit code `, true)}`,
    ),
    ...(files.length > 0
      ? [
          `mkdir -p ${folders.map(q).join(" ")} || failed ${failure("write_files: making their folders failed")}`,
          ...files.map(
            (f) =>
              `printf '%s' ${q(f.content ?? "")} >${q(f.path)} || failed ${failure(`write_files: writing ${f.path} failed`)}`,
          ),
          ...[...modes].map(
            ([mode, paths]) =>
              `chmod ${mode} ${paths.map(q).join(" ")} || failed ${failure(`write_files: chmod ${mode} failed`)}`,
          ),
        ]
      : []),
    `name=${q(spec.hostname)}`,
    'echo "$name" >/etc/hostname',
    'echo "$name" >/proc/sys/kernel/hostname',
    `user=${q(spec.user)}`,
    'ids() { uid=; while IFS=: read -r n _ u g _ h _; do if [ "$n" = "$user" ]; then uid=$u gid=$g home=$h; break; fi; done </etc/passwd; }',
    "ids",
    `[ -n "$uid" ] || { useradd --create-home --shell /bin/bash "$user" || failed ${failure("making the user failed")}; ids; }`,
    'mkdir -p -m 0700 "$home/.ssh"',
    `(umask 077 && printf '%s\\n' ${q(spec.authorizedKey.trimEnd())} >"$home/.ssh/authorized_keys")`,
    `chown "$uid:$gid" "$home/.ssh" "$home/.ssh/authorized_keys" || failed ${failure("writing the user's key failed")}`,
    `(umask 0337 && printf '%s ALL=(ALL) NOPASSWD:ALL\\n' "$user" >/etc/sudoers.d/90-cloud-init-users)`,
    "set -- /etc/ssh/ssh_host_*",
    '[ ! -e "$1" ] || rm -f "$@"',
    `(umask 077 && printf '%s\\n' ${q(spec.hostKey.privateKey.trimEnd())} >/etc/ssh/ssh_host_ed25519_key && printf '%s\\n' ${q(spec.hostKey.publicKey.trimEnd())} >/etc/ssh/ssh_host_ed25519_key.pub) || failed ${failure("writing the host key failed")}`,
    "finished=$(clock)",
    "[ -d /run/cloud-init ] || mkdir -p /run/cloud-init",
    // cloud-init's record of its stages (wall-clock seconds), as its network stage leaves it.
    `printf '{"v1": {"datasource": "DataSourceNoCloud (kvmci first boot)", "init": {"errors": [%s], "start": %s, "finished": %s}, "init-local": {"errors": [], "start": null, "finished": null}, "modules-config": {"errors": [], "start": null, "finished": null}, "modules-final": {"errors": [], "start": null, "finished": null}, "modules-init": {"errors": [], "start": null, "finished": null}, "stage": null}}\\n' "$errors" "$start" "$finished" >/run/cloud-init/status.json`,
  ];
  return `${lines.join("\n")}\n`;
}

/**
 * `cloud-init-per instance|boot|always NAME COMMAND...` as COMMAND: the script runs once on a
 * guest's one boot as a new instance (every run's seed has a new instance id), and
 * cloud-init-per would keep its mark in a /var/lib/cloud/instance folder that cloud-init, on a
 * later boot of the same disk, could not replace with its link. `once` keeps its meaning.
 */
function perInstance(argv: string[]): string[] {
  const [program, frequency, name, ...rest] = argv;
  if (
    program === "cloud-init-per" &&
    name !== undefined &&
    rest.length > 0 &&
    ["instance", "boot", "always"].includes(frequency ?? "")
  )
    return rest;
  return argv;
}

/**
 * A failure as one shell word that is a JSON string: `message`, and with `withCode` the exit
 * status of the command that failed after it ($? where the word is used).
 */
function failure(message: string, withCode = false): string {
  const json = JSON.stringify(message);
  return withCode ? `${shellQuote(json.slice(0, -1))}"$?"'"'` : shellQuote(json);
}

/** A command as the user wrote it, short enough for a one-line warning. */
function brief(command: string | string[]): string {
  const text = typeof command === "string" ? command : command.join(" ");
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}
