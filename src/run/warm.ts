import { rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { cachePath } from "../cache/layout.js";
import { acquireLock } from "../cache/lock.js";
import type { CloudConfig } from "../cloud-init/user-data.js";
import { formatDuration } from "../units/duration.js";
import { formatSize } from "../units/size.js";
import { rebaseOverlay } from "../disk/overlay.js";
import type { Guest } from "../guest/guest.js";
import type { CachedImage } from "../image/cache.js";
import {
  hostCpuIdentity,
  machineArgs,
  qemuVersion,
  snapshotKey,
  type SnapshotKeyParts,
} from "../snapshot/key.js";
import {
  commitSnapshot,
  createPartialSnapshot,
  findSnapshot,
  snapshotEntryName,
  snapshotsDir,
  verifySnapshot,
  type CachedSnapshot,
  type SnapshotInfo,
} from "../snapshot/store.js";
import { buildWorkdirCommand } from "../sync/tar-args.js";
import type { Emit } from "./events.js";

/** Which snapshot a guest with these settings would use, and whether it exists yet. */
export interface SnapshotPlan {
  key: string;
  entry: string;
  parts: SnapshotKeyParts;
  existing: CachedSnapshot | undefined;
}

export async function planSnapshot(
  guest: Guest,
  image: CachedImage,
  userData: CloudConfig | undefined,
  cacheDir: string,
): Promise<SnapshotPlan> {
  const spec = guest.machineSpec();
  const parts: SnapshotKeyParts = {
    imageDigest: image.info.digest,
    qemuVersion: await qemuVersion(),
    machine: machineArgs(spec),
    hostCpu: spec.accel === "kvm" ? await hostCpuIdentity() : undefined,
    // The user's cloud-config ran during the saved boot: other settings need another boot.
    userData: userData ?? null,
    diskBytes: guest.spec.diskBytes ?? image.info.virtualSize,
  };
  const key = snapshotKey(parts);
  const entry = snapshotEntryName(image.info.name, key);
  return { key, entry, parts, existing: await findSnapshot(cacheDir, entry) };
}

/**
 * Restores a guest from a snapshot: a new overlay over the saved disk, QEMU waiting for the
 * saved state, which is checked against its recorded digests while QEMU starts.
 */
export async function restoreSnapshot(
  guest: Guest,
  snapshot: CachedSnapshot,
  deadline: number,
  signal: AbortSignal,
): Promise<void> {
  await guest.createOverlay(signal, { path: snapshot.diskPath, format: "qcow2" });
  await guest.restore(
    {
      memoryPath: snapshot.memoryPath,
      hostPublicKey: snapshot.info.hostPublicKey,
      verified: verifyOnce(snapshot, signal),
    },
    deadline,
    signal,
  );
}

// Guests of one matrix run that restore the same snapshot check its files once.
const verifications = new Map<string, Promise<string | undefined>>();

function verifyOnce(snapshot: CachedSnapshot, signal: AbortSignal): Promise<string | undefined> {
  const key = `${snapshot.dir}\n${snapshot.info.createdAt}`;
  let verification = verifications.get(key);
  if (!verification) {
    verification = verifySnapshot(snapshot, signal);
    verifications.set(key, verification);
    // A check that was interrupted proves nothing: the next guest checks again.
    verification.catch(() => verifications.delete(key));
  }
  return verification;
}

/** A snapshot that could not be restored is removed, so that this run saves a good one. */
export async function discardSnapshot(snapshot: CachedSnapshot): Promise<void> {
  verifications.delete(`${snapshot.dir}\n${snapshot.info.createdAt}`);
  await rm(snapshot.dir, { recursive: true, force: true });
}

/**
 * Saves the ready guest as the plan's snapshot, unless another kvmci is saving it right now
 * or has just done so. Returns the snapshot saved, if any.
 */
export async function saveSnapshot(
  guest: Guest,
  image: CachedImage,
  plan: SnapshotPlan,
  o: {
    cacheDir: string;
    deadline: number;
    signal: AbortSignal;
    emit: Emit;
    now: () => Date;
    /** Made (empty) before saving, so that runs restoring the snapshot need no sudo for it. */
    workdir: string;
  },
): Promise<CachedSnapshot | undefined> {
  let lock: AsyncDisposable;
  try {
    lock = await acquireLock(cachePath(o.cacheDir, "locks", `${plan.entry}.lock`), {
      signal: o.signal,
      timeoutMs: 0,
    });
  } catch {
    o.signal.throwIfAborted();
    o.emit({ type: "note", message: "another kvmci is saving this snapshot; not saving it twice" });
    return undefined;
  }
  await using _lock = lock;
  if (await findSnapshot(o.cacheDir, plan.entry)) return undefined;
  const partial = await createPartialSnapshot(o.cacheDir, plan.entry);
  try {
    await guest.exec(buildWorkdirCommand(o.workdir), { signal: o.signal });
    const started = performance.now();
    const saved = await guest.saveState(partial, o.deadline, o.signal);
    const saveMs = Math.round(performance.now() - started);
    // Relative inside the cache, so the entry stays valid if the whole cache moves.
    const finalDir = join(snapshotsDir(o.cacheDir), plan.entry);
    await rebaseOverlay(
      {
        path: saved.diskPath,
        backingFile: image.entry ? relative(finalDir, image.diskPath) : image.diskPath,
        backingFormat: image.info.format,
      },
      o.signal,
    );
    const spec = guest.machineSpec();
    const info: Omit<SnapshotInfo, "files"> = {
      key: plan.key,
      image: { name: image.info.name, entry: image.entry, digest: image.info.digest },
      made: {
        accel: spec.accel,
        cpus: spec.cpus,
        memoryBytes: guest.spec.memoryBytes,
        diskBytes: guest.spec.diskBytes,
        boot: guest.spec.boot,
        network: guest.spec.network,
        qemuVersion: plan.parts.qemuVersion,
        hostCpu: plan.parts.hostCpu,
      },
      user: guest.user,
      hostPublicKey: guest.hostPublicKey,
      saveMs,
      createdAt: o.now().toISOString(),
    };
    const snapshot = await commitSnapshot(partial, o.cacheDir, plan.entry, info);
    o.emit({
      type: "note",
      message: `saved the ready guest as snapshot ${plan.entry} (${formatSize(snapshot.sizeOnDisk)}, ${formatDuration(saveMs)}); later runs with these settings start from it`,
    });
    return snapshot;
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
}
