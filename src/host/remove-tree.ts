import { readFile, rm } from "node:fs/promises";
import { execa } from "execa";

/**
 * Deletes a folder tree, but never one with a file system still mounted inside it: a build
 * interrupted at the wrong moment can leave a chroot's /proc, /sys or /dev bind-mounted, and a
 * recursive delete would then reach into the host's own.
 */
export async function removeTree(dir: string, withSudo = false): Promise<void> {
  const mounts = await mountsBelow(dir);
  if (mounts.length > 0) {
    throw new Error(
      `Not deleting ${dir}: file systems are still mounted inside it (${mounts.join(", ")}); unmount them first`,
    );
  }
  try {
    await rm(dir, { recursive: true, force: true });
  } catch (error) {
    // A build run as root through sudo leaves folders this user may not empty.
    if (!withSudo || (error as NodeJS.ErrnoException).code !== "EACCES") throw error;
    await execa("sudo", ["-n", "rm", "-rf", "--one-file-system", "--", dir], { stdin: "ignore" });
  }
}

export async function mountsBelow(dir: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  return text
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .map((point) => point.replace(/\\040/g, " "))
    .filter((point) => point.startsWith(prefix));
}
