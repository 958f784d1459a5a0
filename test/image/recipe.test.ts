import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { buildMmdebstrapArgs, stepFromLine } from "../../src/image/build.js";
import { catalogDir, loadRecipe, parseRecipe } from "../../src/image/recipe.js";
import { closestNames } from "../../src/image/resolve.js";

describe("debian-12 recipe", () => {
  it("loads, with what a test guest needs", async () => {
    const recipe = await loadRecipe("debian-12");
    expect(recipe?.packages).toEqual(
      expect.arrayContaining(["cloud-init", "openssh-server", "sudo", "tar", "cloud-guest-utils"]),
    );
    expect(recipe?.user).toBe("debian");
  });

  it("changes its key when the hook changes", async () => {
    const text = await readFile(`${catalogDir}/debian-12.yml`, "utf8");
    const a = parseRecipe(text, "echo a", "/x.sh");
    const b = parseRecipe(text, "echo b", "/x.sh");
    expect(a.key).not.toBe(b.key);
    expect(parseRecipe(text, "echo a", "/y.sh").key).toBe(a.key);
  });

  it("builds the mmdebstrap command with the hook's arguments quoted", async () => {
    const recipe = (await loadRecipe("debian-12"))!;
    const args = buildMmdebstrapArgs(recipe, {
      mode: "unshare",
      mirror: "http://m/debian",
      outDir: "/c/it's",
      diskId: "0000abcd",
    });
    expect(args.slice(0, 3)).toEqual(["mmdebstrap", "--mode=unshare", "--variant=apt"]);
    expect(args.slice(-3)).toEqual(["bookworm", "/dev/null", "http://m/debian"]);
    const hook = args.find((a) => a.startsWith("--customize-hook="));
    expect(hook).toContain(`"$1" '/c/it'\\''s'`);
  });

  it("turns mmdebstrap and hook lines into steps", () => {
    expect(stepFromLine("I: installing remaining packages inside the chroot...")).toBe(
      "installing packages",
    );
    expect(stepFromLine("kvmci-step: making the bootloader")).toBe("making the bootloader");
    expect(stepFromLine("Setting up sudo")).toBeUndefined();
  });

  it("suggests close names for a typo", () => {
    expect(closestNames("debain-12", ["debian-12", "ubuntu-24.04"])).toEqual(["debian-12"]);
  });
});

describe("unshare mode prerequisites", () => {
  it("finds a subordinate id range by user name or id", async () => {
    const { hasRange } = await import("../../src/image/unshare.js");
    expect(hasRange("alice:100000:65536\n", "alice", 1000)).toBe(true);
    expect(hasRange("1000:100000:65536\n", "alice", 1000)).toBe(true);
    expect(hasRange("bob:100000:65536\n", "alice", 1000)).toBe(false);
    expect(hasRange("", "alice", 1000)).toBe(false);
  });
});
