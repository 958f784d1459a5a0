import { mkdir, statfs } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { formatSize } from "../units/size.js";
import { which } from "../host/which.js";
import { listCachedImages } from "../image/cache.js";
import { probeKvm } from "../qemu/accel.js";
import { fileProbeMemo } from "../qemu/probe-memo.js";

export interface Check {
  name: string;
  status: "ok" | "warn" | "fail";
  detail: string;
  fix?: string;
}

/** Every host requirement, checked for real, each with the fix when it fails. */
export async function runDoctor(o: { cacheDir: string }): Promise<Check[]> {
  const checks: Check[] = [];
  checks.push(
    await toolCheck(
      "qemu-system-x86_64",
      ["--version"],
      "sudo apt-get install qemu-system-x86",
      "fail",
    ),
  );
  checks.push(
    await toolCheck("qemu-img", ["--version"], "sudo apt-get install qemu-utils", "fail"),
  );
  checks.push(
    await toolCheck(
      "mmdebstrap",
      ["--version"],
      "sudo apt-get install mmdebstrap (only needed to build images)",
      "warn",
    ),
  );
  checks.push(await toolCheck("tar", ["--version"], "sudo apt-get install tar", "fail"));
  checks.push(await kvmCheck(o.cacheDir));
  checks.push(await cacheCheck(o.cacheDir));
  return checks;
}

async function toolCheck(
  tool: string,
  args: string[],
  fix: string,
  missing: "warn" | "fail",
): Promise<Check> {
  const path = await which(tool);
  if (!path) return { name: tool, status: missing, detail: "not installed", fix };
  const result = await execa(path, args, { reject: false, stdin: "ignore" });
  const first = `${result.stdout}`.split("\n")[0] ?? "";
  return { name: tool, status: "ok", detail: `${first.trim() || "present"} (${path})` };
}

async function kvmCheck(cacheDir: string): Promise<Check> {
  const images = await listCachedImages(cacheDir);
  const withKernel = images.find((i) => i.info.boot.kernel);
  const kernel = withKernel ? join(withKernel.dir, withKernel.info.boot.kernel ?? "") : undefined;
  // Always probe afresh, and record the outcome for the runs that follow.
  const memo = fileProbeMemo(cacheDir);
  const problem = await probeKvm({
    kernel,
    memo: { get: () => Promise.resolve(undefined), set: (k, v) => memo.set(k, v) },
  });
  if (problem) {
    return {
      name: "kvm",
      status: "warn",
      detail: `not usable: ${problem.message}; guests will run under software emulation (much slower)`,
      fix: problem.hint,
    };
  }
  return kernel
    ? { name: "kvm", status: "ok", detail: "/dev/kvm is usable: a 64-bit kernel booted under it" }
    : {
        name: "kvm",
        status: "warn",
        detail:
          "/dev/kvm can be opened; whether it runs 64-bit guests is proven once an image is cached",
        fix: "kvmci image build debian-12, then kvmci doctor again",
      };
}

async function cacheCheck(cacheDir: string): Promise<Check> {
  try {
    await mkdir(cacheDir, { recursive: true });
    const fs = await statfs(cacheDir);
    const free = fs.bavail * fs.bsize;
    const enough = free > 4 * 1024 ** 3;
    return {
      name: "cache",
      status: enough ? "ok" : "warn",
      detail: `${cacheDir}, ${formatSize(free)} free`,
      fix: enough
        ? undefined
        : "Images need about 1 GiB each and guests write overlays: free some space, or set KVMCI_CACHE_DIR to a larger disk.",
    };
  } catch (error) {
    return {
      name: "cache",
      status: "fail",
      detail: `${cacheDir} is not usable (${(error as Error).message})`,
      fix: "Set KVMCI_CACHE_DIR to a folder you can write.",
    };
  }
}
