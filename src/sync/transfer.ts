import { relative, isAbsolute } from "node:path";
import { KvmciError } from "../errors.js";
import type { RemoteShell } from "../ssh/session.js";
import { startHostTar } from "./host-tar.js";
import { buildPackArgs, buildUnpackCommand } from "./tar-args.js";
import { listWorkspace } from "./workspace.js";
import { tailLines } from "../units/text.js";

export interface SyncResult {
  mode: "git" | "folder";
  /** Files sent (folders not counted), as the archive holds them: what tar left out is not. */
  files: number;
  /** Size of the tar stream sent. */
  bytes: number;
}

/** Streams the workspace into the guest's workdir as one tar stream over SSH. */
export async function syncWorkspace(
  guest: RemoteShell,
  o: { cwd: string; workdir: string; excludes: string[]; artifactsDir: string },
  signal: AbortSignal,
): Promise<SyncResult> {
  const listing = await listWorkspace(o.cwd);
  const excludes = [...o.excludes];
  // Artifacts of an earlier run are output, not input; leave them on the host.
  const artifactsRel = relative(o.cwd, o.artifactsDir);
  if (artifactsRel && !artifactsRel.startsWith("..") && !isAbsolute(artifactsRel))
    excludes.push(`./${artifactsRel}`, artifactsRel);
  const tar = startHostTar(
    buildPackArgs({ dir: o.cwd, fromList: listing.mode === "git", excludes }),
    { input: listing.mode === "git" ? listing.files.join("\0") : undefined, signal },
  );
  const stderr: Buffer[] = [];
  const remote = await guest.exec(buildUnpackCommand(o.workdir), {
    stdin: tar.archive,
    onStderr: (chunk) => stderr.push(chunk),
    signal,
  });
  const local = await tar.done;
  const bytes = tar.bytes();
  if (local.exitCode !== 0) {
    throw new KvmciError(
      "usage",
      `Packing the workspace failed: tar exited with code ${local.exitCode}`,
      {
        details: tailLines(local.stderr, 10),
        hint: "Check that every file in the workspace is readable, or leave unreadable ones out with --exclude.",
      },
    );
  }
  if (remote.code !== 0) {
    throw new KvmciError(
      "guestLost",
      `Unpacking the workspace in the guest failed (exit code ${remote.code})`,
      {
        details: tailLines(Buffer.concat(stderr).toString(), 10),
        hint: "The guest's disk may be full: use --disk to give it more room.",
      },
    );
  }
  return { mode: listing.mode, files: await tar.files, bytes };
}
