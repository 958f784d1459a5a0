import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { delimiter, join } from "node:path";

/** The full path of an executable on PATH (plus the sbin folders tools like mke2fs live in). */
export async function which(
  command: string,
  path = process.env.PATH ?? "",
): Promise<string | undefined> {
  const dirs = [...path.split(delimiter), "/usr/sbin", "/sbin"].filter(Boolean);
  for (const dir of dirs) {
    const candidate = join(dir, command);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}
