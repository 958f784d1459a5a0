import { mkdir } from "node:fs/promises";
import { relative, isAbsolute } from "node:path";
import { PassThrough } from "node:stream";
import { execa } from "execa";
import { KvmciError } from "../errors.js";
import type { RemoteShell } from "../ssh/session.js";
import {
  buildArtifactPackCommand,
  buildArtifactUnpackArgs,
  buildPackArgs,
  buildUnpackCommand,
} from "./tar-args.js";
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
      "internal",
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

/** Copies files matching the globs from the guest's workdir into a host folder. Returns their paths. */
export async function collectArtifacts(
  guest: RemoteShell,
  o: { workdir: string; globs: string[]; dir: string },
  signal: AbortSignal,
): Promise<string[]> {
  let unpack: ReturnType<typeof startUnpack> | undefined;
  const stderr: Buffer[] = [];
  const remote = await guest.exec(buildArtifactPackCommand(o.workdir, o.globs), {
    // Start the host tar only when bytes arrive: no match means no archive at all.
    onStdout: (chunk) => {
      unpack ??= startUnpack(o.dir, signal);
      unpack.write(chunk);
    },
    onStderr: (chunk) => stderr.push(chunk),
    signal,
  });
  if (remote.code !== 0) {
    throw new KvmciError(
      "guestLost",
      `Packing artifacts in the guest failed (exit code ${remote.code})`,
      {
        details: tailLines(Buffer.concat(stderr).toString(), 10),
      },
    );
  }
  if (!unpack) return [];
  return unpack.finish();
}

function startUnpack(dir: string, signal: AbortSignal) {
  const ready = mkdir(dir, { recursive: true });
  const chunks: Buffer[] = [];
  let child: ReturnType<typeof execa> | undefined;
  const started = ready.then(() => {
    const [file, ...args] = buildArtifactUnpackArgs(dir);
    child = execa(file ?? "tar", args, { stdin: "pipe", reject: false, cancelSignal: signal });
    for (const chunk of chunks) child.stdin?.write(chunk);
  });
  return {
    write(chunk: Buffer) {
      if (child) child.stdin?.write(chunk);
      else chunks.push(chunk);
    },
    async finish(): Promise<string[]> {
      await started;
      if (!child) throw new Error("artifact unpacker did not start");
      child.stdin?.end();
      const result = await child;
      if (result.exitCode !== 0) {
        throw new KvmciError(
          "internal",
          `Unpacking artifacts into ${dir} failed (tar exit code ${result.exitCode})`,
          {
            details: tailLines(String(result.stderr ?? ""), 10),
          },
        );
      }
      return String(result.stdout ?? "")
        .split("\n")
        .filter((l) => l && !l.endsWith("/"));
    },
  };
}
