import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";

// package.json as npm sees it when it installs or packs kvmci.
const manifest = JSON.parse(
  await readFile(new URL("../../package.json", import.meta.url), "utf8"),
) as {
  bin: Record<string, string>;
  files: string[];
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
};

describe("package.json", () => {
  it("has no script that makes npm prepare a git install", () => {
    // pacote (npm 11, lib/git.js) runs `npm install` in the clone of a git dependency when
    // the package has any of these; for `npm install -g git+https://…` that install inherits
    // the global flag and replaces the package being installed (npm/cli#8440). dist/ is
    // committed instead, so nothing needs building.
    const preparing = ["build", "preinstall", "install", "postinstall", "prepack", "prepare"];
    expect(Object.keys(manifest.scripts).filter((name) => preparing.includes(name))).toEqual([]);
  });

  it("packs the CLI's bundle and catalog, not the Action's", () => {
    expect(manifest.bin).toEqual({ kvmci: "bin/kvmci.js" });
    expect(manifest.files).toEqual(["bin/kvmci.js", "dist/cli.js", "images/"]);
  });

  it("installs no @actions/* package with the CLI (they are bundled into the Action)", () => {
    expect(
      Object.keys(manifest.dependencies).filter((name) => name.startsWith("@actions/")),
    ).toEqual([]);
  });
});
