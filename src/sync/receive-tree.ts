import { constants, createWriteStream } from "node:fs";
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  open,
  readlink,
  realpath,
  rm,
  symlink,
  utimes,
} from "node:fs/promises";
import { isAbsolute, join, posix, relative, sep } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Parser, type ReadEntry } from "tar";
import { formatSize } from "../units/size.js";

/**
 * The guest is untrusted, so what it sends back is read as data: a tar stream parsed here, in
 * kvmci, never handed to a tar program that would recreate whatever it describes. Only regular
 * files and directories are made, owned by whoever runs kvmci, with modes from the umask
 * (setuid, setgid and sticky bits never survive). Device nodes, FIFOs and sockets are refused;
 * a hard link becomes a copy when it names a file of the same archive and is refused
 * otherwise; names that leave the tree are refused; a symbolic link is kept only when it
 * really resolves to something inside the tree, and links are made after every file, so no
 * write ever goes through one.
 */
export interface TreeLimits {
  /** Total size of the files' contents. */
  maxBytes: number;
  /** Regular files, directories and links, together. */
  maxEntries: number;
}

export interface RefusedEntry {
  path: string;
  why: string;
}

export interface ReceivedTree {
  /** Regular files written, as relative paths with `/`. */
  files: string[];
  /** Symbolic links kept (each resolves inside the tree). */
  links: string[];
  bytes: number;
  refused: RefusedEntry[];
  /** Why the rest of the stream was not read: a limit, a malformed archive, a stop. */
  stopped: string | undefined;
  /** Writing on the host failed (its disk full, say): the host's fault, not the guest's. */
  hostError: Error | undefined;
}

export interface TreeReceiver {
  /** Write the tar stream here (back-pressure respected); end it when the stream ends. */
  sink: Writable;
  /** Settles when the stream has ended (or reception stopped) and the tree is complete. */
  done: Promise<ReceivedTree>;
  /** Stops reading: the file being written is removed; what is complete stays. */
  stop(reason: string): void;
}

/** Without --artifacts-max-size and --artifacts-max-files. */
export const defaultTreeLimits: TreeLimits = { maxBytes: 1024 ** 3, maxEntries: 100_000 };

/** Names longer than this are not made; a file system would refuse them anyway. */
const maxPathBytes = 4096;
const maxNameBytes = 255;
/** Pax and long-name headers are a few hundred bytes; anything near this is not a real one. */
const maxMetaEntrySize = 64 * 1024;

/**
 * Receives a tar stream into `dir`, which must be a fresh, empty folder of this process's own
 * (nothing else may write into it while it fills). `umask` decides the modes.
 */
export function receiveTree(dir: string, o: { limits: TreeLimits; umask: number }): TreeReceiver {
  const received: ReceivedTree = {
    files: [],
    links: [],
    bytes: 0,
    refused: [],
    stopped: undefined,
    hostError: undefined,
  };
  const written = new Set<string>();
  const pendingLinks: { path: string; target: string }[] = [];
  let entries = 0;
  let current: { path: string; abort: () => void } | undefined;
  let work: Promise<void> = Promise.resolve();
  let firstChunk = true;
  const folderMode = 0o777 & ~o.umask;

  const parser = new Parser({
    strict: false,
    // Compressed streams are not accepted (see the sink); these keep the parser from guessing.
    zstd: false,
    brotli: false,
    maxMetaEntrySize,
    onwarn: (code, message) => {
      if (received.stopped) return;
      // An archive that is cut short or garbled ends reception: what is complete stays.
      if (code === "TAR_BAD_ARCHIVE" || code === "TAR_ABORT" || code === "TAR_ENTRY_INVALID")
        stop(`the archive from the guest is malformed (${message})`);
    },
  });
  parser.on("entry", (entry: ReadEntry) => {
    if (received.stopped) {
      entry.resume();
      return;
    }
    // Each entry is handled in order; the parser waits while one is being written.
    work = work
      .then(() => take(entry))
      .catch((error: unknown) => {
        received.hostError ??= error instanceof Error ? error : new Error(String(error));
        stop(`writing on the host failed: ${received.hostError.message}`);
      });
  });

  const parsed = new Promise<void>((resolve) => {
    parser.on("end", resolve);
    parser.on("close", resolve);
    parser.on("error", (error: Error) => {
      stop(`the archive from the guest is malformed (${error.message})`);
      resolve();
    });
  });

  let stopped!: () => void;
  const stopSignal = new Promise<void>((resolve) => (stopped = resolve));

  function stop(reason: string): void {
    if (received.stopped) return;
    received.stopped = reason;
    current?.abort();
    parser.abort(new Error(reason));
    stopped();
  }

  async function take(entry: ReadEntry): Promise<void> {
    if (received.stopped) {
      entry.resume();
      return;
    }
    const name = normalizeName(entry.path);
    if ("why" in name) {
      received.refused.push({ path: entry.path, why: name.why });
      entry.resume();
      return;
    }
    const path = name.path;
    if (path === "") {
      // The tree's own root (`./`): already there.
      entry.resume();
      return;
    }
    const kind = kindOf(entry.type);
    if (kind === undefined) {
      received.refused.push({ path, why: describeType(entry.type) });
      entry.resume();
      return;
    }
    if (++entries > o.limits.maxEntries) {
      entry.resume();
      stop(`more than ${o.limits.maxEntries} files`);
      return;
    }
    if (kind === "link") {
      pendingLinks.push({ path, target: entry.linkpath ?? "" });
      entry.resume();
      return;
    }
    if (kind === "hardlink") {
      entry.resume();
      await copyHardLink(path, entry.linkpath ?? "");
      return;
    }
    const parent = await makeParents(dir, path, folderMode);
    if (parent !== undefined) {
      received.refused.push({ path, why: parent });
      entry.resume();
      return;
    }
    const target = join(dir, path);
    if (kind === "directory") {
      entry.resume();
      await makeDirectory(target, folderMode).catch((error: NodeJS.ErrnoException) => {
        received.refused.push({ path, why: whyNot(error) });
      });
      return;
    }
    if (received.bytes + entry.size > o.limits.maxBytes) {
      entry.resume();
      stop(`more than ${formatSize(o.limits.maxBytes)} in all`);
      return;
    }
    received.bytes += entry.size;
    await writeFile(entry, path, target);
  }

  /**
   * A second name of a file this archive already brought (tar stores it as a hard link): made
   * as a copy of that file, never as a link, so it cannot join anything outside the tree.
   */
  async function copyHardLink(path: string, linkpath: string): Promise<void> {
    const source = normalizeName(linkpath);
    if ("why" in source || !written.has(source.path)) {
      received.refused.push({
        path,
        why: `a hard link to ${linkpath}, which is not a file of these artifacts`,
      });
      return;
    }
    const parent = await makeParents(dir, path, folderMode);
    if (parent !== undefined) {
      received.refused.push({ path, why: parent });
      return;
    }
    const { size, mode } = await lstat(join(dir, source.path));
    if (received.bytes + size > o.limits.maxBytes) {
      stop(`more than ${formatSize(o.limits.maxBytes)} in all`);
      return;
    }
    try {
      await copyFile(join(dir, source.path), join(dir, path), constants.COPYFILE_EXCL);
      await chmod(join(dir, path), mode & 0o777);
    } catch (error) {
      received.refused.push({ path, why: whyNot(error as NodeJS.ErrnoException) });
      return;
    }
    received.bytes += size;
    written.add(path);
    received.files.push(path);
  }

  async function writeFile(entry: ReadEntry, path: string, target: string): Promise<void> {
    const executable = ((entry.mode ?? 0) & 0o111) !== 0;
    let handle;
    try {
      // O_NOFOLLOW: nothing in the tree is a link yet, and this keeps it so even if it were.
      handle = await open(
        target,
        constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
        executable ? 0o777 : 0o666,
      );
      // An earlier entry of the same name may have left other bits: the umask decides.
      await handle.chmod((executable ? 0o777 : 0o666) & ~o.umask);
    } catch (error) {
      await handle?.close();
      received.refused.push({ path, why: whyNot(error as NodeJS.ErrnoException) });
      entry.resume();
      return;
    }
    const file = createWriteStream("", { fd: handle, flush: false });
    const aborted = new AbortController();
    current = { path, abort: () => aborted.abort() };
    try {
      await pipeline(entry, file, { signal: aborted.signal });
    } catch (error) {
      current = undefined;
      await rm(target, { force: true });
      if (aborted.signal.aborted) return;
      // The host's own disk failed (full, read-only): not the guest's doing.
      throw error;
    }
    current = undefined;
    if (entry.mtime && Number.isFinite(entry.mtime.getTime()))
      await utimes(target, entry.mtime, entry.mtime).catch(() => undefined);
    if (!written.has(path)) {
      written.add(path);
      received.files.push(path);
    }
  }

  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (received.stopped) return callback();
      if (firstChunk) {
        firstChunk = false;
        // gzip or zstd magic: the parser would inflate it, and a small stream can inflate
        // into a very large one. kvmci's own pack command never compresses.
        if (chunk[0] === 0x1f && chunk[1] === 0x8b) {
          stop("the archive from the guest is compressed; kvmci expects a plain tar stream");
          return callback();
        }
      }
      if (parser.write(chunk)) callback();
      else parser.once("drain", () => callback());
    },
    final(callback) {
      parser.end();
      callback();
    },
  });

  const done = (async () => {
    await Promise.race([parsed, stopSignal]);
    // Entries already queued finish (or, after a stop, are skipped) before the links are made.
    for (let before; before !== work;) {
      before = work;
      await work;
    }
    await makeLinks(dir, pendingLinks, received, folderMode);
    return received;
  })();

  return { sink, done, stop };
}

type Kind = "file" | "directory" | "link" | "hardlink";

function kindOf(type: string): Kind | undefined {
  switch (type) {
    case "File":
    case "OldFile":
    case "ContiguousFile":
      return "file";
    case "Directory":
      return "directory";
    case "SymbolicLink":
      return "link";
    case "Link":
      return "hardlink";
    default:
      return undefined;
  }
}

function describeType(type: string): string {
  switch (type) {
    case "CharacterDevice":
    case "BlockDevice":
      return "a device node (never made)";
    case "FIFO":
      return "a FIFO (never made)";
    default:
      return `an entry of type ${type} (only files, folders and links are made)`;
  }
}

/**
 * A member name as a path inside the tree, or why it is refused: absolute names, `..`, and
 * names too long for a file system. `./a//b/` becomes `a/b`. Pure.
 */
export function normalizeName(name: string): { path: string } | { why: string } {
  if (name.includes("\0")) return { why: "its name holds a NUL byte" };
  if (name.startsWith("/")) return { why: "its name is absolute" };
  const parts = name.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) return { why: "its name leaves the tree (..)" };
  const path = parts.join("/");
  if (Buffer.byteLength(path) > maxPathBytes) return { why: "its name is too long" };
  if (parts.some((part) => Buffer.byteLength(part) > maxNameBytes))
    return { why: "a part of its name is too long" };
  return { path };
}

/**
 * Makes the folders above `path`, refusing to go through anything that is not a folder made
 * here (a file of an earlier entry, say). Returns why not, or undefined.
 */
async function makeParents(root: string, path: string, mode: number): Promise<string | undefined> {
  const parts = path.split("/").slice(0, -1);
  let at = root;
  for (const part of parts) {
    at = join(at, part);
    try {
      const stat = await lstat(at);
      if (!stat.isDirectory()) return `${relative(root, at)} is not a folder`;
    } catch {
      await makeDirectory(at, mode);
    }
  }
  return undefined;
}

async function makeDirectory(path: string, mode: number): Promise<void> {
  try {
    await mkdir(path, { mode });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    if (!(await lstat(path)).isDirectory()) throw error;
    return;
  }
  // mkdir applies the process's umask; the tree's is the one asked for.
  await chmod(path, mode);
}

/**
 * Makes the symbolic links, after every file: relative ones whose target, followed for real
 * (links through links included), is inside the tree. A link left pointing outside the tree,
 * at nothing, or through another refused link, is removed again, until none is.
 */
async function makeLinks(
  root: string,
  links: { path: string; target: string }[],
  received: ReceivedTree,
  folderMode: number,
): Promise<void> {
  const made: string[] = [];
  for (const { path, target } of links) {
    if (target === "" || isAbsolute(target)) {
      received.refused.push({
        path,
        why: `a link to ${target || "nothing"} (absolute links are not kept)`,
      });
      continue;
    }
    const lexical = posix.normalize(posix.join(posix.dirname(path), target));
    if (lexical === ".." || lexical.startsWith("../")) {
      received.refused.push({ path, why: `a link to ${target}, outside the tree` });
      continue;
    }
    // The folder it goes in must be a real folder: never a link made a moment ago.
    if (
      (await makeParents(root, path, folderMode)) !== undefined ||
      (await linkParentIsLink(root, path))
    ) {
      received.refused.push({ path, why: `a link inside another link or a file` });
      continue;
    }
    try {
      await symlink(target, join(root, path));
      made.push(path);
    } catch (error) {
      received.refused.push({ path, why: whyNot(error as NodeJS.ErrnoException) });
    }
  }
  const realRoot = await realpath(root);
  for (let changed = true; changed;) {
    changed = false;
    for (const path of [...made]) {
      const resolved = await realpath(join(root, path)).catch(() => undefined);
      if (resolved !== undefined && (resolved === realRoot || resolved.startsWith(realRoot + sep)))
        continue;
      const target = await readlink(join(root, path)).catch(() => "?");
      await rm(join(root, path), { force: true });
      made.splice(made.indexOf(path), 1);
      received.refused.push({
        path,
        why:
          resolved === undefined
            ? `a link to ${target}, which is not in the tree`
            : `a link to ${target}, which leads outside the tree`,
      });
      changed = true;
    }
  }
  received.links.push(...made);
}

async function linkParentIsLink(root: string, path: string): Promise<boolean> {
  let at = root;
  for (const part of path.split("/").slice(0, -1)) {
    at = join(at, part);
    if ((await lstat(at)).isSymbolicLink()) return true;
  }
  return false;
}

function whyNot(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case "EEXIST":
    case "EISDIR":
      return "another entry of the same name is a folder";
    case "ENOTDIR":
      return "a file of the same name is in the way";
    case "ENAMETOOLONG":
      return "its name is too long";
    case "ELOOP":
      return "a link is in the way";
    default:
      throw error;
  }
}
