import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { buildMmdebstrapArgs, stepFromLine } from "../../src/image/build.js";
import { builtinCatalogDir, loadCatalogEntry } from "../../src/image/catalog.js";
import { parseRecipe, type Recipe } from "../../src/image/recipe.js";
import type { Arch } from "../../src/units/arch.js";

async function loadRecipe(name: string, arch: Arch = "x86_64"): Promise<Recipe> {
  const entry = await loadCatalogEntry(name, arch, [builtinCatalogDir]);
  if (entry?.kind !== "recipe") throw new Error(`${name} is not a recipe`);
  return entry;
}

const hook = (text: string, path = "/x.sh") => ({ customize: { path, text } });

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

  it("changes its key when a hook changes, not when it moves", async () => {
    const text = await readFile(`${builtinCatalogDir}/debian-12.yml`, "utf8");
    const a = key(parseRecipe(text, hook("echo a")));
    const b = key(parseRecipe(text, hook("echo b")));
    expect(a).not.toBe(b);
    expect(key(parseRecipe(text, hook("echo a", "/y.sh")))).toBe(a);
    const essential = (t: string) => ({ ...hook("echo a"), essential: { path: "/e.sh", text: t } });
    expect(key(parseRecipe(text, essential("true")))).not.toBe(a);
    expect(key(parseRecipe(text, essential("true")))).not.toBe(
      key(parseRecipe(text, essential("false"))),
    );
  });

  it("has one entry per architecture, sharing the Debian hooks", async () => {
    const x86 = await loadRecipe("debian-12", "x86_64");
    const arm = await loadRecipe("debian-12", "aarch64");
    expect([x86.arch, arm.arch]).toEqual(["x86_64", "aarch64"]);
    expect(x86.packages).toEqual(
      expect.arrayContaining(["linux-image-cloud-amd64", "grub-pc-bin"]),
    );
    expect(arm.packages).toContain("linux-image-cloud-arm64");
    expect(arm.packages.filter((p) => /grub|amd64/.test(p))).toEqual([]);
    expect(arm.kernelCmdline).toContain("console=ttyAMA0");
    expect(arm.customizeScript).toBe(x86.customizeScript);
    expect(arm.customizeScript).toMatch(/\/debian\/customize\.sh$/);
    expect(arm.essentialScript).toMatch(/\/debian\/essential\.sh$/);
    expect(arm.key).not.toBe(x86.key);
  });

  it("builds for the recipe's architecture, with the essential hook before the customize hook", async () => {
    const args = buildMmdebstrapArgs(await loadRecipe("debian-12", "aarch64"), {
      mode: "root",
      mirror: "http://m/debian",
      outDir: "/c",
      diskId: "0000abcd",
      tmpdir: "/c/tmp",
    });
    expect(args).toContain("--arch=arm64");
    const essential = args.findIndex((a) => a.startsWith("--essential-hook="));
    const customize = args.findIndex((a) => a.startsWith("--customize-hook="));
    expect(essential).toBeGreaterThan(0);
    expect(essential).toBeLessThan(customize);
    expect(args[essential]).toMatch(/^--essential-hook='sh' '\/.*\/debian\/essential\.sh' "\$1"$/);
    expect(
      buildMmdebstrapArgs(await loadRecipe("debian-12"), {
        mode: "root",
        mirror: "http://m/debian",
        outDir: "/c",
        diskId: "0000abcd",
        tmpdir: "/c/tmp",
      }),
    ).toContain("--arch=amd64");
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
    expect(args.slice(0, 4)).toEqual([
      "mmdebstrap",
      "--mode=unshare",
      "--arch=amd64",
      "--variant=apt",
    ]);
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
    const result = parseRecipe("kind: recipe\nname: Bad Name\nsize: lots\narch: arm64\n", hook(""));
    expect("problems" in result && result.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^name: /),
        expect.stringMatching(/^size: expected a size like 3G/),
        expect.stringMatching(/^suite: /),
        expect.stringMatching(/^arch: /),
      ]),
    );
  });
});
