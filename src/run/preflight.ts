import { stat } from "node:fs/promises";
import { dirname } from "node:path";
import type { RunConfig } from "./run-config.js";
import { formatSize } from "../units/size.js";
import { checkArtifactsDir } from "../sync/artifacts.js";
import type { GuestRun } from "./matrix.js";
import { largestGuestBytes } from "./schedule.js";
import { nodeArchProblem } from "./prepare.js";
import type { Arch } from "../units/arch.js";

/**
 * What can be known to fail before anything starts, given this host: a guest bigger than the
 * host could ever admit (it would wait in the queue for ever), report and console files whose
 * folder is missing (found only after the run, with the result lost), artifacts folders that
 * kvmci may not replace, a Node.js to copy that cannot run in a guest of its architecture, and
 * --accel kvm for a guest of another architecture than the host's (found otherwise only after
 * its image is downloaded or built). Returns every problem, as `where: what`.
 */
export async function checkBeforeStart(
  config: RunConfig,
  guests: GuestRun[],
  host: { totalMemoryBytes: number; arch: Arch | undefined },
  flagPrefix = "--",
): Promise<string[]> {
  const problems: string[] = [];
  const largest = largestGuestBytes(host.totalMemoryBytes);
  for (const { name, config: guest } of guests) {
    const who = guests.length > 1 ? ` (${name})` : "";
    if (guest.memoryBytes > largest)
      problems.push(
        `${flagPrefix}memory${who}: ${formatSize(guest.memoryBytes)} is more than this host can give a guest ` +
          `(${formatSize(largest)}: its ${formatSize(host.totalMemoryBytes)} less 1 GiB for itself)`,
      );
    if (guest.accel === "kvm" && guest.arch !== host.arch)
      problems.push(
        `${flagPrefix}accel${who}: kvm runs guests of this host's own architecture (${host.arch ?? "unknown"}) only, and the guest is ${guest.arch}; ` +
          `leave accel at auto (or tcg) to emulate it`,
      );
    const node = guest.provision?.node;
    const nodeProblem = node && nodeArchProblem(node, guest.arch, guest.image);
    if (nodeProblem)
      problems.push(`${flagPrefix}node${who}: ${nodeProblem.message}. ${nodeProblem.hint}`);
    if (guest.artifacts.length > 0) {
      const problem = await checkArtifactsDir(guest.artifactsDir);
      if (problem) problems.push(`${flagPrefix}artifacts-dir${who}: ${problem}`);
    }
  }
  if (config.topology) {
    const together = guests.reduce((sum, g) => sum + g.config.memoryBytes, 0);
    if (together > largest)
      problems.push(
        `guests: their memory together (${formatSize(together)}) is more than this host can give its guests (${formatSize(largest)}); they run at once`,
      );
  }
  for (const [option, path] of [
    ["json", config.json],
    ["console-log", config.consoleLog],
  ] as const) {
    if (!path) continue;
    const problem = await folderProblem(path);
    if (problem) problems.push(`${flagPrefix}${option}: ${problem}`);
  }
  return [...new Set(problems)];
}

async function folderProblem(file: string): Promise<string | undefined> {
  const folder = dirname(file);
  try {
    if (!(await stat(folder)).isDirectory()) return `${folder} is not a folder`;
  } catch {
    return `the folder ${folder} does not exist (create it first)`;
  }
  return undefined;
}
