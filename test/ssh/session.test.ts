import type { AddressInfo } from "node:net";
import ssh2 from "ssh2";
import { afterEach, describe, expect, it } from "vitest";
import { ConnectionLostError } from "../../src/errors.js";
import { HostKeyMismatchError, SshSession } from "../../src/ssh/session.js";
import { generateKeyPair } from "../../src/ssh/keys.js";

const { Server } = ssh2;

// A real SSH server (ssh2's own) standing in for an sshd that accepts the login and then never
// answers a request to open a channel, as happens when sshd restarts under a new session.
let server: InstanceType<typeof Server> | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

async function silentServer() {
  const hostKey = generateKeyPair("host");
  const clientKey = generateKeyPair("client");
  server = new Server({ hostKeys: [hostKey.privateKey] }, (client) => {
    client.on("authentication", (ctx) => ctx.accept());
    client.on("error", () => undefined);
    // "session" requests are neither accepted nor rejected.
    client.on("session", () => undefined);
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return SshSession.connect(
    {
      host: "127.0.0.1",
      port,
      user: "u",
      privateKey: clientKey.privateKey,
      hostPublicKey: hostKey.publicKey,
    },
    5000,
  );
}

describe("SSH session", () => {
  it("gives up on a channel that never opens when its signal aborts", async () => {
    await using session = await silentServer();
    const started = Date.now();
    const result = await session.exec("true", { signal: AbortSignal.timeout(300) });
    expect(result).toEqual({ code: 137, signal: "KILL" });
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe("a connection that goes away", () => {
  it("is a ConnectionLostError (67), told apart where ssh2 reports it", async () => {
    const hostKey = generateKeyPair("host");
    const clientKey = generateKeyPair("client");
    // A server that starts the command, says nothing, then drops the connection.
    server = new Server({ hostKeys: [hostKey.privateKey] }, (client) => {
      client.on("authentication", (ctx) => ctx.accept());
      client.on("error", () => undefined);
      client.on("session", (accept) => {
        const session = accept();
        session.on("exec", (acceptExec) => {
          const stream = acceptExec();
          stream.write("started\n");
          setTimeout(() => client.end(), 100);
        });
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    await using session = await SshSession.connect(
      {
        host: "127.0.0.1",
        port,
        user: "u",
        privateKey: clientKey.privateKey,
        hostPublicKey: hostKey.publicKey,
      },
      5000,
    );
    const error = await session.exec("sleep 100").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionLostError);
    expect((error as ConnectionLostError).exitCode).toBe(67);
    // And a new command on the dead connection is one too.
    const again = await session.exec("true").catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ConnectionLostError);
  });
});

describe("SSH connect", () => {
  it("fails within its timeout when the connection closes mid-handshake or stays silent", async () => {
    const { createServer } = await import("node:net");
    const key = generateKeyPair("k");
    for (const behaviour of ["close", "silent"] as const) {
      const tcp = createServer((socket) => {
        if (behaviour === "close") socket.destroy();
      });
      await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
      const port = (tcp.address() as AddressInfo).port;
      const started = Date.now();
      await expect(
        SshSession.connect(
          {
            host: "127.0.0.1",
            port,
            user: "u",
            privateKey: key.privateKey,
            hostPublicKey: key.publicKey,
          },
          500,
        ),
      ).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(3000);
      tcp.close();
    }
  });

  it("refuses a server presenting a host key other than the pinned one, before any login", async () => {
    const presented = generateKeyPair("impostor");
    const pinned = generateKeyPair("ours");
    const clientKey = generateKeyPair("client");
    let authAttempts = 0;
    server = new Server({ hostKeys: [presented.privateKey] }, (client) => {
      client.on("authentication", (ctx) => {
        authAttempts++;
        ctx.accept();
      });
      client.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const attempt = SshSession.connect(
      {
        host: "127.0.0.1",
        port,
        user: "u",
        privateKey: clientKey.privateKey,
        hostPublicKey: pinned.publicKey,
      },
      5000,
    );
    await expect(attempt).rejects.toBeInstanceOf(HostKeyMismatchError);
    await expect(attempt).rejects.toThrow(/presented a host key other than the one kvmci gave/);
    expect(authAttempts).toBe(0);
  });
});
