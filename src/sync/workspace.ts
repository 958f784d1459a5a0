import { lstat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { execa } from "execa";

export interface WorkspaceListing {
  /** `git`: only the listed files; `folder`: everything under the folder. */
  mode: "git" | "folder";
  /** Relative paths, for git mode. */
  files: string[];
}

/**
 * What to send: in a git work tree, tracked files plus untracked files that are not ignored
 * (deleted tracked files are skipped); elsewhere the whole folder.
 */
export async function listWorkspace(dir: string): Promise<WorkspaceListing> {
  const inside = await execa("git", ["rev-parse", "--is-inside-work-tree"], {
    cwd: dir,
    reject: false,
    stdin: "ignore",
  });
  if (inside.exitCode !== 0 || inside.stdout.trim() !== "true")
    return { mode: "folder", files: [] };
  const listed = await execa(
    "git",
    ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    { cwd: dir, stdin: "ignore" },
  );
  const unique = [...new Set(listed.stdout.split("\0").filter(Boolean))];
  const present: string[] = [];
  for (const file of unique) {
    try {
      await lstat(join(dir, file));
      present.push(file);
    } catch {
      // Deleted in the work tree but still in the index: nothing to send.
    }
  }
  return { mode: "git", files: present };
}

/** Whether `dir` is inside a git work tree (a .git in it or a folder above), without git. */
export async function inGitWorkTree(dir: string): Promise<boolean> {
  for (let at = resolve(dir); ; at = dirname(at)) {
    if (
      await lstat(join(at, ".git")).then(
        () => true,
        () => false,
      )
    )
      return true;
    if (dirname(at) === at) return false;
  }
}
