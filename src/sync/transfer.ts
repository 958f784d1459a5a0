import { relative, isAbsolute } from "node:path";
import { KvmciError } from "../errors.js";
import type { RemoteShell } from "../ssh/session.js";
import { startHostTar, type HostTar } from "./host-tar.js";
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

/** Where the workspace comes from and what stays out of it. */
export interface WorkspaceSource {
  cwd: string;
  excludes: string[];
  artifactsDir: string;
}

/**
 * Starts packing the workspace as one tar stream on the host: in a git work tree the listed
 * files, else the whole folder; never the artifacts folder of an earlier run.
 */
export async function packWorkspace(
  o: WorkspaceSource,
  signal: AbortSignal,
): Promise<{ mode: "git" | "folder"; tar: HostTar }> {
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
  return { mode: listing.mode, tar };
}

/** The error for a host tar that could not pack the workspace. */
export function packingFailed(local: { exitCode: number | undefined; stderr: string }): KvmciError {
  return new KvmciError(
    "usage",
    `Packing the workspace failed: tar exited with code ${local.exitCode}`,
    {
      details: tailLines(local.stderr, 10),
      hint: "Check that every file in the workspace is readable, or leave unreadable ones out with --exclude.",
    },
  );
}

/** Streams the workspace into the guest's workdir as one tar stream over SSH. */
export async function syncWorkspace(
  guest: RemoteShell,
  o: WorkspaceSource & { workdir: string },
  signal: AbortSignal,
): Promise<SyncResult> {
  const { mode, tar } = await packWorkspace(o, signal);
  const stderr: Buffer[] = [];
  const remote = await guest.exec(buildUnpackCommand(o.workdir), {
    stdin: tar.archive,
    onStderr: (chunk) => stderr.push(chunk),
    signal,
  });
  // The guest stopped unpacking before the end: the rest of the archive has no reader.
  if (remote.code !== 0) tar.discard();
  const local = await tar.done;
  const bytes = tar.bytes();
  if (local.exitCode !== 0 && !local.discarded) throw packingFailed(local);
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
  return { mode, files: await tar.files, bytes };
}
