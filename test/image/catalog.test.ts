import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import {
  builtinCatalogDir,
  catalogDirs,
  listCatalog,
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
    const entry = await loadCatalogEntry("ubuntu-24.04", dirs);
    expect(entry).toMatchObject({ kind: "download", url: "http://mirror.local/u.img" });
    const error = await loadCatalogEntry("bad", dirs).catch((e: unknown) => e);
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
