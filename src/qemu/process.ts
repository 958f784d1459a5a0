import { access } from "node:fs/promises";
import { execa, type ResultPromise } from "execa";

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

  private constructor(
    private readonly child: ResultPromise,
    readonly pid: number,
  ) {
    this.exited = child.then((result) => {
      this.exit = {
        code: result.exitCode,
        signal: result.signal,
        stderr: typeof result.stderr === "string" ? result.stderr.slice(-4000) : "",
      };
      return this.exit;
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
    return new QemuProcess(child, child.pid);
  }

  get hasExited(): boolean {
    return this.exit !== undefined;
  }

  async stop(graceMs = 5000): Promise<QemuExit> {
    if (this.exit) return this.exit;
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
