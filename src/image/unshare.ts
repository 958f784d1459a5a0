import { readFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { KvmciError } from "../errors.js";
import { which } from "../host/which.js";

/**
 * Building without root needs mmdebstrap's unshare mode: newuidmap/newgidmap and a subordinate
 * id range for the user. Checked up front so the user gets the fix, not mmdebstrap's trace.
 */
export async function requireUnshareMode(): Promise<void> {
  const { username, uid } = userInfo();
  const missing: string[] = [];
  if (!(await which("newuidmap")) || !(await which("newgidmap")))
    missing.push("newuidmap and newgidmap (package uidmap)");
  for (const file of ["/etc/subuid", "/etc/subgid"]) {
    const text = await readFile(file, "utf8").catch(() => "");
    if (!hasRange(text, username, uid)) missing.push(`a range for ${username} in ${file}`);
  }
  if (missing.length === 0) return;
  throw new KvmciError(
    "hostRequirement",
    `Building an image without root needs ${missing.join(", ")}`,
    {
      hint:
        `sudo apt-get install uidmap && sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${username} ` +
        "(unprivileged user namespaces must also be allowed), or build once as root with the same cache: " +
        `sudo KVMCI_CACHE_DIR=<cache folder> kvmci image build`,
    },
  );
}

/** Whether a subuid/subgid file gives the user (by name or id) a range. Pure. */
export function hasRange(text: string, username: string, uid: number): boolean {
  return text.split("\n").some((line) => {
    const [who, , count] = line.trim().split(":");
    return (who === username || who === String(uid)) && Number(count) > 0;
  });
}
