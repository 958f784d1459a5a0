import { rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { cachePath } from "../cache/layout.js";
import { acquireLock } from "../cache/lock.js";
import type { CloudConfig } from "../cloud-init/user-data.js";
import { formatDuration } from "../units/duration.js";
import { formatSize } from "../units/size.js";
import { rebaseOverlay } from "../disk/overlay.js";
import type { Guest, GuestUserIds } from "../guest/guest.js";
import type { CachedImage } from "../image/cache.js";
import {
  hostCpuIdentity,
  machineArgs,
  snapshotKey,
  type SnapshotKeyParts,
} from "../snapshot/key.js";
import { qemuVersion } from "../qemu/version.js";
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
import { markInUse } from "../cache/in-use.js";
import { isKvmciError } from "../errors.js";
import { touchFolder } from "../image/cache.js";
import { errorMessage } from "../units/error-message.js";
import type { Emit } from "./events.js";
import type { PhaseClock } from "./phase-clock.js";
import { mountableWorkdir, wakeAgentScript } from "../guest/wake.js";
import type { SyncResult, WorkspaceSource } from "../sync/transfer.js";
import { workspaceDiskUnavailable } from "../sync/workspace-disk.js";
import { syncedNote } from "./workspace.js";

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
    qemuVersion: await qemuVersion(spec.arch),
    machine: machineArgs(spec),
    hostCpu: spec.accel === "kvm" ? await hostCpuIdentity() : undefined,
    // The user's cloud-config ran during the saved boot: other settings need another boot.
    userData: userData ?? null,
    diskBytes: guest.spec.diskBytes ?? image.info.virtualSize,
    wakeAgent: wakeAgentScript,
  };
  const key = snapshotKey(parts);
  const entry = snapshotEntryName(image.info.name, key);
  return { key, entry, parts, existing: await findSnapshot(cacheDir, entry) };
}

/**
 * Restores a guest from a snapshot: its overlay (already over the saved disk) under QEMU
 * waiting for the saved state, which is checked against its recorded digests while QEMU starts.
 */
export async function restoreSnapshot(
  guest: Guest,
  snapshot: CachedSnapshot,
  deadline: number,
  signal: AbortSignal,
  workspaceDir?: string,
): Promise<void> {
  await guest.restore(
    {
      memoryPath: snapshot.memoryPath,
      ramPath: snapshot.ramPath,
      hostPublicKey: snapshot.info.hostPublicKey,
      verified: verifyOnce(snapshot, signal),
      workspaceDir,
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
    /** Runs while the saved guest is stopped, before it wakes (Guest.saveState). */
    beforeWake?: (owner: GuestUserIds | undefined) => Promise<string | undefined>;
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
    const saved = await guest.saveState(partial, o.deadline, o.signal, o.beforeWake);
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
        arch: spec.arch,
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
      userIds: saved.owner,
      hostPublicKey: guest.hostPublicKey,
      saveMs,
      createdAt: o.now().toISOString(),
    };
    const snapshot = await commitSnapshot(partial, o.cacheDir, plan.entry, info, saved.ramSha256);
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

export interface StartOptions {
  /** The snapshot this guest would use (undefined with --no-snapshot). */
  plan: SnapshotPlan | undefined;
  image: CachedImage;
  cacheDir: string;
  bootTimeoutMs: number;
  workdir: string;
  /** The workspace to sync (undefined with --no-sync): a restored guest gets it on its disk. */
  workspace: WorkspaceSource | undefined;
  clock: PhaseClock;
  signal: AbortSignal;
  emit: Emit;
  now: () => Date;
}

export interface StartedGuest {
  /** How the snapshot was used: restored from, or saved now. */
  snapshot: { entry: string; use: "restored" | "saved" } | undefined;
  cloudInitErrors: string[];
  /** The restored snapshot stays in use (its disk backs the guest's) until this is disposed. */
  inUse: AsyncDisposable | undefined;
  /** The workspace is in the workdir already (a restored guest mounted its workspace disk). */
  synced: boolean;
}

/**
 * Starts a guest ready for commands: restored from its snapshot when there is one (a snapshot
 * that cannot be restored is removed, and the guest boots cold instead), else booted cold and,
 * unless --no-snapshot, saved for the next run (a save that fails is a warning and the guest is
 * booted again without one). Phases: overlay, seed, then restore, or boot, ready and snapshot.
 */
export async function startGuest(guest: Guest, o: StartOptions): Promise<StartedGuest> {
  const { clock, signal, emit } = o;
  const snapshot = o.plan?.existing;
  await clock.time("overlay", () =>
    guest.createOverlay(
      signal,
      snapshot ? { path: snapshot.diskPath, format: "qcow2" } : undefined,
    ),
  );
  await clock.time("seed", () => guest.writeSeed(o.now()));
  const inUse = snapshot ? await markInUse(o.cacheDir, snapshot.entry, signal) : undefined;
  try {
    if (snapshot) {
      const packed = await packWorkspaceDisk(guest, snapshot.info.userIds, o, { timed: true });
      clock.start("restore");
      try {
        await restoreSnapshot(
          guest,
          snapshot,
          Date.now() + o.bootTimeoutMs,
          signal,
          packed ? o.workdir : undefined,
        );
        clock.end(true);
        await touchFolder(snapshot.dir);
        emit({ type: "note", message: `started from snapshot ${snapshot.entry}` });
        reportMounted(guest, packed, emit);
        return {
          snapshot: { entry: snapshot.entry, use: "restored" },
          cloudInitErrors: [],
          inUse,
          synced: guest.workspaceMounted,
        };
      } catch (error) {
        clock.end(false);
        if (signal.aborted) throw error;
        emit({
          type: "note",
          message: `snapshot ${snapshot.entry} could not be restored (${errorMessage(error)}); booting cold and saving a new one`,
        });
        await discardSnapshot(snapshot);
        await guest.reset(signal);
      }
    }
    let cloudInitErrors = await bootCold(guest, o);
    if (!o.plan) return { snapshot: undefined, cloudInitErrors, inUse, synced: false };
    try {
      // The saving guest wakes like a restored one: its workspace goes on its disk the same way,
      // packed while it is stopped (inside the snapshot phase).
      let packed: SyncResult | undefined;
      const saved = await clock.time("snapshot", () =>
        saveSnapshot(guest, o.image, o.plan!, {
          cacheDir: o.cacheDir,
          deadline: Date.now() + o.bootTimeoutMs,
          signal,
          emit,
          now: o.now,
          workdir: o.workdir,
          beforeWake: async (owner) => {
            packed = await packWorkspaceDisk(guest, owner, o, { timed: false });
            return packed ? o.workdir : undefined;
          },
        }),
      );
      if (saved) reportMounted(guest, packed, emit);
      return {
        snapshot: saved ? { entry: saved.entry, use: "saved" } : undefined,
        cloudInitErrors,
        inUse,
        synced: guest.workspaceMounted,
      };
    } catch (error) {
      if (signal.aborted || isKvmciError(error)) throw error;
      if (!guest.running) throw await guest.lostFailure(error);
      // The guest may be stopped half-way through the save: start it over, without saving.
      emit({
        type: "warning",
        message: `saving a snapshot failed (${errorMessage(error)}); booting again without one`,
      });
      await guest.reset(signal);
      cloudInitErrors = await bootCold(guest, o);
      return { snapshot: undefined, cloudInitErrors, inUse, synced: false };
    }
  } catch (error) {
    await inUse?.[Symbol.asyncDispose]();
    throw error;
  }
}

/**
 * The workspace packed into the guest's workspace disk, before a restore (its sync phase, when
 * `timed`) or after a save, for a saved guest whose user's ids are known and a workdir the guest
 * can mount it on. Returns what was packed, or undefined when the workspace goes over SSH after
 * the wake (and says why, when that is not the user's choice).
 */
async function packWorkspaceDisk(
  guest: Guest,
  owner: GuestUserIds | undefined,
  o: StartOptions,
  how: { timed: boolean },
): Promise<SyncResult | undefined> {
  if (!o.workspace || !owner) return undefined;
  if (!mountableWorkdir(o.workdir)) {
    o.emit({
      type: "note",
      message: `the workspace goes over SSH, more slowly: the guest mounts its workspace disk only on a workdir of letters, digits and . _ - / (not ${JSON.stringify(o.workdir)})`,
    });
    return undefined;
  }
  const unavailable = await workspaceDiskUnavailable();
  if (unavailable) {
    o.emit({ type: "note", message: `the workspace goes over SSH, more slowly: ${unavailable}` });
    return undefined;
  }
  const pack = () => guest.packWorkspaceDisk(o.workspace!, owner, o.signal);
  const packed = how.timed ? await o.clock.time("sync", pack) : await pack();
  if (packed.kind === "built") return packed.sync;
  o.emit({
    type: "note",
    message: `the workspace goes over SSH, more slowly: ${packed.why}`,
  });
  return undefined;
}

/** Says where a woken guest's workspace came from, when it was packed on its disk. */
function reportMounted(guest: Guest, packed: SyncResult | undefined, emit: Emit): void {
  if (packed && guest.workspaceMounted) emit(syncedNote(packed, "disk"));
  else if (packed)
    emit({
      type: "note",
      message: "the guest did not mount its workspace disk; sending the workspace over SSH",
    });
}

/** Boots the guest and waits until it is ready: phases boot, then ready once SSH answers. */
async function bootCold(guest: Guest, o: StartOptions): Promise<string[]> {
  o.clock.start("boot");
  // A guest that will be saved has its memory in a file: the save copies it in a moment.
  await guest.launch(o.signal, { memory: o.plan ? "saveable" : undefined });
  const ready = await guest.waitReady(Date.now() + o.bootTimeoutMs, o.signal, () =>
    o.clock.start("ready"),
  );
  o.clock.end(true);
  for (const problem of ready.cloudInitErrors)
    o.emit({ type: "warning", message: `cloud-init reported: ${problem}` });
  return ready.cloudInitErrors;
}
