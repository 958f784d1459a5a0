import ssh2, { type ClientChannel, type ConnectConfig } from "ssh2";
import { ConnectionLostError, KvmciError } from "../errors.js";
import { publicKeyBlob } from "./keys.js";

const { Client } = ssh2;
type Client = InstanceType<typeof Client>;

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  /** The only host key accepted: kvmci injected it, so anything else is not our guest. */
  hostPublicKey: string;
  /**
   * Settles when the guest accepts the key (a restored guest writes it as it wakes): the key
   * exchange goes ahead at once, the login waits for this. A rejection gives up the attempt.
   */
  authorizedWhen?: Promise<unknown>;
}

export class HostKeyMismatchError extends KvmciError {
  constructor(port: number) {
    super(
      "guestBoot",
      `The SSH server on port ${port} presented a host key other than the one kvmci gave the guest; refusing to connect`,
      {
        hint: "Another process may be listening on that port, or the image ignored cloud-init's ssh_keys. Nothing was sent to it.",
      },
    );
  }
}

/**
 * ChaCha20-Poly1305 first: an emulated guest CPU has no AES instructions, and its sshd moves the
 * workspace half as fast again with ChaCha20 as with AES-GCM (measured under TCG: 64 MiB in
 * 3.7 s against 5.7 s). With KVM either is far faster than the rest of the sync.
 */
const cipherPreference = [
  "chacha20-poly1305@openssh.com",
  "aes128-gcm@openssh.com",
  "aes256-gcm@openssh.com",
  "aes128-ctr",
  "aes256-ctr",
] as const;

/** One SSH connection to a guest. */
export class SshSession implements AsyncDisposable {
  private constructor(private readonly client: Client) {}

  /** One connection attempt, with the host key pinned. Rejects on any failure. */
  static connect(target: SshTarget, timeoutMs: number): Promise<SshSession> {
    const expected = publicKeyBlob(target.hostPublicKey);
    let mismatch = false;
    let tried = false;
    return new Promise((resolve, reject) => {
      const client = new Client();
      const config: ConnectConfig = {
        host: target.host,
        port: target.port,
        username: target.user,
        privateKey: target.privateKey,
        readyTimeout: timeoutMs,
        keepaliveInterval: 5000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          mismatch = !key.equals(expected);
          return !mismatch;
        },
        algorithms: { cipher: [...cipherPreference] },
        // Only the key we made; never a password or an agent.
        tryKeyboard: false,
        agent: undefined,
        // One login, with the key we made, once the guest accepts it.
        authHandler: (_left, _partial, next) => {
          // ssh2 takes `false` for "nothing more to try"; its types leave that out.
          const giveUp = () => (next as unknown as (auth: false) => void)(false);
          if (tried) return giveUp();
          tried = true;
          void (target.authorizedWhen ?? Promise.resolve()).then(
            () => next({ type: "publickey", username: target.user, key: target.privateKey }),
            giveUp,
          );
        },
      };
      // ssh2 reports a connection closed mid-handshake with "close" and no error, and clears
      // its own ready timer then; QEMU's forward does exactly that while the guest's sshd
      // restarts. So every way out settles the attempt, and a timer of our own bounds it.
      const timer = setTimeout(() => fail(new Error("SSH handshake timed out")), timeoutMs + 1000);
      const fail = (error: Error) => {
        clearTimeout(timer);
        client.destroy();
        reject(mismatch ? new HostKeyMismatchError(target.port) : error);
      };
      client.once("ready", () => {
        clearTimeout(timer);
        resolve(new SshSession(client));
      });
      // ssh2 can emit several errors for one failed attempt; the first one decides.
      client.on("error", fail);
      client.once("close", () => fail(new Error("the connection closed during the SSH handshake")));
      client.connect(config);
    });
  }

  /** Runs a command; resolves with its exit code (or the signal that ended it, as 128+n). */
  exec(command: string, io: ExecIo = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      // The abort must work before the channel opens too: an open request that sshd never
      // answers (it restarted under us) would otherwise wait forever.
      let abandoned = false;
      const onAbortBeforeOpen = () => {
        abandoned = true;
        resolve({ code: 137, signal: "KILL" });
      };
      if (io.signal?.aborted) return onAbortBeforeOpen();
      io.signal?.addEventListener("abort", onAbortBeforeOpen, { once: true });
      const opened = (error: Error | undefined, channel: ClientChannel) => {
        io.signal?.removeEventListener("abort", onAbortBeforeOpen);
        if (abandoned) {
          channel?.close();
          return;
        }
        // Opening a channel fails when the connection is gone (or sshd stopped answering).
        if (error) return reject(new ConnectionLostError(error.message, error));
        attach(channel, io, resolve, reject);
      };
      try {
        if (io.pty) this.client.exec(command, { pty: { ...io.pty, width: 0, height: 0 } }, opened);
        else this.client.exec(command, opened);
      } catch (error) {
        // ssh2 throws at once ("Not connected") when the connection has already ended.
        io.signal?.removeEventListener("abort", onAbortBeforeOpen);
        reject(new ConnectionLostError((error as Error).message, error));
      }
    });
  }

  /** Runs a command and collects its stdout; rejects when it exits non-zero. */
  async capture(command: string, signal?: AbortSignal): Promise<string> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const result = await this.exec(command, {
      onStdout: (c) => out.push(c),
      onStderr: (c) => err.push(c),
      signal,
    });
    if (result.code !== 0) {
      throw new Error(
        `guest command failed with code ${result.code}: ${Buffer.concat(err).toString().trim().slice(-500)}`,
      );
    }
    return Buffer.concat(out).toString();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.client.end();
    await Promise.resolve();
  }
}

export interface ExecIo {
  stdin?: NodeJS.ReadableStream;
  /** Where stdout goes with back-pressure (the guest waits while it is full); or onStdout. */
  stdout?: NodeJS.WritableStream;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Aborting closes the channel; the promise then resolves with code 137 (killed). */
  signal?: AbortSignal;
  /** Run in a pseudo-terminal of this size (stderr then comes on stdout, as on a terminal). */
  pty?: { term: string; rows: number; cols: number };
  /** With a pty: follows the terminal's size; returns how to stop following. */
  window?: (resize: (size: { rows: number; cols: number }) => void) => () => void;
}

export interface ExecResult {
  code: number;
  signal?: string;
}

/**
 * Something that runs a command in the guest over SSH: a session, or the Guest holding one.
 * Host tools such as sync take this rather than the Guest, which is a layer above them.
 */
export interface RemoteShell {
  exec(command: string, io: ExecIo): Promise<ExecResult>;
}

const signalNumbers: Record<string, number> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  KILL: 9,
  TERM: 15,
  SEGV: 11,
  ABRT: 6,
  PIPE: 13,
};

function attach(
  channel: ClientChannel,
  io: ExecIo,
  resolve: (r: ExecResult) => void,
  reject: (e: unknown) => void,
): void {
  let code: number | undefined;
  let signalName: string | undefined;
  let settled = false;
  const unfollow = io.window?.(({ rows, cols }) => channel.setWindow(rows, cols, 0, 0));
  const settle = (outcome: () => void) => {
    if (settled) return;
    settled = true;
    unfollow?.();
    // Our stdin (a terminal, say) goes on after this command: it must stop feeding the channel.
    io.stdin?.unpipe(channel);
    io.signal?.removeEventListener("abort", onAbort);
    outcome();
  };
  channel.on("exit", (exitCode: number | null, name?: string) => {
    if (typeof exitCode === "number") code = exitCode;
    if (name) signalName = name;
  });
  if (io.stdout) channel.pipe(io.stdout);
  else channel.on("data", (chunk: Buffer) => io.onStdout?.(chunk));
  channel.stderr.on("data", (chunk: Buffer) => io.onStderr?.(chunk));
  // Ask the server to kill the command and stop waiting at once: sshd may hold the channel open
  // while the command's children live on, and the guest is torn down afterwards anyway.
  function onAbort() {
    channel.signal("KILL");
    channel.close();
    settle(() => resolve({ code: 137, signal: "KILL" }));
  }
  if (io.signal?.aborted) return onAbort();
  io.signal?.addEventListener("abort", onAbort, { once: true });
  channel.on("close", () =>
    settle(() => {
      if (code !== undefined) return resolve({ code });
      if (signalName)
        return resolve({ code: 128 + (signalNumbers[signalName] ?? 1), signal: signalName });
      reject(new ConnectionLostError("a command's channel closed without an exit status"));
    }),
  );
  if (io.stdin) io.stdin.pipe(channel);
  else channel.end();
}
