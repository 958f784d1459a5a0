import { KvmciError } from "../errors.js";
import type { RemoteShell } from "../ssh/session.js";
import { buildWorkdirCommand } from "../sync/tar-args.js";
import { syncWorkspace, type SyncResult, type WorkspaceSource } from "../sync/transfer.js";
import { formatSize } from "../units/size.js";
import type { Emit, RunEvent } from "./events.js";
import type { RunConfig } from "./run-config.js";

/** The sync phase: the workspace into the workdir (or, with --no-sync, an empty workdir). */
export async function putWorkspace(
  guest: RemoteShell,
  config: RunConfig,
  o: { signal: AbortSignal; emit: Emit },
): Promise<void> {
  if (!config.sync) {
    const made = await guest.exec(buildWorkdirCommand(config.workdir), { signal: o.signal });
    if (made.code !== 0)
      throw new KvmciError(
        "guestLost",
        `Creating ${config.workdir} in the guest failed (exit code ${made.code})`,
      );
    return;
  }
  const synced = await syncWorkspace(
    guest,
    { ...workspaceSource(config)!, workdir: config.workdir },
    o.signal,
  );
  o.emit(syncedNote(synced, "ssh"));
}

/** Where a run's workspace comes from, or undefined with --no-sync. */
export function workspaceSource(config: RunConfig): WorkspaceSource | undefined {
  if (!config.sync) return undefined;
  return { cwd: config.cwd, excludes: config.exclude, artifactsDir: config.artifactsDir };
}

/** What was synced, and how: over SSH, or on the guest's workspace disk. */
export function syncedNote(synced: SyncResult, how: "ssh" | "disk"): RunEvent {
  const size = formatSize(synced.bytes);
  const on = how === "disk" ? ", on the workspace disk" : "";
  return {
    type: "note",
    message:
      synced.mode === "git"
        ? `synced ${synced.files} files, ${size}${on} (git: tracked and untracked, not ignored)`
        : `synced the folder, ${size}${on} (not a git work tree: everything in it; --exclude leaves things out)`,
  };
}
