import { connect } from "node:net";

/**
 * Whether an SSH server answers on the port with its banner within `timeoutMs`. QEMU's user
 * network accepts connections to a forwarded port before the guest listens and then holds them
 * silently, so a full SSH handshake attempt would sit out its whole timeout; this cheap check
 * lets readiness be noticed within a fraction of a second.
 */
export function sshBannerSeen(
  port: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ ok: boolean; reason: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let received = "";
    const finish = (ok: boolean, reason: string) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve({ ok, reason });
    };
    const onAbort = () => finish(false, "aborted");
    const timer = setTimeout(
      () =>
        finish(
          false,
          received
            ? `unexpected answer ${JSON.stringify(received.slice(0, 40))}`
            : "connected, but no SSH banner yet",
        ),
      timeoutMs,
    );
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      if (received.startsWith("SSH-")) finish(true, "banner");
      else if (received.length >= 4)
        finish(false, `not an SSH server: ${JSON.stringify(received.slice(0, 40))}`);
    });
    socket.on("error", (error) => finish(false, error.message));
    socket.on("close", () =>
      finish(
        false,
        received ? "closed after a partial answer" : "connection closed without a banner",
      ),
    );
  });
}
