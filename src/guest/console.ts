import { readFileTail } from "../host/file-tail.js";
import { stripAnsi, tailLines } from "../units/text.js";

/**
 * What a guest's serial console says about why it failed. The guest writes the console, so it
 * is read from its end only, whatever its size, with colours removed.
 */

/** Lines shown under a failure: enough for systemd's last words and a kernel panic's head. */
export const consoleTailLines = 30;

/** The last `lines` non-empty lines of a console file; none when it cannot be read. */
export async function readConsoleTail(path: string, lines = consoleTailLines): Promise<string[]> {
  try {
    return tailLines(stripAnsi(await readFileTail(path, lines * 512)), lines);
  } catch {
    return [];
  }
}

/** The line where the guest's kernel panicked, if it did. Pure. */
export function panicLine(lines: string[]): string | undefined {
  return lines.find((l) => l.includes("Kernel panic - not syncing"))?.trim();
}

/**
 * The units systemd reported as failing to start on the console (`[FAILED] Failed to start
 * ssh.service - …`), once each, in order, from console lines with colours removed. Pure. An
 * SSH wait that runs out with sshd among them has its cause in plain sight, even when the
 * console tail shown has scrolled past it.
 */
export function failedUnitsOnConsole(lines: string[]): string[] {
  const units: string[] = [];
  for (const line of lines) {
    // systemd 252: "[FAILED] Failed to start ssh.servic… - OpenBSD Secure Shell server."
    const match = /Failed to start (.+?)\.?\s*$/.exec(line);
    if (match && !units.includes(match[1]!)) units.push(match[1]!);
  }
  return units;
}

/** cloud-init's result.json lists module failures under v1.errors. Pure. */
export function parseCloudInitErrors(text: string): string[] {
  try {
    const parsed = JSON.parse(text) as { v1?: { errors?: unknown } };
    const errors = parsed.v1?.errors;
    return Array.isArray(errors) ? errors.map(String) : [];
  } catch {
    return [`unreadable /run/cloud-init/result.json: ${text.slice(0, 200)}`];
  }
}
