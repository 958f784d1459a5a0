// Shared by the benchmarks: runs a command and measures its wall time and peak memory.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";

/** Runs `cmd args` in `cwd`; resolves with its time, peak RSS (VmHWM) and stderr, or rejects. */
export function measure(cmd, args, { cwd } = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    let peakKiB = 0;
    child.stderr.on("data", (c) => (stderr += c));
    const timer = setInterval(async () => {
      try {
        const hwm = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${child.pid}/status`, "utf8"));
        if (hwm) peakKiB = Math.max(peakKiB, Number(hwm[1]));
      } catch {
        /* exited */
      }
    }, 100);
    child.on("error", reject);
    child.on("close", (code) => {
      clearInterval(timer);
      const ms = performance.now() - started;
      if (code !== 0)
        reject(new Error(`${cmd} ${args.join(" ")} exited ${code}\n${stderr.slice(-3000)}`));
      else resolve({ ms, peakKiB, stderr });
    });
  });
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const seconds = (ms) => `${(ms / 1000).toFixed(2)}s`;
