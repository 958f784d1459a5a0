import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveCacheDir } from "../../src/image/cache.js";
import { createFixtureProject, waitForOutput, sandboxPerTest } from "../integration/harness.js";

const sandboxOf = sandboxPerTest();

/** Files under `dir` changed since `since` that contain `needle`. */
async function filesWith(dir: string, needle: string, since = 0): Promise<string[]> {
  const found: string[] = [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const s = await stat(path);
    if (s.mtimeMs < since) continue;
    if ((await readFile(path)).includes(needle)) found.push(path);
  }
  return found;
}

describe("secrets and privacy", () => {
  it("an --env value reaches the command and nothing else: output, report, console copy, files", async () => {
    const project = await createFixtureProject(sandboxOf());
    const secret = `s3cr3t-${randomUUID()}`;
    const started = Date.now();
    const result = await sandboxOf().start(
      [
        "run",
        "--memory",
        "1G",
        "--env",
        `KVMCI_TEST_SECRET=${secret}`,
        "--console-log",
        "console.log",
        "--json",
        "report.json",
        "--artifact",
        "hash.txt",
        "--",
        "sh",
        "-c",
        'printf %s "$KVMCI_TEST_SECRET" | sha256sum | cut -d" " -f1 | tee hash.txt',
      ],
      project,
    );
    expect(result.exitCode, result.all).toBe(0);
    const hash = createHash("sha256").update(secret).digest("hex");
    expect(result.stdout.trim()).toBe(hash);
    expect(result.all).not.toContain(secret);
    expect(await filesWith(project, secret)).toEqual([]);
    expect(await filesWith(sandboxOf().root, secret)).toEqual([]);
    expect(await filesWith(resolveCacheDir(process.env), secret, started)).toEqual([]);
    // The copy was written (a restored guest's holds at least the wake line), without it.
    expect(await readFile(join(project, "console.log"), "utf8")).toMatch(/\S/);
  });

  it("keeps run folders private (0700) and the seed with the guest's keys 0600", async () => {
    const project = await createFixtureProject(sandboxOf());
    const child = sandboxOf().start(
      ["run", "--memory", "1G", "--no-sync", "--", "sh", "-c", "echo started; sleep 600"],
      project,
    );
    await waitForOutput(child, /^started$/m, 10 * 60_000);
    try {
      const [folder] = (await readdir(sandboxOf().tmp)).filter((e) => e.startsWith("kvmci-run-"));
      const path = join(sandboxOf().tmp, folder!);
      expect((await stat(path)).mode & 0o777).toBe(0o700);
      expect((await stat(join(path, "seed.iso"))).mode & 0o777).toBe(0o600);
      expect((await stat(join(path, "owner.json"))).mode & 0o777).toBe(0o600);
      // Snapshots hold a guest's host key (memory and disk): their folders are private too.
      const snapshots = join(resolveCacheDir(process.env), "snapshots");
      const saved = (await readdir(snapshots)).filter((e) => !e.startsWith("."));
      expect(saved.length).toBeGreaterThan(0);
      for (const entry of saved)
        expect((await stat(join(snapshots, entry))).mode & 0o777, entry).toBe(0o700);
    } finally {
      child.kill("SIGTERM");
      await child;
    }
  });
});
