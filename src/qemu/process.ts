import { spawn } from "node:child_process";
import { access, open, writeFile } from "node:fs/promises";
import type { Writable } from "node:stream";
import { execa } from "execa";
import { keepLine, keeperScript } from "./keeper.js";

/** What QemuProcess needs of the process it watches (execa's and Node's own both have it). */
interface Child {
  kill(signal: NodeJS.Signals): unknown;
  unref(): void;
  stdin: Writable | null;
}

export interface QemuExit {
  code: number | undefined;
  signal: string | undefined;
  /** The tail of what QEMU itself printed (not the guest console). */
  stderr: string;
}

/**
 * A running QEMU process. `exited` settles when it ends for any reason; `stop()` ends it
 * (SIGTERM, then SIGKILL after a grace period) and is safe to call more than once.
 */
export class QemuProcess {
  readonly exited: Promise<QemuExit>;
  private exit: QemuExit | undefined;

  private kept = false;

  private constructor(
    private readonly child: Child,
    readonly pid: number,
    ended: Promise<QemuExit>,
    /** Kept-mode QEMU writes its stderr here (the keeper outlives kvmci's pipes). */
    private readonly logPath?: string,
  ) {
    this.exited = ended.then((exit) => {
      this.exit = exit;
      return exit;
    });
  }

  /** Starts QEMU from its argv. When `setpriv` exists, QEMU is killed if kvmci itself dies. */
  static async start(argv: readonly string[]): Promise<QemuProcess> {
    const [file, ...args] = await withParentDeathSignal(argv);
    const child = execa(file ?? "qemu-system-x86_64", args, {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      reject: false,
      cleanup: true,
    });
    if (child.pid === undefined) {
      const result = await child;
      throw new Error(`Could not start ${file}: ${result.shortMessage ?? "unknown error"}`);
    }
    const ended = child.then((result) => ({
      code: result.exitCode,
      signal: result.signal,
      stderr: typeof result.stderr === "string" ? result.stderr.slice(-4000) : "",
    }));
    return new QemuProcess(child, child.pid, ended);
  }

  /**
   * Starts QEMU under a keeper (see keeper.ts), in a session of its own, so that `keep()` can
   * leave it running after kvmci ends. `script` and `log` are files of the guest's private run
   * folder: the keeper itself, and where QEMU's stderr goes.
   */
  static async startKeepable(
    argv: readonly string[],
    { script, log }: { script: string; log: string },
  ): Promise<QemuProcess> {
    await writeFile(script, keeperScript, { mode: 0o700 });
    // Node's own spawn, not execa: the keeper's stderr must be the file itself (an fd the keeper
    // holds), never a pipe through kvmci, which would keep kvmci running and break when it ends.
    const stderr = await open(log, "w", 0o600);
    try {
      const child = spawn("sh", [script, ...argv], {
        stdio: ["pipe", "ignore", stderr.fd],
        detached: true,
      });
      const ended = new Promise<QemuExit>((resolve) => {
        child.on("error", () =>
          resolve({ code: 127, signal: undefined, stderr: "the keeper could not be started" }),
        );
        child.on("exit", (code, signal) => {
          void readTail(log).then((text) =>
            resolve({ code: code ?? undefined, signal: signal ?? undefined, stderr: text }),
          );
        });
      });
      if (child.pid === undefined) throw new Error((await ended).stderr);
      return new QemuProcess(child, child.pid, ended, log);
    } finally {
      await stderr.close();
    }
  }

  /**
   * Leaves QEMU running after kvmci ends, until `untilMs`: its keeper stops it then. Only for
   * a QEMU started with startKeepable.
   */
  keep(untilMs: number): void {
    if (!this.logPath) throw new Error("This QEMU was not started to be kept");
    this.kept = true;
    this.child.stdin?.end(keepLine(untilMs));
    this.child.unref();
  }

  get hasExited(): boolean {
    return this.exit !== undefined;
  }

  async stop(graceMs = 5000): Promise<QemuExit> {
    if (this.exit) return this.exit;
    if (this.kept) throw new Error("A kept guest is stopped with kvmci stop");
    // A keeper stops QEMU when its stdin ends, and on SIGTERM.
    this.child.stdin?.end();
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

// kill -9 of kvmci cannot run any cleanup; the kernel's parent-death signal still reaches QEMU.
async function withParentDeathSignal(argv: readonly string[]): Promise<string[]> {
  for (const path of ["/usr/bin/setpriv", "/bin/setpriv"]) {
    try {
      await access(path);
      return [path, "--pdeathsig", "KILL", "--", ...argv];
    } catch {
      // not here; try the next place
    }
  }
  return [...argv];
}

async function readTail(path: string): Promise<string> {
  try {
    const handle = await open(path, "r");
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 4000);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer.toString();
    } finally {
      await handle.close();
    }
  } catch {
    return "";
  }
}
