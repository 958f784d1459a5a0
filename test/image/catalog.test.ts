import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import {
  builtinCatalogDir,
  catalogDirs,
  entryNameOfFile,
  listCatalog,
  loadCatalogEntries,
  loadCatalogEntry,
} from "../../src/image/catalog.js";
import { isKvmciError } from "../../src/errors.js";

describe("the built-in catalog", () => {
  it("has the images users ask for, each entry valid", async () => {
    const entries = await listCatalog([builtinCatalogDir]);
    expect(entries.map((e) => e.name)).toEqual(
      expect.arrayContaining([
        "ubuntu-24.04",
        "ubuntu-22.04",
        "debian-12-genericcloud",
        "debian-13-genericcloud",
        "almalinux-9",
        "rocky-9",
        "debian-12",
      ]),
    );
    expect(entries.some((e) => e.name.startsWith("fedora-"))).toBe(true);
  });

  it("has every image for x86_64 and aarch64: downloads boot through BIOS and UEFI", async () => {
    const entries = await listCatalog([builtinCatalogDir]);
    const names = [...new Set(entries.map((e) => e.name))];
    expect(names).toContain("debian-13");
    for (const name of names) {
      const arches = entries.filter((e) => e.name === name).map((e) => e.arch);
      expect(arches, name).toEqual(["x86_64", "aarch64"]);
    }
    for (const entry of entries) {
      if (entry.kind !== "download") continue;
      expect(entry.boot, entry.name).toBe(entry.arch === "x86_64" ? "bios" : "uefi");
      // The aarch64 file is the x86_64 one's sibling, listed in a checksum list of the same kind.
      const sibling = entries.find(
        (e) => e.kind === "download" && e.name === entry.name && e.arch !== entry.arch,
      );
      expect(sibling?.kind === "download" && new URL(sibling.url).host, entry.name).toBe(
        new URL(entry.url).host,
      );
      expect(entry.url, entry.name).toMatch(
        entry.arch === "x86_64" ? /amd64|x86_64/ : /arm64|aarch64/,
      );
    }
  });

  it("names entries by file: <name>.yml or <name>.<arch>.yml", () => {
    expect(entryNameOfFile("debian-12.yml")).toBe("debian-12");
    expect(entryNameOfFile("debian-12.aarch64.yml")).toBe("debian-12");
    expect(entryNameOfFile("ubuntu-24.04.x86_64.yml")).toBe("ubuntu-24.04");
    expect(entryNameOfFile("ubuntu-24.04.yml")).toBe("ubuntu-24.04");
    expect(entryNameOfFile("README.md")).toBeUndefined();
  });

  it("names, for each download, an https URL and a published checksum list beside it", async () => {
    for (const entry of await listCatalog([builtinCatalogDir])) {
      if (entry.kind !== "download") continue;
      const image = new URL(entry.url);
      const sums = new URL(entry.checksums);
      expect(image.protocol, entry.name).toBe("https:");
      expect(sums.protocol, entry.name).toBe("https:");
      expect(sums.host, entry.name).toBe(image.host);
      // The distribution's own list, not a digest pasted into the entry.
      expect(sums.pathname.split("/").pop(), entry.name).toMatch(/SHA(256|512)SUMS$|CHECKSUM$/);
      expect(entry.user, entry.name).toMatch(/^[a-z]+$/);
    }
  });
});

describe("a user's catalog folder", () => {
  it("comes first, and a broken entry is a usage error listing every problem", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kvmci-catalog-test-"));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(
      join(dir, "ubuntu-24.04.yml"),
      "kind: download\nname: ubuntu-24.04\ndescription: mirror\narch: x86_64\nurl: http://mirror.local/u.img\nchecksums: http://mirror.local/SHA256SUMS\nformat: qcow2\nuser: ubuntu\nboot: bios\n",
    );
    await writeFile(join(dir, "bad.yml"), "kind: download\nname: bad\nurl: nope\nformat: vmdk\n");
    await mkdir(join(dir, "r"));
    const dirs = catalogDirs({ KVMCI_CATALOG: `${dir}:/nonexistent` });
    expect(dirs.at(-1)).toBe(builtinCatalogDir);
    const entry = await loadCatalogEntry("ubuntu-24.04", "x86_64", dirs);
    expect(entry).toMatchObject({ kind: "download", url: "http://mirror.local/u.img" });
    // It hides kvmci's entry for its own architecture only.
    const arm = await loadCatalogEntry("ubuntu-24.04", "aarch64", dirs);
    expect(arm?.arch).toBe("aarch64");
    expect(arm?.kind === "download" && arm.url).toMatch(
      /^https:\/\/cloud-images\.ubuntu\.com\/.*arm64/,
    );
    const error = await loadCatalogEntry("bad", "x86_64", dirs).catch((e: unknown) => e);
    expect(isKvmciError(error) && error.code).toBe("usage");
    expect(isKvmciError(error) && error.details).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^url: expected an http/),
        expect.stringMatching(/^format: /),
        expect.stringMatching(/^checksums: /),
        expect.stringMatching(/^user: /),
      ]),
    );
  });
});

describe("entries per architecture", () => {
  const entry = (name: string, arch: string, boot = arch === "x86_64" ? "bios" : "uefi") =>
    `kind: download\nname: ${name}\ndescription: d\narch: ${arch}\nurl: http://m/${arch}.img\nchecksums: http://m/SHA256SUMS\nformat: qcow2\nuser: u\nboot: ${boot}\n`;

  it("picks the entry for the architecture asked for, and lists each", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kvmci-catalog-test-"));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, "os.yml"), entry("os", "x86_64"));
    await writeFile(join(dir, "os.aarch64.yml"), entry("os", "aarch64"));
    await writeFile(join(dir, "armonly.yml"), entry("armonly", "aarch64"));
    expect(await loadCatalogEntry("os", "aarch64", [dir])).toMatchObject({
      url: "http://m/aarch64.img",
    });
    expect(await loadCatalogEntry("os", "x86_64", [dir])).toMatchObject({
      url: "http://m/x86_64.img",
    });
    expect(await loadCatalogEntry("armonly", "x86_64", [dir])).toBeUndefined();
    expect((await loadCatalogEntries("armonly", [dir])).map((e) => e.arch)).toEqual(["aarch64"]);
    expect((await listCatalog([dir])).map((e) => `${e.name}/${e.arch}`)).toEqual([
      "armonly/aarch64",
      "os/x86_64",
      "os/aarch64",
    ]);
  });

  it("refuses a file named for another architecture than it declares, and a wrong boot", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kvmci-catalog-test-"));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, "os.aarch64.yml"), entry("os", "x86_64"));
    await writeFile(join(dir, "bios.yml"), entry("bios", "aarch64", "bios"));
    const misnamed = await loadCatalogEntry("os", "x86_64", [dir]).catch((e: unknown) => e);
    expect(isKvmciError(misnamed) && misnamed.details.join()).toMatch(/must match the file name/);
    const wrongBoot = await loadCatalogEntry("bios", "aarch64", [dir]).catch((e: unknown) => e);
    expect(isKvmciError(wrongBoot) && wrongBoot.details.join()).toMatch(
      /^boot: expected boot: bios for x86_64 and boot: uefi for aarch64/,
    );
  });
});
