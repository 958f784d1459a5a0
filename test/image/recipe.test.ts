import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { buildMmdebstrapArgs, stepFromLine } from "../../src/image/build.js";
import { builtinCatalogDir, loadCatalogEntry } from "../../src/image/catalog.js";
import { parseRecipe, type Recipe } from "../../src/image/recipe.js";

async function loadRecipe(name: string): Promise<Recipe> {
  const entry = await loadCatalogEntry(name, [builtinCatalogDir]);
  if (entry?.kind !== "recipe") throw new Error(`${name} is not a recipe`);
  return entry;
}

function key(result: Recipe | { problems: string[] }): string {
  if ("problems" in result) throw new Error(result.problems.join("; "));
  return result.key;
}

describe("debian-12 recipe", () => {
  it("loads, with what a test guest needs", async () => {
    const recipe = await loadRecipe("debian-12");
    expect(recipe.packages).toEqual(
      expect.arrayContaining(["cloud-init", "openssh-server", "sudo", "tar", "cloud-guest-utils"]),
    );
    expect(recipe.user).toBe("debian");
  });

  it("changes its key when the hook changes", async () => {
    const text = await readFile(`${builtinCatalogDir}/debian-12.yml`, "utf8");
    const a = key(parseRecipe(text, "echo a", "/x.sh"));
    const b = key(parseRecipe(text, "echo b", "/x.sh"));
    expect(a).not.toBe(b);
    expect(key(parseRecipe(text, "echo a", "/y.sh"))).toBe(a);
  });

  it("builds the mmdebstrap command with the hook's arguments quoted", async () => {
    const recipe = await loadRecipe("debian-12");
    const args = buildMmdebstrapArgs(recipe, {
      mode: "unshare",
      mirror: "http://m/debian",
      outDir: "/c/it's",
      diskId: "0000abcd",
      tmpdir: "/c/tmp",
    });
    expect(args.slice(0, 3)).toEqual(["mmdebstrap", "--mode=unshare", "--variant=apt"]);
    expect(args.slice(-3)).toEqual(["bookworm", "/dev/null", "http://m/debian"]);
    const hook = args.find((a) => a.startsWith("--customize-hook="));
    expect(hook).toContain(`"$1" '/c/it'\\''s'`);
  });

  it("runs a build as root in its own mount and PID namespaces, so it can be killed at once", async () => {
    const recipe = await loadRecipe("debian-12");
    const args = buildMmdebstrapArgs(recipe, {
      mode: "root",
      mirror: "http://m/debian",
      outDir: "/c",
      diskId: "0000abcd",
      tmpdir: "/c/tmp",
    });
    const mmdebstrap = args.indexOf("mmdebstrap");
    expect(args.slice(0, mmdebstrap)).toEqual([
      "unshare",
      "--mount",
      "--propagation=private",
      "--pid",
      "--fork",
      "--kill-child",
    ]);
    expect(args[mmdebstrap + 1]).toBe("--mode=root");
  });

  it("through sudo, runs the same root build, with TMPDIR given again past sudo's reset", async () => {
    const recipe = await loadRecipe("debian-12");
    const args = buildMmdebstrapArgs(recipe, {
      mode: "sudo",
      mirror: "http://m/debian",
      outDir: "/c",
      diskId: "0000abcd",
      tmpdir: "/c/tmp",
    });
    const mmdebstrap = args.indexOf("mmdebstrap");
    expect(args.slice(0, mmdebstrap)).toEqual([
      "sudo",
      "-n",
      "env",
      "TMPDIR=/c/tmp",
      "unshare",
      "--mount",
      "--propagation=private",
      "--pid",
      "--fork",
      "--kill-child",
    ]);
    expect(args[mmdebstrap + 1]).toBe("--mode=root");
  });

  it("turns mmdebstrap and hook lines into steps", () => {
    expect(stepFromLine("I: installing remaining packages inside the chroot...")).toBe(
      "installing packages",
    );
    expect(stepFromLine("kvmci-step: making the bootloader")).toBe("making the bootloader");
    expect(stepFromLine("Setting up sudo")).toBeUndefined();
  });
});

describe("unshare mode prerequisites", () => {
  it("finds a subordinate id range by user name or id", async () => {
    const { hasRange } = await import("../../src/image/build-mode.js");
    expect(hasRange("alice:100000:65536\n", "alice", 1000)).toBe(true);
    expect(hasRange("1000:100000:65536\n", "alice", 1000)).toBe(true);
    expect(hasRange("bob:100000:65536\n", "alice", 1000)).toBe(false);
    expect(hasRange("", "alice", 1000)).toBe(false);
  });
});

describe("recipe problems", () => {
  it("lists every problem with its path instead of throwing", () => {
    const result = parseRecipe("kind: recipe\nname: Bad Name\nsize: lots\n", "", "/x.sh");
    expect("problems" in result && result.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^name: /),
        expect.stringMatching(/^size: expected a size like 3G/),
        expect.stringMatching(/^suite: /),
      ]),
    );
  });
});
