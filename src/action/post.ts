import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as core from "@actions/core";
import { removeStaleRunFolders, RunFiles, runFolderPrefix } from "../guest/run-folder.js";
import { ActionState } from "./state.js";

/**
 * The Action's post step, which the runner runs also when the job was cancelled or the main
 * step died: stops any QEMU the main step started (by the pid QEMU wrote in its run folder,
 * checked against its command line) and deletes the run folders it left.
 */
export async function runPost(): Promise<void> {
  const folder = core.getState(ActionState.folder);
  if (!folder) return;
  const tmp = join(folder, "tmp");
  const entries = await readdir(tmp).catch(() => [] as string[]);
  for (const entry of entries.filter((e) => e.startsWith(runFolderPrefix))) {
    const runFolder = join(tmp, entry);
    const pid = Number(
      (await readFile(join(runFolder, RunFiles.qemuPid), "utf8").catch(() => "")).trim(),
    );
    if (!Number.isInteger(pid) || pid <= 0) continue;
    if (!(await isOurQemu(pid, runFolder))) continue;
    core.info(`kvmci: stopping QEMU (pid ${pid}) left running by the main step`);
    await stop(pid);
  }
  for (const removed of await removeStaleRunFolders(tmp))
    core.info(`kvmci: removed ${removed}, left by the main step`);
}

/** The process is QEMU and belongs to that run folder (a recycled pid is left alone). */
async function isOurQemu(pid: number, runFolder: string): Promise<boolean> {
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
    return (
      cmdline.some((arg) => arg.includes("qemu-system")) &&
      cmdline.some((a) => a.includes(runFolder))
    );
  } catch {
    return false;
  }
}

async function stop(pid: number): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 50 && alive(); i++) await sleep(100);
  if (alive()) process.kill(pid, "SIGKILL");
  for (let i = 0; i < 50 && alive(); i++) await sleep(100);
}
