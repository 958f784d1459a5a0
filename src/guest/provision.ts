import { createHash } from "node:crypto";
import type { CloudConfig } from "../cloud-init/user-data.js";
import { canonicalJson } from "../snapshot/key.js";
import type { NodeInstall } from "../host/node-install.js";
import { shellJoin } from "../ssh/shell-quote.js";

/** What `provision:` asks for, with the script read from its file. */
export interface Provision {
  packages: string[];
  script: string | undefined;
  /** Where the script came from, for messages: `kvmci.yml`, or the file's path. */
  scriptSource: string | undefined;
  cloudConfig: CloudConfig | undefined;
  /** A Node.js installation of the host's, copied into /usr/local before the script runs. */
  node: NodeInstall | undefined;
}

/** Bumped whenever how a prepared image is made changes. */
export const prepareFormat = 2;

/** The prepared image's key: the base image and everything the provisioning does. Pure. */
export function prepareKey(
  baseDigest: string,
  p: Provision,
  diskBytes: number | undefined,
): string {
  const canonical = canonicalJson([
    prepareFormat,
    baseDigest,
    [...p.packages].sort(),
    p.script ?? null,
    p.cloudConfig ?? null,
    diskBytes ?? null,
    // The same release for the same CPU is the same build; where it lies on the host is not.
    p.node ? [p.node.version, p.node.npmVersion ?? null, p.node.arch, p.node.sizeBytes] : null,
  ]);
  return createHash("sha256").update(canonical).digest("hex");
}

/** Installs packages with the guest's own package manager (apt or dnf), non-interactively. Pure. */
export function buildInstallCommand(packages: string[]): string {
  const names = shellJoin(packages);
  return [
    "set -e",
    "if command -v apt-get >/dev/null; then",
    "  export DEBIAN_FRONTEND=noninteractive",
    "  sudo -E apt-get update -q",
    `  sudo -E apt-get install -y -q --no-install-recommends ${names}`,
    "elif command -v dnf >/dev/null; then",
    `  sudo dnf install -y -q ${names}`,
    "else",
    "  echo 'kvmci: this image has neither apt-get nor dnf to install packages with' >&2",
    "  exit 127",
    "fi",
  ].join("\n");
}

/**
 * Unpacks a Node.js installation (a tar stream on stdin, laid out as under its prefix) into
 * /usr/local, then proves it runs there: an error here (a libc too old for the binary, say)
 * says so before any image is saved. Pure.
 */
export const nodeInstallCommand =
  "set -e; sudo tar -x -f - -C /usr/local --no-same-owner; /usr/local/bin/node --version; " +
  "if [ -e /usr/local/bin/npm ]; then /usr/local/bin/npm --version; fi";

/**
 * Runs the user's script as root, from a copy under /root (/run and /tmp may be mounted
 * noexec), so its own `#!` line picks the interpreter. The copy is removed afterwards.
 */
export const runScriptCommand =
  "sudo -E sh -c 'f=/root/.kvmci-provision; cat > $f && chmod 700 $f && cd /root && $f; code=$?; rm -f $f; exit $code'";

/**
 * What must not be shared by every guest made from the prepared image, removed before it is
 * saved: cloud-init's instance state and logs (so the next boot is a first boot with that run's
 * keys), SSH host keys, the machine id, the provisioning run's authorized key, logs, package
 * caches, shell histories. Then unused blocks are given back, so the image stays small.
 */
export function buildCleanupCommand(user: string): string {
  const script = [
    "set -u",
    "home=$(getent passwd " + user + " | cut -d: -f6)",
    "if command -v apt-get >/dev/null; then apt-get clean; fi",
    "if command -v dnf >/dev/null; then dnf clean all -q; fi",
    "cloud-init clean --logs >/dev/null 2>&1 || rm -rf /var/lib/cloud/instances /var/lib/cloud/instance /var/log/cloud-init*",
    "rm -f /etc/ssh/ssh_host_*",
    'rm -f "$home/.ssh/authorized_keys" "$home/.bash_history" /root/.bash_history',
    ": > /etc/machine-id",
    "rm -f /var/lib/dbus/machine-id",
    "rm -rf /var/log/journal/* /var/tmp/* /tmp/*",
    "find /var/log -type f -exec truncate -s 0 {} + 2>/dev/null",
    "sync",
    "fstrim -a >/dev/null 2>&1 || true",
  ].join("\n");
  return `sudo sh -c ${shellJoin([script])}`;
}
