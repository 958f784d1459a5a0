import { createServer, type Server } from "node:net";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { tcgCpuModel } from "../../src/qemu/args.js";
import { Guest } from "../../src/guest/guest.js";
import { findFreePort } from "../../src/host/port.js";
import { readCachedImage } from "../../src/image/cache.js";
import { repoRoot, sandboxPerTest } from "../integration/harness.js";

const sandboxOf = sandboxPerTest();

function listen(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (typeof address === "object" && address) resolve({ server, port: address.port });
      else reject(new Error("no port"));
    });
  });
}

describe("a port taken between choosing it and QEMU binding it", () => {
  it("is chosen again, and QEMU starts with a free one", async () => {
    const built = await execa("node", [join(repoRoot, "bin", "kvmci.js"), "image", "build"]);
    const image = await readCachedImage(dirname(built.stdout.trim().split(" ")[2]!));
    if (!image) throw new Error(`no cached image: ${built.stdout}`);
    // Someone else holds this port from the moment kvmci has chosen it.
    const { server, port: taken } = await listen();
    const chosen: number[] = [];
    const findPort = async () => {
      const port = chosen.length === 0 ? taken : await findFreePort();
      chosen.push(port);
      return port;
    };
    try {
      await using guest = await Guest.create(
        {
          name: "ports",
          image,
          arch: "x86_64",
          accel: "tcg",
          cpu: tcgCpuModel,
          cpus: 1,
          memoryBytes: 256 * 1024 * 1024,
          boot: "kernel",
          network: "user",
        },
        sandboxOf().tmp,
        { findPort },
      );
      await guest.createOverlay();
      await guest.writeSeed(new Date());
      await guest.launch();
      expect(chosen).toHaveLength(2);
      expect(chosen[0]).toBe(taken);
      expect(guest.running).toBe(true);
      // The running QEMU forwards the second port, not the taken one.
      const ps = await execa("ps", ["-eo", "args"]);
      const qemu = ps.stdout.split("\n").find((l) => l.includes(sandboxOf().tmp)) ?? "";
      expect(qemu).toContain(`hostfwd=tcp:127.0.0.1:${chosen[1]}-:22`);
    } finally {
      server.close();
    }
  });
});
