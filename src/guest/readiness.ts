import type { RemoteShell } from "../ssh/session.js";

/** A wait for cloud-init that delivers nothing (not even its heartbeat) for this long stalled. */
const stallAfterMs = 15_000;

export type CloudInitWait =
  { kind: "done"; text: string } | { kind: "timeout" } | { kind: "stalled" };

/**
 * Waits for cloud-init's result with one command inside the guest (no new session and shell
 * per poll). The command prints a dot every two seconds while it waits, so a session that
 * stops delivering anything for 15 s is known to be stalled rather than merely waiting: the
 * caller opens a new session then (cloud-init restarts sshd on some images). Resolves with
 * result.json's text; rejects when the wait itself fails.
 */
export async function waitForCloudInit(
  ssh: RemoteShell,
  deadline: number,
  signal: AbortSignal,
): Promise<CloudInitWait> {
  const stall = new AbortController();
  let quietTimer = setTimeout(() => stall.abort(), stallAfterMs);
  const heard = () => {
    clearTimeout(quietTimer);
    quietTimer = setTimeout(() => stall.abort(), stallAfterMs);
  };
  const timeout = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
  const out: Buffer[] = [];
  try {
    const result = await ssh.exec(
      "n=0; until [ -e /run/cloud-init/result.json ]; do sleep 0.2; n=$((n+1)); " +
        "[ $((n % 10)) -eq 0 ] && printf .; done; sleep 0.1; printf '\\n'; cat /run/cloud-init/result.json",
      {
        onStdout: (chunk) => {
          heard();
          out.push(chunk);
        },
        onStderr: heard,
        signal: AbortSignal.any([signal, timeout, stall.signal]),
      },
    );
    signal.throwIfAborted();
    if (timeout.aborted) return { kind: "timeout" };
    if (stall.signal.aborted) return { kind: "stalled" };
    if (result.code !== 0)
      throw new Error(
        `the wait ended with code ${result.code}${result.signal ? ` (${result.signal})` : ""}`,
      );
    const text = Buffer.concat(out).toString();
    return { kind: "done", text: text.slice(text.indexOf("\n") + 1) };
  } finally {
    clearTimeout(quietTimer);
  }
}
