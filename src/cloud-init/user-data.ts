import yaml from "js-yaml";

export interface SeedSpec {
  /** Unique per run: cloud-init treats a new instance-id as a first boot. */
  instanceId: string;
  hostname: string;
  user: string;
  /** OpenSSH public key line of the per-run client key. */
  authorizedKey: string;
  /** Per-run ed25519 host key, injected so the host can pin it. */
  hostKey: { privateKey: string; publicKey: string };
  /** Extra cloud-config from `--user-data`, already parsed. */
  extra?: Record<string, unknown>;
}

export type CloudConfig = Record<string, unknown>;

/** The cloud-config kvmci needs: its user, its keys, and no password login. */
export function buildCloudConfig(spec: SeedSpec): CloudConfig {
  return {
    users: [
      {
        name: spec.user,
        shell: "/bin/bash",
        sudo: "ALL=(ALL) NOPASSWD:ALL",
        lock_passwd: true,
        ssh_authorized_keys: [spec.authorizedKey],
      },
    ],
    disable_root: true,
    ssh_pwauth: false,
    ssh_deletekeys: true,
    // Only the type whose key is given: cloud-init generates a type only when its key file is
    // missing, so nothing is generated (an empty list does the same, but fails cloud-init's
    // schema and puts "Invalid cloud-config provided" on every console).
    ssh_genkeytypes: ["ed25519"],
    ssh_keys: {
      ed25519_private: spec.hostKey.privateKey,
      ed25519_public: spec.hostKey.publicKey,
    },
    // Before sshd starts: no message of the day for SSH sessions. pam_motd runs every script in
    // /etc/update-motd.d at each session kvmci opens (a quarter of a second of an emulated
    // Debian guest's time on every command, more on Ubuntu's), for a text nobody reads.
    bootcmd: [
      [
        "sed",
        "-i",
        "-E",
        String.raw`s/^session\s+optional\s+pam_motd\.so/# kvmci: &/`,
        "/etc/pam.d/sshd",
      ],
    ],
  };
}

// Keys kvmci owns: a user's extra cloud-config may add to the guest but must not weaken access
// control or replace the keys kvmci pins.
const ownedKeys = new Set([
  "disable_root",
  "ssh_pwauth",
  "ssh_deletekeys",
  "ssh_genkeytypes",
  "ssh_keys",
]);

/**
 * cloud-config keys that cloud-init handles in its init stage in kvmci's Debian images (their
 * cloud_init_modules: seed_random, bootcmd, write_files, set_hostname, update_hostname,
 * update_etc_hosts, users_groups, ssh), and those kvmci owns.
 */
const initStageKeys = new Set([
  ...ownedKeys,
  "random_seed",
  "bootcmd",
  "write_files",
  "hostname",
  "fqdn",
  "prefer_fqdn_over_hostname",
  "preserve_hostname",
  "create_hostname_file",
  "manage_etc_hosts",
  "users",
  "groups",
  "user",
  "ssh_authorized_keys",
  "disable_root_opts",
  "allow_public_ssh_keys",
  "ssh_quiet_keygen",
  "ssh_publish_hostkeys",
]);

/**
 * Whether cloud-init's final stage has nothing to do for this extra cloud-config (a user's
 * `--user-data`, the host's trust): every key is one the init stage handles, and no file is
 * written late (`defer`). Anything else (runcmd, packages, a key kvmci does not know) keeps the
 * final stage. Pure.
 */
export function finalStageIdle(extra: CloudConfig | undefined): boolean {
  if (!extra) return true;
  return Object.entries(extra).every(
    ([key, value]) =>
      initStageKeys.has(key) &&
      (key !== "write_files" ||
        (Array.isArray(value) && value.every((file) => !isMap(file) || file.defer !== true))),
  );
}

/** Merges a user's cloud-config under kvmci's: lists are concatenated (ours first), maps merged. */
export function mergeCloudConfig(ours: CloudConfig, extra: CloudConfig | undefined): CloudConfig {
  if (!extra) return ours;
  const merged: CloudConfig = { ...extra };
  for (const [key, value] of Object.entries(ours)) {
    const theirs = extra[key];
    if (ownedKeys.has(key) || theirs === undefined) merged[key] = value;
    else if (Array.isArray(value) && Array.isArray(theirs))
      merged[key] = [...(value as unknown[]), ...(theirs as unknown[])];
    else if (isMap(value) && isMap(theirs)) merged[key] = mergeCloudConfig(value, theirs);
    else merged[key] = value;
  }
  return merged;
}

function isMap(value: unknown): value is CloudConfig {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function renderUserData(spec: SeedSpec): string {
  const config = mergeCloudConfig(buildCloudConfig(spec), spec.extra);
  return `#cloud-config\n${yaml.dump(config, { lineWidth: -1, noRefs: true })}`;
}

export function renderMetaData(spec: Pick<SeedSpec, "instanceId" | "hostname">): string {
  return yaml.dump({ "instance-id": spec.instanceId, "local-hostname": spec.hostname });
}

/** DHCP on the first virtio NIC, whatever the guest names it. */
export function renderNetworkConfig(): string {
  return yaml.dump({
    version: 2,
    ethernets: {
      predictable: { match: { name: "en*" }, dhcp4: true, dhcp6: false },
      legacy: { match: { name: "eth*" }, dhcp4: true, dhcp6: false },
    },
  });
}
