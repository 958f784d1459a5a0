import { relative, isAbsolute } from "node:path";
import { PassThrough } from "node:stream";
import { execa } from "execa";
import { KvmciError } from "../errors.js";
import type { RemoteShell } from "../ssh/session.js";
import { buildPackArgs, buildUnpackCommand } from "./tar-args.js";
import { listWorkspace } from "./workspace.js";
import { tailLines } from "../units/text.js";

export interface SyncResult {
  mode: "git" | "folder";
  files: number | undefined;
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
  const [file, ...args] = buildPackArgs({ dir: o.cwd, fromList: listing.mode === "git", excludes });
  const tar = execa(file ?? "tar", args, {
    input: listing.mode === "git" ? listing.files.join("\0") : undefined,
    stdin: listing.mode === "git" ? "pipe" : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    reject: false,
    buffer: { stdout: false },
    cancelSignal: signal,
  });
  // Hold tar's output (with back-pressure) until the SSH channel opens; left alone, the stream
  // would be drained before anyone reads it.
  const archive = new PassThrough();
  let bytes = 0;
  tar.stdout?.pipe(archive);
  // Counted on tar's side: a "data" listener on the holding stream would start it flowing
  // before the channel is there to read it.
  tar.stdout?.on("data", (chunk: Buffer) => (bytes += chunk.length));
  const stderr: Buffer[] = [];
  const remote = await guest.exec(buildUnpackCommand(o.workdir), {
    stdin: archive,
    onStderr: (chunk) => stderr.push(chunk),
    signal,
  });
  const local = await tar;
  if (local.exitCode !== 0) {
    throw new KvmciError(
      "usage",
      `Packing the workspace failed: tar exited with code ${local.exitCode}`,
      {
        details: tailLines(String(local.stderr ?? ""), 10),
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
  return {
    mode: listing.mode,
    files: listing.mode === "git" ? listing.files.length : undefined,
    bytes,
  };
}
