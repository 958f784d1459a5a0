import { Module } from "node:module";
import type { AddressInfo } from "node:net";
import { expect, it } from "vitest";

// `npm install --ignore-scripts` (and any host without a compiler) leaves ssh2 without its
// optional native parts: cpu-features is never built and neither is ssh2's own crypto
// binding. This file loads kvmci's SSH code with both made unloadable, before anything else
// in this process has loaded ssh2 (vitest runs each test file in a process of its own), and
// then runs a real session: key generation, handshake, host key check, a command and its
// output, against ssh2's own server.

type ResolveFilename = (request: string, ...rest: unknown[]) => string;
const internals = Module as unknown as { _resolveFilename: ResolveFilename };
const refused: string[] = [];
const resolveFilename = internals._resolveFilename;
internals._resolveFilename = function (this: unknown, request, ...rest) {
  if (request === "cpu-features" || request.endsWith("sshcrypto.node")) {
    refused.push(request);
    throw Object.assign(new Error(`Cannot find module '${request}' (refused by the test)`), {
      code: "MODULE_NOT_FOUND",
    });
  }
  return resolveFilename.call(this, request, ...rest);
};

it("runs a session with ssh2's optional native parts missing", async () => {
  const { default: ssh2 } = await import("ssh2");
  const { generateKeyPair } = await import("../../src/ssh/keys.js");
  const { SshSession } = await import("../../src/ssh/session.js");
  expect(refused).toEqual(expect.arrayContaining(["cpu-features"]));
  expect(refused.some((r) => r.endsWith("sshcrypto.node"))).toBe(true);

  const hostKey = generateKeyPair("host");
  const clientKey = generateKeyPair("client");
  const server = new ssh2.Server({ hostKeys: [hostKey.privateKey] }, (client) => {
    client.on("authentication", (ctx) => ctx.accept());
    client.on("error", () => undefined);
    client.on("session", (accept) => {
      accept().on("exec", (acceptExec, _reject, info) => {
        const stream = acceptExec();
        stream.write(`ran: ${info.command}\n`);
        stream.exit(0);
        stream.end();
      });
    });
  });
  try {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
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
    expect(await session.capture("uname -a")).toBe("ran: uname -a\n");
  } finally {
    server.close();
  }
});
