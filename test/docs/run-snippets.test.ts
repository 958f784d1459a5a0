import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { createFixtureProject, sandboxPerTest } from "../integration/harness.js";
import {
  codeBlocks,
  parseMark,
  readDocs,
  repoRoot,
  shellLangs,
  shellScript,
} from "./doc-snippets.js";

// Runs every shell block of README.md and docs/*.md marked `<!-- run -->` (or
// `<!-- run exit=N -->`), as the reader would: in a fresh project (the fixture, a git work tree),
// with `kvmci` on the PATH being this clone's bin/kvmci.js. Boots real guests: integration only.

const docs = await readDocs();
const runnable = docs.flatMap(codeBlocks).flatMap((block) => {
  const mark = parseMark(block.marker);
  return mark.kind === "run" && shellLangs.has(block.lang)
    ? [
        {
          what: `${block.file}:${block.line} exits ${mark.exit}`,
          where: `${block.file}:${block.line}`,
          script: shellScript(block),
          exit: mark.exit,
        },
      ]
    : [];
});

const sandboxOf = sandboxPerTest();

describe("the docs' commands marked to run", () => {
  it("include the Quick start", () => {
    expect(runnable.some((r) => r.where.startsWith("README.md"))).toBe(true);
  });

  it.each(runnable)("$what", async ({ script, exit }) => {
    const sandbox = sandboxOf();
    const project = await createFixtureProject(sandbox);
    // `kvmci` as installed by `npm link`, but this clone's, whatever is installed on the host.
    const bin = join(sandbox.root, "bin");
    await mkdir(bin);
    await writeFile(
      join(bin, "kvmci"),
      `#!/bin/sh\nexec node ${JSON.stringify(join(repoRoot, "bin", "kvmci.js"))} "$@"\n`,
    );
    await chmod(join(bin, "kvmci"), 0o755);
    // One script, as a reader pasting the block would run it, stopping at the first failure.
    const result = await execa("bash", ["-e", "-c", script], {
      cwd: project,
      env: { ...sandbox.env, PATH: `${bin}:${sandbox.env.PATH ?? ""}` },
      reject: false,
      all: true,
      stdin: "ignore",
    });
    expect(result.exitCode, result.all).toBe(exit);
  });
});
