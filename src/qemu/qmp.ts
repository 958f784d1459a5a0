import type { Socket } from "node:net";
import { openUnixSocket } from "../host/unix-socket.js";
import { setTimeout as sleep } from "node:timers/promises";

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export class QmpError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    description: string,
  ) {
    super(`QMP ${command}: ${description}`);
  }
}

/**
 * A connection to QEMU's machine protocol (QMP) on a Unix socket: one JSON object per line,
 * answers matched to questions by id, events ignored. Disposing closes it.
 */
export class QmpClient implements AsyncDisposable {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffered = "";
  private closed: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => this.receive(text));
    socket.on("error", (error) => this.fail(error));
    socket.on("close", () => this.fail(new Error("QEMU closed the QMP connection")));
  }

  /**
   * Connects once QEMU has made the socket (retrying until `timeoutMs`), reads the greeting and
   * leaves capabilities negotiation mode.
   */
  static async connect(
    path: string,
    options: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<QmpClient> {
    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      options.signal?.throwIfAborted();
      try {
        const socket = await openUnixSocket(path);
        const client = new QmpClient(socket);
        // QEMU serves one QMP client: an attempt given up must not hold the socket (or wait
        // for a greeting that another client got).
        const drop = () => socket.destroy();
        options.signal?.addEventListener("abort", drop, { once: true });
        try {
          await client.greeting();
          await client.execute("qmp_capabilities");
        } finally {
          options.signal?.removeEventListener("abort", drop);
        }
        if (options.signal?.aborted) {
          socket.destroy();
          options.signal.throwIfAborted();
        }
        return client;
      } catch (error) {
        options.signal?.throwIfAborted();
        if (Date.now() >= deadline) throw error;
        await sleep(20, undefined, { signal: options.signal });
      }
    }
  }

  /** Runs one command and resolves with its `return` value. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, {
        command,
        resolve: resolve as (value: unknown) => void,
        reject: (error) => reject(error),
      });
      this.socket.write(`${JSON.stringify({ execute: command, arguments: args, id })}\n`);
    }).catch((error: unknown) => {
      if (error instanceof QmpError) throw error;
      throw new QmpError(command, "Disconnected", (error as Error).message);
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.socket.destroy();
    await Promise.resolve();
  }

  private greetingWaiter: Omit<Pending, "command"> | undefined;

  private greeting(): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.greetingWaiter = { resolve, reject };
    });
  }

  private receive(text: string): void {
    this.buffered += text;
    for (let end = this.buffered.indexOf("\n"); end !== -1; end = this.buffered.indexOf("\n")) {
      const line = this.buffered.slice(0, end).trim();
      this.buffered = this.buffered.slice(end + 1);
      if (line) this.handle(JSON.parse(line) as QmpMessage);
    }
  }

  private handle(message: QmpMessage): void {
    if (message.QMP) {
      this.greetingWaiter?.resolve(message.QMP);
      this.greetingWaiter = undefined;
      return;
    }
    if (typeof message.id !== "number") return; // an event
    const waiter = this.pending.get(message.id);
    if (!waiter) return;
    this.pending.delete(message.id);
    if (message.error) {
      waiter.reject(new QmpError(waiter.command, message.error.class, message.error.desc));
    } else waiter.resolve(message.return);
  }

  private fail(error: Error): void {
    if (this.closed) return;
    this.closed = error;
    this.greetingWaiter?.reject(error);
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}

interface QmpMessage {
  QMP?: unknown;
  id?: number;
  return?: unknown;
  error?: { class: string; desc: string };
  event?: string;
}
