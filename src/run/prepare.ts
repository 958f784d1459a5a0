import { copyFile, rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { Readable } from "node:stream";
import { mergeCloudConfig, type CloudConfig } from "../cloud-init/user-data.js";
import type { Provision } from "../guest/provision.js";
import { rebaseOverlay } from "../disk/overlay.js";
import { KvmciError, isKvmciError } from "../errors.js";
import { Guest } from "../guest/guest.js";
import {
  buildCleanupCommand,
  buildInstallCommand,
  nodeInstallCommand,
  prepareKey,
  runScriptCommand,
} from "../guest/provision.js";
import { startHostTar } from "../sync/host-tar.js";
import { shellQuote } from "../ssh/shell-quote.js";
import { tailLines } from "../units/text.js";
import { markInUse } from "../cache/in-use.js";
import {
  commitEntry,
  createPartialEntry,
  findCachedEntry,
  findIntactEntry,
  touchLastUsed,
  ImageFiles,
  imageEntryName,
  imagesDir,
  type CachedImage,
  type ImageInfo,
} from "../image/cache.js";
import { formatDigest, digestFile } from "../image/digest.js";
import { withEntryLock } from "../image/entry-lock.js";
import type { Accel } from "../qemu/args.js";
import type { Arch } from "../units/arch.js";
import type { Emit } from "./events.js";

export interface PrepareOptions {
  cacheDir: string;
  arch: Arch;
  accel: Accel;
  /** The CPU model (see qemu/args.ts, cpuModel). */
  cpu: string;
  cpus: number;
  memoryBytes: number;
  diskBytes: number | undefined;
  boot: "firmware" | "kernel";
  bootTimeoutMs: number;
  consoleLog: string | undefined;
  tmpdir: string | undefined;
  signal: AbortSignal;
  emit: Emit;
  now: () => Date;
  /** cloud-config carrying the host's certificates, for the provisioning boot too. */
  trust: CloudConfig | undefined;
  /** Variables for every provisioning step: the host's proxy, the certificates' bundle. */
  env: Record<string, string>;
}

/**
 * Why the host's Node.js cannot be copied into a guest of this architecture, or undefined when
 * it can. Pure.
 */
export function nodeArchProblem(
  node: { version: string; arch: string; binary: string },
  arch: Arch,
  image: string,
): { message: string; hint: string } | undefined {
  if (node.arch === arch) return undefined;
  return {
    message: `The Node.js to copy into the guest (${node.binary}, ${node.version}) is built for ${node.arch} and cannot run in the ${arch} guest ${image}`,
    hint: `Give node: package to install the distribution's Node.js for ${arch} in the guest, node: PATH with an ${arch} node binary, or node: none.`,
  };
}

/** The prepared image's cache entry name: `<base name>-prepared-<key>`. */
export function preparedEntryName(base: CachedImage, key: string): string {
  return imageEntryName(`${base.info.name}-prepared`, key);
}

/**
 * The base image with the provisioning applied: from the cache when it was made before, else
 * made now (once, even when several kvmci need it at the same time) and cached.
 */
export async function prepareImage(
  base: CachedImage,
  provision: Provision,
  o: PrepareOptions,
): Promise<{ image: CachedImage; reused: boolean }> {
  const problem = provision.node && nodeArchProblem(provision.node, o.arch, base.info.name);
  if (problem) throw new KvmciError("usage", problem.message, { hint: problem.hint });
  const key = prepareKey(base.info.digest, provision, o.diskBytes);
  const entry = preparedEntryName(base, key);
  const events = {
    cacheDir: o.cacheDir,
    signal: o.signal,
    onNote: (message: string) => o.emit({ type: "note", message }),
  };
  const cached = await findIntactEntry(o.cacheDir, entry, events);
  if (cached) return { image: cached, reused: true };
  return withEntryLock(events, entry, async () => {
    const again = await findIntactEntry(o.cacheDir, entry, events);
    if (again) return { image: again, reused: true };
    return { image: await provisionAndSave(base, provision, key, entry, o), reused: false };
  });
}

async function provisionAndSave(
  base: CachedImage,
  provision: Provision,
  key: string,
  entry: string,
  o: PrepareOptions,
): Promise<CachedImage> {
  const { signal, emit } = o;
  const progress = (message: string) => emit({ type: "progress", phase: "prepare", message });
  const output = (stream: "stdout" | "stderr") => (chunk: Buffer) =>
    emit({ type: "output", stream, chunk });
  await using guest = await Guest.create(
    {
      name: base.info.name,
      image: base,
      arch: o.arch,
      accel: o.accel,
      cpu: o.cpu,
      cpus: o.cpus,
      memoryBytes: o.memoryBytes,
      diskBytes: o.diskBytes,
      boot: o.boot,
      network: "user",
      extraUserData: o.trust
        ? provision.cloudConfig
          ? mergeCloudConfig(o.trust, provision.cloudConfig)
          : o.trust
        : provision.cloudConfig,
      consoleLogCopy: o.consoleLog,
    },
    o.tmpdir,
  );
  await guest.createOverlay(signal);
  await guest.writeSeed(o.now());
  progress("booting the image to provision it");
  await guest.launch(signal);
  const ready = await guest.waitReady(Date.now() + o.bootTimeoutMs, signal);
  for (const problem of ready.cloudInitErrors)
    emit({ type: "warning", message: `cloud-init reported (provisioning boot): ${problem}` });

  // The host's proxy reaches apt and the script too.
  const withEnv = (command: string) =>
    Object.keys(o.env).length
      ? `${Object.entries(o.env)
          .map(([k, v]) => `export ${k}=${shellQuote(v)}`)
          .join("; ")}; ${command}`
      : command;
  const step = async (what: string, command: string, stdin?: string) => {
    progress(what);
    emit({ type: "note", message: `provisioning: ${what}` });
    let result;
    try {
      result = await guest.exec(withEnv(command), {
        stdin: stdin === undefined ? undefined : Readable.from([stdin]),
        onStdout: output("stdout"),
        onStderr: output("stderr"),
        signal,
      });
    } catch (error) {
      signal.throwIfAborted();
      throw await guest.lostFailure(error);
    }
    signal.throwIfAborted();
    if (result.code !== 0) {
      throw new KvmciError(
        "provision",
        `Provisioning failed: ${what} exited with code ${result.code}`,
        {
          hint: "Its output is above. Nothing was cached; fix the provisioning and run again.",
        },
      );
    }
  };
  if (provision.packages.length > 0)
    await step(
      `installing ${provision.packages.join(", ")}`,
      buildInstallCommand(provision.packages),
    );
  if (provision.node) {
    const node = provision.node;
    progress(`copying Node.js ${node.version} from the host`);
    emit({
      type: "note",
      message: `provisioning: Node.js ${node.version}${node.npmVersion ? ` with npm ${node.npmVersion}` : ""} from ${node.prefix} into /usr/local (once; later runs use the prepared image)`,
    });
    const tar = startHostTar(["tar", "-c", "-f", "-", "-C", node.prefix, ...node.entries], {
      signal,
    });
    const guestOutput: Buffer[] = [];
    const result = await guest
      .exec(withEnv(nodeInstallCommand), {
        stdin: tar.archive,
        onStdout: (chunk) => guestOutput.push(chunk),
        onStderr: (chunk) => guestOutput.push(chunk),
        signal,
      })
      .catch(async (error: unknown) => {
        signal.throwIfAborted();
        throw await guest.lostFailure(error);
      });
    const packed = await tar.done;
    signal.throwIfAborted();
    if (packed.exitCode !== 0 || result.code !== 0)
      throw new KvmciError(
        "provision",
        `The host's Node.js ${node.version} (${node.binary}) does not run in the ${base.info.name} guest`,
        {
          details: tailLines(`${packed.stderr}\n${Buffer.concat(guestOutput).toString()}`, 8),
          hint: "Give node: package to install the distribution's Node.js instead, node: /path/to/node for another build (an official nodejs.org one runs on most distributions), or node: none.",
        },
      );
  }
  if (provision.script !== undefined)
    await step(
      `running the script from ${provision.scriptSource ?? "kvmci.yml"}`,
      runScriptCommand,
      provision.script,
    );
  await step("cleaning what each guest must have of its own", buildCleanupCommand(guest.user));
  progress("powering off");
  try {
    await guest.shutdown(120_000, signal);
  } catch (error) {
    if (isKvmciError(error) || signal.aborted) throw error;
    throw new KvmciError("provision", `Provisioning failed: ${(error as Error).message}`);
  }

  progress("saving the prepared image");
  const partial = await createPartialEntry(o.cacheDir, entry);
  try {
    const disk = join(partial, ImageFiles.disk);
    await copyFile(guest.overlayPath, disk);
    await rebaseOverlay(
      {
        path: disk,
        backingFile: base.entry
          ? relative(join(imagesDir(o.cacheDir), entry), base.diskPath)
          : base.diskPath,
        backingFormat: base.info.format,
      },
      signal,
    );
    // Direct kernel boot uses the base's kernel: the prepared image keeps its own copy.
    for (const file of [base.info.boot.kernel, base.info.boot.initrd])
      if (file) await copyFile(join(base.dir, file), join(partial, file));
    const info: ImageInfo = {
      ...base.info,
      digest: formatDigest(await digestFile(disk, "sha256", signal)),
      format: "qcow2",
      virtualSize: o.diskBytes ?? base.info.virtualSize,
      source: {
        kind: "prepared",
        key,
        base: base.entry ?? base.diskPath,
        baseDigest: base.info.digest,
        packages: provision.packages,
      },
      createdAt: o.now().toISOString(),
    };
    return await commitEntry(partial, o.cacheDir, entry, info);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
}

/**
 * The prepare phase of a run: its prepared image, made or reused, marked in use and then checked
 * to be there still (as the base image is), so that a gc in between is noticed and the image
 * is made again. Says which it was.
 */
export async function prepareForRun(
  base: CachedImage,
  provision: Provision,
  o: PrepareOptions,
): Promise<{ image: CachedImage; reused: boolean; inUse: AsyncDisposable }> {
  for (;;) {
    const prepared = await prepareImage(base, provision, o);
    const entry = prepared.image.entry!;
    const inUse = await markInUse(o.cacheDir, entry, o.signal);
    if (!(await findCachedEntry(o.cacheDir, entry))) {
      await inUse[Symbol.asyncDispose]();
      continue;
    }
    o.emit({
      type: "note",
      message: prepared.reused
        ? `using prepared image ${entry} (provisioning unchanged)`
        : `saved prepared image ${entry}; later runs skip provisioning until it changes`,
    });
    await touchLastUsed(prepared.image);
    return { ...prepared, inUse };
  }
}
