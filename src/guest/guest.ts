import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { copyFile, rm, writeFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { join } from "node:path";
import { writeSeed } from "../cloud-init/seed.js";
import { finalStageIdle, type CloudConfig } from "../cloud-init/user-data.js";
import { firstBootCovers, firstBootWord } from "../cloud-init/first-boot.js";
import { createOverlay } from "../disk/overlay.js";
import { KvmciError } from "../errors.js";
import { findFreePort } from "../host/port.js";
import { identifyProcess, type ProcessIdentity } from "../host/process-identity.js";
import type { CachedImage } from "../image/cache.js";
import { copyZeroBlocks } from "../image/digest.js";
import { buildQemuArgs, type Accel, type BootMethod } from "../qemu/args.js";
import { aarch64Uefi } from "../qemu/firmware.js";
import type { Arch } from "../units/arch.js";
import { QemuProcess, type QemuExit } from "../qemu/process.js";
import { QmpClient } from "../qemu/qmp.js";
import { generateKeyPair, type KeyPair } from "../ssh/keys.js";
import { sshBannerSeen } from "../ssh/banner.js";
import { shellQuote } from "../ssh/shell-quote.js";
import { HostKeyMismatchError, SshSession, type ExecIo, type ExecResult } from "../ssh/session.js";
import { errorMessage } from "../units/error-message.js";
import { tailLines } from "../units/text.js";
import {
  consoleTailLines,
  failedUnitsOnConsole,
  panicLine,
  parseCloudInitErrors,
  readConsoleTail,
} from "./console.js";
import { waitForCloudInit, type CloudInitWait } from "./readiness.js";
import { createRunFolder, RunFiles, type RunFolder } from "./run-folder.js";
import {
  buildStartAgentCommand,
  buildWakeLine,
  mountableWorkdir,
  WakeChannel,
  wakeAgentScript,
} from "./wake.js";
import {
  buildWorkspaceDisk,
  makeEmptyWorkspaceDisk,
  type WorkspaceDiskResult,
} from "../sync/workspace-disk.js";
import type { WorkspaceSource } from "../sync/transfer.js";
import { artifactsDiskBytes, makeArtifactsDisk } from "../sync/artifacts-disk.js";
import { defaultTreeLimits, type TreeLimits } from "../sync/receive-tree.js";

export interface GuestSpec {
  /** Shown in messages and used as QEMU's name, e.g. `debian-12`. */
  name: string;
  image: CachedImage;
  /** The guest's architecture (the image's). */
  arch: Arch;
  accel: Accel;
  /** The CPU model (see qemu/args.ts, cpuModel). */
  cpu: string;
  cpus: number;
  memoryBytes: number;
  /** Virtual size of the overlay; the guest grows its root file system to fill it. */
  diskBytes?: number;
  boot: "firmware" | "kernel";
  network: "user" | "none";
  extraUserData?: CloudConfig;
  /** Where to keep a copy of the serial console after teardown. */
  consoleLogCopy?: string;
  /** May be kept after the run (`--keep`): QEMU runs under a keeper that can outlive kvmci. */
  keepable?: boolean;
  /** A second card on the run's private network (see net/lan.ts). */
  lan?: { socketPath: string; mac: string };
  /** The artifacts' limits, which size the artifacts disk (default: defaultTreeLimits). */
  artifactsLimits?: TreeLimits;
}

/** What a guest takes from the host besides files and processes. */
export interface GuestHost {
  /** A loopback port for the SSH forward that is free now; someone may still take it first. */
  findPort: () => Promise<number>;
}

const bannerTimeoutMs = 1500;
const sshHandshakeTimeoutMs = 30_000;
const pollMs = 250;
/** QEMU makes its QMP socket at start-up; it is there within this long or something is wrong. */
const qmpConnectTimeoutMs = 10_000;
/** The wake agent arms (SSH gone, disk synced) and wakes (keys written) within this long. */
const wakeTimeoutMs = 20_000;
/** On the kernel command line: cloud-init's final stage may be skipped (finalStageIdle). */
const skipCloudFinal = "kvmci.cloud-final=skip";
const migrationPollMs = 50;
/**
 * Memory in a file is left out of the migration stream (QEMU's x-ignore-shared, there since
 * 4.0): the saving side copies the file, the restoring side maps it copy-on-write.
 */
const ignoreSharedMemory = { capabilities: [{ capability: "x-ignore-shared", state: true }] };

/** Where a snapshot's state comes from, for `restore`. */
export interface SavedState {
  memoryPath: string;
  /** The saved memory, mapped copy-on-write; undefined when it is in the migration stream. */
  ramPath: string | undefined;
  /** The saved guest's host key, which every guest restored from it presents. */
  hostPublicKey: string;
  /** Settles with what is wrong with the saved files, or undefined when they are intact. */
  verified: Promise<string | undefined>;
  /** Where the guest mounts this run's workspace disk (see packWorkspaceDisk), if it has one. */
  workspaceDir?: string;
}

/** The login user's ids in a saved guest: the owner of a workspace disk's files. */
export interface GuestUserIds {
  uid: number;
  gid: number;
}

/**
 * One throwaway virtual machine and everything it owns: run folder, overlay, seed, QEMU
 * process, SSH session. Disposing it releases all of them, whatever state it is in.
 */
export class Guest implements AsyncDisposable {
  private qemu: QemuProcess | undefined;
  private ssh: SshSession | undefined;
  private qmp: QmpClient | undefined;
  private wake: WakeChannel | undefined;
  private sshPort = 0;
  private kept = false;
  /** What the workspace disk holds: nothing yet (made empty at launch), or this run's workspace. */
  private workspaceDisk: "none" | "empty" | "workspace" = "none";
  private mountedWorkspace = false;
  /** Stopped after its save, before its wake: the workspace disk may be packed now. */
  private stoppedForSave = false;
  /** The host key SSH must present: this run's own, or a restored snapshot's. */
  private pinnedHostKey: string;
  /** Replaced when the guest is saved: the saved state holds only a key nobody has any more. */
  private clientKey: KeyPair;
  private readonly hostKey: KeyPair;
  readonly id: string;

  private constructor(
    readonly spec: GuestSpec,
    readonly folder: RunFolder,
    private readonly host: GuestHost,
  ) {
    this.id = folder.path
      .slice(-8)
      .replace(/[^a-zA-Z0-9]/g, "x")
      .toLowerCase();
    this.clientKey = generateKeyPair(`kvmci-client-${this.id}`);
    this.hostKey = generateKeyPair(`kvmci-host-${this.id}`);
    this.pinnedHostKey = this.hostKey.publicKey;
  }

  static async create(
    spec: GuestSpec,
    tmpdir?: string,
    host: GuestHost = { findPort: findFreePort },
  ): Promise<Guest> {
    return new Guest(spec, await createRunFolder(tmpdir), host);
  }

  get consolePath(): string {
    return this.folder.file(RunFiles.console);
  }

  /** Whether QEMU was started (and so there is a console and an exit to report). */
  get launched(): boolean {
    return this.qemu !== undefined;
  }

  /** QEMU was started and has not exited. */
  get running(): boolean {
    return this.qemu !== undefined && !this.qemu.hasExited;
  }

  get user(): string {
    return this.spec.image.info.user;
  }

  /** The public half of the host key this guest presents (for a snapshot's record). */
  get hostPublicKey(): string {
    return this.pinnedHostKey;
  }

  get overlayPath(): string {
    return this.folder.file(RunFiles.overlay);
  }

  /** The file behind the guest's artifacts disk, empty until it writes its artifacts there. */
  get artifactsDiskPath(): string {
    return this.folder.file(RunFiles.artifactsDisk);
  }

  /** The guest woke with this run's workspace mounted on its workdir (no sync needed). */
  get workspaceMounted(): boolean {
    return this.mountedWorkspace;
  }

  /**
   * Packs the workspace into this guest's workspace disk, owned by `owner` (a saved guest's
   * user), before a restore, or after a save while the guest is stopped (saveState's
   * `beforeWake`): the guest mounts it on the workdir as it wakes. QEMU, if running, has the
   * file open and reads it only when the guest does, which it does only after the wake; the
   * file is back at its full size before the guest continues.
   */
  async packWorkspaceDisk(
    source: WorkspaceSource,
    owner: GuestUserIds,
    signal: AbortSignal,
  ): Promise<WorkspaceDiskResult> {
    if (this.launched && !this.stoppedForSave)
      throw new Error(
        "The workspace disk is packed before QEMU starts or while a saved guest is stopped",
      );
    const result = await buildWorkspaceDisk(
      this.folder.file(RunFiles.workspaceDisk),
      source,
      owner,
      signal,
    );
    // Not built: the empty disk every guest of this machine has (made at launch, if not yet).
    this.workspaceDisk = result.kind === "built" ? "workspace" : this.launched ? "empty" : "none";
    return result;
  }

  /** The run's overlay, over the image, or over a snapshot's saved disk. */
  async createOverlay(
    signal?: AbortSignal,
    backing: { path: string; format: "qcow2" | "raw" } = {
      path: this.spec.image.diskPath,
      format: this.spec.image.info.format,
    },
  ): Promise<void> {
    await createOverlay(
      {
        backingFile: backing.path,
        backingFormat: backing.format,
        overlayPath: this.folder.file(RunFiles.overlay),
        sizeBytes: this.spec.diskBytes,
      },
      signal,
    );
  }

  async writeSeed(now: Date): Promise<void> {
    await writeSeed(
      this.folder.file(RunFiles.seed),
      {
        instanceId: `kvmci-${this.id}-${now.getTime()}`,
        hostname: `kvmci-${this.id}`,
        user: this.user,
        authorizedKey: this.clientKey.publicKey,
        hostKey: this.hostKey,
        extra: this.spec.extraUserData,
      },
      now,
    );
  }

  bootMethod(): BootMethod {
    if (this.spec.boot === "firmware")
      return this.spec.arch === "aarch64"
        ? { kind: "uefi", code: aarch64Uefi.code, vars: this.folder.file(RunFiles.uefiVars) }
        : { kind: "firmware" };
    const { info, dir } = this.spec.image;
    if (!info.boot.kernel || !info.boot.initrd || !info.boot.cmdline) {
      throw new Error(`The image ${info.name} has no kernel for direct boot`);
    }
    return {
      kind: "kernel",
      kernel: join(dir, info.boot.kernel),
      initrd: join(dir, info.boot.initrd),
      // kvmci's Debian 12 image skips cloud-init's final stage when told so and it has nothing
      // to do, and runs the seed's first-boot script in place of its network stage when that
      // does all the cloud-config asks (images/debian/customize.sh); other images ignore both.
      cmdline: [
        info.boot.cmdline,
        ...(finalStageIdle(this.spec.extraUserData) ? [skipCloudFinal] : []),
        ...(firstBootCovers(this.spec.extraUserData) ? [firstBootWord] : []),
      ].join(" "),
    };
  }

  /** The parts of QEMU's command line that a saved state depends on. */
  machineSpec() {
    return {
      arch: this.spec.arch,
      accel: this.spec.accel,
      cpu: this.spec.cpu,
      cpus: this.spec.cpus,
      memoryMiB: Math.round(this.spec.memoryBytes / (1024 * 1024)),
      boot: this.bootMethod(),
      network: this.spec.network,
      lan: this.spec.lan,
    };
  }

  /**
   * Launches QEMU and connects to its QMP socket. A port taken between choosing it and QEMU
   * binding it is retried. `incoming`: start paused, waiting for a saved state. `memory`:
   * `saveable`, the guest's memory is a file in the run folder that a save copies (see
   * saveState); `{ restore }`, a snapshot's memory file mapped copy-on-write.
   */
  async launch(
    signal?: AbortSignal,
    options: { incoming?: boolean; memory?: "saveable" | { restore: string } } = {},
  ): Promise<void> {
    const boot = this.bootMethod();
    // The firmware writes its variables; each guest has a fresh copy of the template.
    if (boot.kind === "uefi") await copyFile(aarch64Uefi.varsTemplate, boot.vars);
    if (this.workspaceDisk === "none") {
      await makeEmptyWorkspaceDisk(this.folder.file(RunFiles.workspaceDisk));
      this.workspaceDisk = "empty";
    }
    await makeArtifactsDisk(
      this.artifactsDiskPath,
      artifactsDiskBytes(this.spec.artifactsLimits ?? defaultTreeLimits),
    );
    for (let attempt = 1; ; attempt++) {
      this.sshPort = await this.host.findPort();
      const argv = buildQemuArgs({
        ...this.machineSpec(),
        name: `kvmci-${this.spec.name}-${this.id}`,
        overlayPath: this.overlayPath,
        seedPath: this.folder.file(RunFiles.seed),
        workspaceDiskPath: this.folder.file(RunFiles.workspaceDisk),
        artifactsDiskPath: this.artifactsDiskPath,
        consolePath: this.consolePath,
        sshPort: this.sshPort,
        qmpPath: this.folder.file(RunFiles.qmp),
        wakePath: this.folder.file(RunFiles.wake),
        pidPath: this.folder.file(RunFiles.qemuPid),
        incoming: options.incoming,
        memoryFile:
          options.memory === "saveable"
            ? { path: this.folder.file(RunFiles.memory), shared: true }
            : options.memory
              ? { path: options.memory.restore, shared: false }
              : undefined,
      });
      const qemu = this.spec.keepable
        ? await QemuProcess.startKeepable(argv, {
            script: this.folder.file(RunFiles.keeper),
            log: this.folder.file(RunFiles.qemuLog),
          })
        : await QemuProcess.start(argv);
      this.qemu = qemu;
      // QEMU answers on QMP only once its machine is set up (its network's port forward bound):
      // an answer means it started; an exit first (a bad option, a taken port) means it did not.
      // Waiting a fixed moment instead cost 300 ms of every start.
      // A QEMU that exits gives up this attempt's connection too: left trying, it could take
      // the next QEMU's only QMP connection.
      const givenUp = new AbortController();
      const qmp = await Promise.race([
        QmpClient.connect(this.folder.file(RunFiles.qmp), {
          timeoutMs: qmpConnectTimeoutMs,
          signal: signal ? AbortSignal.any([signal, givenUp.signal]) : givenUp.signal,
        }).catch((error: unknown) => {
          if (qemu.hasExited) return undefined;
          throw error;
        }),
        qemu.exited.then(() => {
          givenUp.abort();
          return undefined;
        }),
      ]);
      if (qmp && !qemu.hasExited) {
        this.qmp = qmp;
        return;
      }
      await qmp?.[Symbol.asyncDispose]();
      const exit = await qemu.exited;
      if (/host forwarding rule/i.test(exit.stderr) && attempt < 5) continue;
      throw await this.failure("guestBoot", `QEMU exited at start-up${exitSummary(exit)}`, {
        exit,
      });
    }
  }

  /**
   * Saves the ready guest into `dir` (memory state and a copy of its disk), then lets it go on
   * as before. The SSH session is closed first and the wake agent removes the authorized key;
   * the guest is then woken like a restored one, with a new key for the rest of the run.
   * `beforeWake` runs while the saved guest is stopped, and may pack its workspace disk
   * (packWorkspaceDisk): it returns the workdir to mount it on.
   */
  async saveState(
    dir: string,
    deadline: number,
    signal: AbortSignal,
    beforeWake?: (owner: GuestUserIds | undefined) => Promise<string | undefined>,
  ): Promise<{
    memoryPath: string;
    ramPath: string;
    /** The memory file's digest (digestZeroBlocks'), taken as it was copied. */
    ramSha256: string;
    diskPath: string;
    owner: GuestUserIds | undefined;
  }> {
    const qmp = this.requireQmp();
    const started = await this.exec(buildStartAgentCommand(this.user), {
      stdin: Readable.from([wakeAgentScript]),
      signal,
    });
    if (started.code !== 0)
      throw new Error(`the wake agent did not start (exit code ${started.code})`);
    await this.ssh?.[Symbol.asyncDispose]();
    this.ssh = undefined;
    const wake = await this.wakeChannel(signal);
    const owner = parseUserIds(await wake.waitFor("armed", wakeTimeoutMs, signal));
    await qmp.execute("stop");
    const memoryPath = join(dir, "memory.bin");
    const ramPath = join(dir, "memory.ram");
    const diskPath = join(dir, "disk.qcow2");
    await qmp.execute("migrate-set-parameters", { "max-bandwidth": 64 * 1024 ** 3 });
    // The memory is a file (launched saveable): the stream carries the devices only, and the
    // memory is copied whole, holes kept, while the guest is stopped.
    await qmp.execute("migrate-set-capabilities", ignoreSharedMemory);
    await qmp.execute("migrate", { uri: `exec:cat > ${shellQuote(memoryPath)}` });
    await this.waitForMigration("save", deadline, signal);
    // Read once: copied with its empty blocks left as holes, and hashed as it goes.
    const ramSha256 = await copyZeroBlocks(
      this.folder.file(RunFiles.memory),
      ramPath,
      signal,
    ).catch((error: unknown) => {
      signal.throwIfAborted();
      throw new Error(`copying the guest's memory failed: ${errorMessage(error)}`);
    });
    // The migration flushed and released the disk: the overlay is complete and still.
    await copyFile(this.overlayPath, diskPath, constants.COPYFILE_FICLONE);
    // The saved memory and disk may still hold the public half of the key used so far (freed
    // pages, unused blocks): drop its private half and go on with a new key.
    this.clientKey = generateKeyPair(`kvmci-client-${this.id}`);
    this.stoppedForSave = true;
    let workspaceDir: string | undefined;
    try {
      workspaceDir = await beforeWake?.(owner);
    } finally {
      this.stoppedForSave = false;
    }
    await this.resume(
      deadline,
      signal,
      this.workspaceDisk === "workspace" ? workspaceDir : undefined,
    );
    return { memoryPath, ramPath, ramSha256, diskPath, owner };
  }

  /**
   * Starts QEMU from a saved state instead of booting: the overlay must already be over the
   * saved disk. Ready when SSH answers; rejects (QEMU stopped) if the state cannot be loaded.
   */
  async restore(state: SavedState, deadline: number, signal: AbortSignal): Promise<void> {
    await this.launch(signal, {
      incoming: true,
      memory: state.ramPath ? { restore: state.ramPath } : undefined,
    });
    const problem = await state.verified;
    if (problem) throw new Error(problem);
    if (state.ramPath)
      await this.requireQmp().execute("migrate-set-capabilities", ignoreSharedMemory);
    await this.requireQmp().execute("migrate-incoming", {
      uri: `exec:cat ${shellQuote(state.memoryPath)}`,
    });
    await this.waitForMigration("restore", deadline, signal);
    this.pinnedHostKey = state.hostPublicKey;
    await this.resume(
      deadline,
      signal,
      this.workspaceDisk === "workspace" ? state.workspaceDir : undefined,
    );
  }

  /** Powers the guest off from inside (file systems synced) and waits for QEMU to exit. */
  async shutdown(timeoutMs: number, signal: AbortSignal): Promise<void> {
    const qemu = this.requireQemu();
    // The connection drops as the guest goes down: the command's own result does not matter.
    await this.exec("sudo systemctl poweroff || sudo poweroff", {
      signal: AbortSignal.any([signal, AbortSignal.timeout(5000)]),
    }).catch(() => undefined);
    await this.closeConnections();
    // The timer must end with the wait, or it would keep kvmci alive after the run.
    const waited = new AbortController();
    try {
      const exit = await Promise.race([
        qemu.exited,
        sleep(timeoutMs, undefined, { signal: AbortSignal.any([signal, waited.signal]) }),
      ]);
      if (!exit) throw new Error(`the guest did not power off within ${timeoutMs / 1000}s`);
    } finally {
      waited.abort();
    }
  }

  /** Stops QEMU and starts over with a fresh overlay over the image (after a failed restore). */
  async reset(signal?: AbortSignal): Promise<void> {
    await this.closeConnections();
    await this.qemu?.stop();
    this.qemu = undefined;
    this.pinnedHostKey = this.hostKey.publicKey;
    await rm(this.overlayPath, { force: true });
    // A saveable guest's memory file: the next QEMU starts from an empty one.
    await rm(this.folder.file(RunFiles.memory), { force: true });
    await this.createOverlay(signal);
    // A cold boot starts with an empty workspace disk, as the saved guests did.
    this.workspaceDisk = "none";
    this.mountedWorkspace = false;
  }

  /**
   * Continues a stopped guest, wakes it with this run's clock, name, randomness and key, and
   * has it mount its workspace disk on `workspaceDir`.
   */
  private async resume(
    deadline: number,
    signal: AbortSignal,
    workspaceDir?: string,
  ): Promise<void> {
    const wake = await this.wakeChannel(signal);
    await this.requireQmp().execute("cont");
    wake.send(
      buildWakeLine({
        now: new Date(),
        hostname: `kvmci-${this.id}`,
        seed: randomBytes(32).toString("hex"),
        authorizedKey: this.clientKey.publicKey,
        workspaceDir: workspaceDir && mountableWorkdir(workspaceDir) ? workspaceDir : undefined,
      }),
    );
    const awake = wake.waitFor("awake", wakeTimeoutMs, signal);
    // SSH's key exchange, which costs the emulated guest a second, goes on while the agent
    // works; the login waits until it says the key is there.
    const stop = new AbortController();
    const connected = this.connectSsh(
      deadline,
      AbortSignal.any([signal, stop.signal]),
      Date.now(),
      true,
      awake,
    );
    connected.catch(() => undefined);
    try {
      this.mountedWorkspace = workspaceDir !== undefined && (await awake).includes("workspace");
    } catch (error) {
      stop.abort();
      throw error;
    }
    await connected;
  }

  private async wakeChannel(signal: AbortSignal): Promise<WakeChannel> {
    this.wake ??= await WakeChannel.connect(this.folder.file(RunFiles.wake), signal);
    return this.wake;
  }

  private async waitForMigration(
    what: "save" | "restore",
    deadline: number,
    signal: AbortSignal,
  ): Promise<void> {
    const qmp = this.requireQmp();
    for (;;) {
      signal.throwIfAborted();
      if (Date.now() >= deadline)
        throw new Error(`QEMU did not ${what} the guest's state before the boot deadline`);
      const info = await qmp.execute<{ status?: string; "error-desc"?: string }>("query-migrate");
      if (info.status === "completed") return;
      if (info.status === "failed" || info.status === "cancelled")
        throw new Error(
          `QEMU could not ${what} the guest's state: ${info["error-desc"] ?? info.status}`,
        );
      await sleep(migrationPollMs, undefined, { signal });
    }
  }

  /**
   * Waits until SSH answers with the pinned host key (`onSsh` is called then) and cloud-init has
   * finished. Gives up at the deadline, or at once if QEMU exits.
   */
  async waitReady(
    deadline: number,
    signal: AbortSignal,
    onSsh?: () => void,
  ): Promise<{ cloudInitErrors: string[] }> {
    const started = Date.now();
    for (;;) {
      await this.connectSsh(deadline, signal, started);
      onSsh?.();
      const result = await this.waitForCloudInit(deadline, signal);
      if (result.kind === "done") return { cloudInitErrors: parseCloudInitErrors(result.text) };
      if (result.kind === "timeout")
        throw await this.timeoutFailure(
          "SSH answered; waiting for cloud-init to finish",
          "cloud-init had not written its result",
          started,
        );
      // The session went quiet (cloud-init restarts sshd on some images): open a new one.
      await this.ssh?.[Symbol.asyncDispose]();
      this.ssh = undefined;
    }
  }

  /**
   * Connects SSH with the pinned host key, retrying until the deadline or QEMU's exit. `awake`:
   * sshd is known to run (a restored guest): connect at once, without first waiting for its
   * banner on a connection of its own (each connection costs sshd a fork and exec, a few
   * hundred milliseconds under emulation).
   */
  private async connectSsh(
    deadline: number,
    signal: AbortSignal,
    started: number,
    awake = false,
    authorizedWhen?: Promise<unknown>,
  ): Promise<void> {
    const qemu = this.requireQemu();
    const stage = `waiting for SSH on 127.0.0.1:${this.sshPort}`;
    let lastError = "no answer yet";
    let probe = !awake;
    while (!this.ssh) {
      signal.throwIfAborted();
      if (qemu.hasExited) throw await this.stoppedFailure("during boot");
      if (Date.now() >= deadline) throw await this.timeoutFailure(stage, lastError, started);
      const banner = probe
        ? await sshBannerSeen(this.sshPort, bannerTimeoutMs, signal)
        : { ok: true as const };
      probe = true;
      if (!banner.ok) {
        lastError = banner.reason;
        await sleep(pollMs, undefined, { signal });
        continue;
      }
      try {
        this.ssh = await SshSession.connect(
          {
            host: "127.0.0.1",
            port: this.sshPort,
            user: this.user,
            privateKey: this.clientKey.privateKey,
            hostPublicKey: this.pinnedHostKey,
            authorizedWhen,
          },
          Math.max(1000, Math.min(sshHandshakeTimeoutMs, deadline - Date.now())),
        );
      } catch (error) {
        if (error instanceof HostKeyMismatchError) throw error;
        lastError = errorMessage(error);
        await sleep(pollMs, undefined, { signal });
      }
    }
  }

  private async waitForCloudInit(deadline: number, signal: AbortSignal): Promise<CloudInitWait> {
    try {
      return await waitForCloudInit(this.ssh!, deadline, signal);
    } catch (error) {
      signal.throwIfAborted();
      // The connection usually drops a moment before QEMU's exit is seen: give it that moment.
      if (await this.exitedWithin(1000)) throw await this.stoppedFailure("while cloud-init ran");
      throw await this.failure(
        "guestBoot",
        `Waiting for cloud-init failed: ${errorMessage(error)}`,
        {
          cause: error,
        },
      );
    }
  }

  /** Runs a command over the guest's SSH session. */
  exec(command: string, io: ExecIo = {}): Promise<ExecResult> {
    if (!this.ssh) throw new Error("The guest is not ready");
    return this.ssh.exec(command, io);
  }

  /** Explains why the session ended if the guest went away, for errors during exec. */
  async lostFailure(cause: unknown): Promise<KvmciError> {
    const exit = await this.exitedWithin(1000);
    const panic = panicLine(await this.consoleTail(200));
    const what = panic
      ? "The guest's kernel panicked (the console below says why)"
      : exit
        ? `The guest stopped${exitSummary(exit)}`
        : cause instanceof KvmciError
          ? cause.message
          : "The SSH connection to the guest was lost";
    return this.failure("guestLost", what, {
      exit,
      cause,
      lead: panic ? [`the panic: ${panic}`] : [],
    });
  }

  consoleTail(lines = consoleTailLines): Promise<string[]> {
    return readConsoleTail(this.consolePath, lines);
  }

  /** QEMU runs and an SSH session is open: commands (and a shell) can run now. */
  get reachable(): boolean {
    return this.running && this.ssh !== undefined;
  }

  /** The loopback port the guest's SSH is forwarded to. */
  get port(): number {
    return this.sshPort;
  }

  /**
   * Leaves the guest running after this run, until `untilMs`: its keeper stops it then. The
   * login key and the pinned host key go into its run folder (0600) for `kvmci ssh`, the folder
   * is handed to the keeper (a later run's clean-up removes it once the keeper is gone), and
   * disposing this Guest no longer stops anything. Returns the keeper's identity.
   */
  async keep(untilMs: number): Promise<ProcessIdentity> {
    const qemu = this.requireQemu();
    await writeFile(this.folder.file(RunFiles.clientKey), this.clientKey.privateKey, {
      mode: 0o600,
    });
    const [type, key] = this.pinnedHostKey.trim().split(/\s+/);
    await writeFile(
      this.folder.file(RunFiles.knownHosts),
      `[127.0.0.1]:${this.sshPort} ${type} ${key}\n`,
      { mode: 0o600 },
    );
    const keeper = await identifyProcess(qemu.pid);
    await writeFile(this.folder.file(RunFiles.owner), JSON.stringify(keeper), { mode: 0o600 });
    qemu.keep(untilMs);
    this.kept = true;
    await this.closeConnections();
    return keeper;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.kept) {
      // Left running on purpose: only the console copy is made.
      if (this.spec.consoleLogCopy)
        await copyFile(this.consolePath, this.spec.consoleLogCopy).catch(() => undefined);
      return;
    }
    const problems: unknown[] = [];
    const attempt = async (step: () => PromiseLike<unknown>) => {
      try {
        await step();
      } catch (error) {
        problems.push(error);
      }
    };
    await attempt(() => this.closeConnections());
    if (this.qemu) await attempt(() => this.qemu!.stop());
    if (this.spec.consoleLogCopy)
      await attempt(() => copyFile(this.consolePath, this.spec.consoleLogCopy!));
    await attempt(() => this.folder[Symbol.asyncDispose]());
    if (problems.length > 0) {
      throw new AggregateError(problems, `Teardown of guest ${this.spec.name} was incomplete`);
    }
  }

  private async closeConnections(): Promise<void> {
    await this.ssh?.[Symbol.asyncDispose]();
    await this.wake?.[Symbol.asyncDispose]();
    await this.qmp?.[Symbol.asyncDispose]();
    this.ssh = undefined;
    this.wake = undefined;
    this.qmp = undefined;
  }

  private requireQmp(): QmpClient {
    if (!this.qmp) throw new Error("QEMU was not launched");
    return this.qmp;
  }

  private requireQemu(): QemuProcess {
    if (!this.qemu) throw new Error("QEMU was not launched");
    return this.qemu;
  }

  private async exitedWithin(ms: number): Promise<QemuExit | undefined> {
    return Promise.race([this.requireQemu().exited, sleep(ms).then(() => undefined)]);
  }

  private async stoppedFailure(when: string): Promise<KvmciError> {
    const exit = await this.requireQemu().exited;
    return this.failure("guestBoot", `The guest stopped ${when}${exitSummary(exit)}`, { exit });
  }

  /** An error with QEMU's last words, the console tail, and what to do next. */
  private async failure(
    code: "guestBoot" | "guestLost",
    message: string,
    o: { exit?: QemuExit; cause?: unknown; hint?: string; lead?: string[] } = {},
  ): Promise<KvmciError> {
    const qemuLines = o.exit ? tailLines(o.exit.stderr, 5).map((l) => `qemu: ${l}`) : [];
    const consoleLines = await this.consoleTail();
    return new KvmciError(code, message, {
      hint: o.hint ?? this.consoleHint(),
      details: [
        ...(o.lead ?? []),
        ...qemuLines,
        ...(consoleLines.length
          ? ["last lines of the guest console:", ...consoleLines.map((l) => `  ${l}`)]
          : ["the guest console is empty"]),
      ],
      cause: o.cause,
    });
  }

  private async timeoutFailure(
    stage: string,
    lastError: string,
    started: number,
  ): Promise<KvmciError> {
    const waited = Math.round((Date.now() - started) / 1000);
    const failedUnits = failedUnitsOnConsole(await this.consoleTail(2000));
    const hint =
      this.spec.accel === "tcg"
        ? "Raise --boot-timeout if this host is slow (software emulation is much slower than KVM)."
        : "KVM is in use: on some hosts (nested virtualisation) /dev/kvm opens but 64-bit guests hang; if the console below stops early, try --accel tcg, or raise --boot-timeout if this host is just slow.";
    return this.failure(
      "guestBoot",
      `The guest was not ready after ${waited}s: ${stage} (last attempt: ${lastError})`,
      {
        hint: `${hint} ${this.consoleHint()}`,
        lead: failedUnits.length
          ? [`systemd in the guest failed to start: ${failedUnits.join(", ")}`]
          : [],
      },
    );
  }

  private consoleHint(): string {
    return this.spec.consoleLogCopy
      ? `The whole console log is kept at ${this.spec.consoleLogCopy}.`
      : "Run again with --console-log FILE to keep the whole console log.";
  }
}

function exitSummary(exit: QemuExit): string {
  if (exit.signal) return ` (QEMU ended by ${exit.signal})`;
  return exit.code !== undefined ? ` (QEMU exit code ${exit.code})` : "";
}

/** The ids the wake agent says with `armed`, if they are ids. Pure. */
export function parseUserIds(words: string[]): GuestUserIds | undefined {
  const [uid, gid] = words.map((word) => (/^\d{1,10}$/.test(word) ? Number(word) : NaN));
  if (uid === undefined || gid === undefined || !(uid < 2 ** 32 - 1) || !(gid < 2 ** 32 - 1))
    return undefined;
  return { uid, gid };
}
