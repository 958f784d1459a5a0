import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveCacheDir } from "../../src/image/cache.js";
import { createFixtureProject, sandboxPerTest } from "../integration/harness.js";

const sandboxOf = sandboxPerTest();
const images = join(resolveCacheDir(process.env), "images");

describe("provisioning that fails", () => {
  it("exits 76 with the script's output, caches nothing and leaves nothing", async () => {
    const project = await createFixtureProject(sandboxOf());
    await writeFile(
      join(project, "kvmci.yml"),
      [
        "provision:",
        "  script: |",
        `    # ${Date.now()}: a new provisioning key every time`,
        '    echo "setting up the database"',
        '    echo "no such package: libfoo-dev" >&2',
        "    exit 3",
        "",
      ].join("\n"),
    );
    const before = await readdir(images);
    const result = await sandboxOf().start(["run", "--memory", "1G", "--", "true"], project);
    expect(result.exitCode, result.all).toBe(76);
    expect(result.stderr).toContain("✗ prepare");
    expect(result.all).toContain("setting up the database");
    expect(result.all).toContain("no such package: libfoo-dev");
    expect(result.stderr).toContain(
      "Provisioning failed: running the script from kvmci.yml: provision.script exited with code 3",
    );
    expect(result.stderr).toContain("Nothing was cached");
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await readdir(images)).toEqual(before);
  });
});
