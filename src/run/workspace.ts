import { KvmciError } from "../errors.js";
import type { RemoteShell } from "../ssh/session.js";
import { buildWorkdirCommand } from "../sync/tar-args.js";
import { syncWorkspace } from "../sync/transfer.js";
import { formatSize } from "../units/size.js";
import type { Emit } from "./events.js";
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
    {
      cwd: config.cwd,
      workdir: config.workdir,
      excludes: config.exclude,
      artifactsDir: config.artifactsDir,
    },
    o.signal,
  );
  const size = formatSize(synced.bytes);
  o.emit({
    type: "note",
    message:
      synced.mode === "git"
        ? `synced ${synced.files} files, ${size} (git: tracked and untracked, not ignored)`
        : `synced the folder, ${size} (not a git work tree: everything in it; --exclude leaves things out)`,
  });
}
