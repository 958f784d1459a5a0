import { readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { execa } from "execa";
import { KvmciError } from "../errors.js";
import { sudoWithoutPassword, type EnsureTools } from "../host/packages.js";
import { which } from "../host/which.js";

/**
 * How an image is built from packages:
 * - `root`: kvmci runs as root; mmdebstrap in root mode, in namespaces of its own.
 * - `unshare`: an ordinary user with unprivileged user namespaces and subordinate ids.
 * - `sudo`: an ordinary user who may use sudo without a password (a GitHub-hosted runner, where
 *   AppArmor refuses unprivileged user namespaces): the root build, through `sudo -n`.
 */
export type BuildMode = "root" | "unshare" | "sudo";

export interface BuildModeChoice {
  mode: BuildMode;
  /** Why, for the one line that says which path was taken. */
  why: string;
}

/** Picks how this user can build an image here, or says what would make it possible. */
export async function chooseBuildMode(o: {
  isRoot: boolean;
  ensureTools: EnsureTools;
  signal?: AbortSignal;
}): Promise<BuildModeChoice> {
  const { username } = userInfo();
  const unshareLacks = o.isRoot ? [] : await unshareBuildLacks(o.signal);
  // sudo is asked only when it is the way left: an unpermitted sudo may be logged and reported.
  const sudo = !o.isRoot && unshareLacks.length > 0 && (await sudoWithoutPassword(o.signal));
  const choice = decideBuildMode({ isRoot: o.isRoot, username, unshareLacks, sudo });
  if ("problem" in choice)
    throw new KvmciError("hostRequirement", choice.problem, { hint: choice.hint });
  return choice;
}

/** What this host offers an image build, as `chooseBuildMode` and `kvmci doctor` see it. */
export interface BuildHost {
  isRoot: boolean;
  username: string;
  /** What building in user namespaces (as an ordinary user) lacks here; empty when nothing. */
  unshareLacks: string[];
  /** Whether this user may use sudo without a password. */
  sudo: boolean;
}

/** The way an image build takes on such a host, or what is missing for any. Pure. */
export function decideBuildMode(
  host: BuildHost,
): BuildModeChoice | { problem: string; hint: string } {
  if (host.isRoot) return { mode: "root", why: "kvmci runs as root" };
  if (host.unshareLacks.length === 0)
    return { mode: "unshare", why: "unprivileged user namespaces and subordinate ids work here" };
  const lacks = host.unshareLacks.join(", ");
  if (host.sudo)
    return {
      mode: "sudo",
      why: `building without root needs ${lacks}; this user may use sudo without a password, so the build runs as root through sudo -n`,
    };
  return {
    problem: `Building an image as ${host.username} needs ${lacks}, or passwordless sudo`,
    hint:
      `Either let ${host.username} build without root: sudo apt-get install uidmap && sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${host.username} ` +
      "(and allow unprivileged user namespaces), or build once as root with the same cache: " +
      "sudo KVMCI_CACHE_DIR=<cache folder> kvmci image build.",
  };
}

/**
 * What an ordinary user lacks here to build in user namespaces, as mmdebstrap's unshare mode
 * does: the namespaces themselves, newuidmap and newgidmap, and subordinate id ranges.
 */
export async function unshareBuildLacks(signal?: AbortSignal): Promise<string[]> {
  const { username, uid } = userInfo();
  const userns = await userNamespacesWork(signal);
  const missing: string[] = [];
  if (!userns.ok) missing.push(`unprivileged user namespaces (${userns.why})`);
  if (!(await which("newuidmap")) || !(await which("newgidmap")))
    missing.push("newuidmap and newgidmap (package uidmap)");
  for (const file of ["/etc/subuid", "/etc/subgid"]) {
    const text = await readFile(file, "utf8").catch(() => "");
    if (!hasRange(text, username, uid)) missing.push(`a range for ${username} in ${file}`);
  }
  return missing;
}

/**
 * Whether this user may create a user namespace and map itself to root in it, as mmdebstrap's
 * unshare mode does. On Ubuntu 24.04 AppArmor lets the namespace be made but refuses the map.
 */
export async function userNamespacesWork(
  signal?: AbortSignal,
): Promise<{ ok: true } | { ok: false; why: string }> {
  if (!(await which("unshare"))) return { ok: false, why: "unshare is not installed" };
  const probe = await execa("unshare", ["--user", "--map-root-user", "true"], {
    reject: false,
    stdin: "ignore",
    timeout: 10_000,
    cancelSignal: signal,
  });
  if (probe.exitCode === 0) return { ok: true };
  const line =
    String(probe.stderr ?? "")
      .trim()
      .split("\n")
      .pop() ?? "";
  return { ok: false, why: line ? `refused here: ${line}` : "refused here" };
}

/** Whether a subuid/subgid file gives the user (by name or id) a range. Pure. */
export function hasRange(text: string, username: string, uid: number): boolean {
  return text.split("\n").some((line) => {
    const [who, , count] = line.trim().split(":");
    return (who === username || who === String(uid)) && Number(count) > 0;
  });
}
