import { describe, expect, it } from "vitest";
import type { CachedImage } from "../../src/image/cache.js";
import type { CatalogEntry } from "../../src/image/catalog.js";
import {
  catalogListJson,
  formatCatalogList,
  formatImageList,
  imageListJson,
  type ImageListing,
} from "../../src/report/image-list.js";
import type { CachedSnapshot } from "../../src/snapshot/store.js";

const digest = `sha256:${"ab".repeat(32)}`;
const base: CachedImage = {
  info: {
    name: "debian-12",
    arch: "x86_64",
    digest,
    format: "qcow2",
    user: "debian",
    virtualSize: 3 * 1024 ** 3,
    source: { kind: "recipe", key: "r1" },
    boot: { firmware: "bios", kernel: "vmlinuz" },
    createdAt: "2025-05-01T10:00:00.000Z",
  },
  dir: "/cache/images/debian-12-r1",
  diskPath: "/cache/images/debian-12-r1/disk.qcow2",
  entry: "debian-12-r1",
  sizeOnDisk: 400 * 1024 ** 2,
  lastUsed: new Date("2025-05-02T08:30:00.000Z"),
};
const prepared: CachedImage = {
  ...base,
  info: {
    ...base.info,
    source: {
      kind: "prepared",
      key: "p".repeat(64),
      base: "debian-12-r1",
      baseDigest: digest,
      packages: ["curl"],
    },
  },
  dir: "/cache/images/prepared-p",
  entry: "prepared-p",
  sizeOnDisk: 50 * 1024 ** 2,
};
const snapshot: CachedSnapshot = {
  info: {
    key: "k",
    image: { name: "debian-12", entry: "prepared-p", digest },
    made: {
      accel: "tcg",
      cpus: 2,
      memoryBytes: 2 * 1024 ** 3,
      boot: "kernel",
      network: "user",
      qemuVersion: "QEMU emulator version 7.2.15",
    },
    user: "debian",
    hostPublicKey: "ssh-ed25519 AAAA",
    files: {
      memory: { bytes: 1, sha256: "0".repeat(64) },
      disk: { bytes: 1, sha256: "0".repeat(64) },
    },
    saveMs: 2500,
    createdAt: "2025-05-01T11:00:00.000Z",
  },
  dir: "/cache/snapshots/snap-k",
  entry: "snap-k",
  memoryPath: "/cache/snapshots/snap-k/memory.bin",
  ramPath: undefined,
  diskPath: "/cache/snapshots/snap-k/disk.qcow2",
  sizeOnDisk: 300 * 1024 ** 2,
  lastUsed: new Date("2025-05-02T09:00:00.000Z"),
};
const listing: ImageListing = {
  cacheDir: "/cache",
  images: [base, prepared],
  snapshots: [snapshot],
  inUse: new Map([["snap-k", [4242]]]),
};

describe("kvmci image ls", () => {
  it("--json: images and snapshots as data, in bytes and ISO times, with who uses them", () => {
    const json = JSON.parse(JSON.stringify(imageListJson(listing))) as ReturnType<
      typeof imageListJson
    >;
    expect(json).toEqual({
      version: 1,
      cacheDir: "/cache",
      images: [
        {
          name: "debian-12",
          arch: "x86_64",
          entry: "debian-12-r1",
          source: "recipe",
          digest,
          format: "qcow2",
          user: "debian",
          sizeBytes: 400 * 1024 ** 2,
          createdAt: "2025-05-01T10:00:00.000Z",
          lastUsedAt: "2025-05-02T08:30:00.000Z",
          inUseBy: [],
        },
        expect.objectContaining({
          entry: "prepared-p",
          source: "prepared",
          madeFrom: { base: "debian-12-r1", packages: ["curl"], provisioning: "p".repeat(64) },
        }),
      ],
      snapshots: [
        {
          entry: "snap-k",
          image: { name: "debian-12", entry: "prepared-p", digest },
          sizeBytes: 300 * 1024 ** 2,
          createdAt: "2025-05-01T11:00:00.000Z",
          lastUsedAt: "2025-05-02T09:00:00.000Z",
          inUseBy: [4242],
          madeWith: snapshot.info.made,
        },
      ],
      totalBytes: 750 * 1024 ** 2,
    });
  });

  it("shows the same as tables", () => {
    const text = formatImageList(listing);
    expect(text).toMatch(/^NAME +ARCH +SOURCE +SIZE +DIGEST/m);
    expect(text).toMatch(
      /^debian-12 +x86_64 +recipe +400 MiB +sha256:abababababab +2025-05-01 10:00Z/m,
    );
    expect(text).toMatch(/^debian-12 +300 MiB +2025-05-01 11:00Z +in use now +snap-k$/m);
    expect(text).toContain("prepared-p  debian-12-r1 + packages curl, provisioning pppppppppppp");
    // A snapshot saved before kvmci ran arm64 guests records no architecture: it is x86_64.
    expect(text).toMatch(/^snap-k +prepared-p, x86_64, tcg, 2 CPUs, 2\.0 GiB memory,/m);
    expect(text.endsWith("2 images, 1 snapshot, 750 MiB in /cache\n")).toBe(true);
    expect(formatImageList({ ...listing, images: [], snapshots: [] })).toMatch(
      /^No images cached in \/cache\./,
    );
  });

  it("shows an arm64 snapshot's architecture", () => {
    const arm = {
      ...snapshot,
      info: { ...snapshot.info, made: { ...snapshot.info.made, arch: "aarch64" as const } },
    };
    expect(formatImageList({ ...listing, snapshots: [arm] })).toMatch(
      /^snap-k +prepared-p, aarch64, tcg,/m,
    );
  });

  it("--available --json: the catalog, with what is cached for each architecture", () => {
    const entries = [
      {
        name: "debian-12",
        arch: "x86_64",
        kind: "recipe",
        user: "debian",
        description: "Debian 12",
      },
      {
        name: "debian-12",
        arch: "aarch64",
        kind: "recipe",
        user: "debian",
        description: "Debian 12",
      },
      {
        name: "ubuntu-24.04",
        arch: "x86_64",
        kind: "download",
        user: "ubuntu",
        description: "Ubuntu 24.04",
      },
    ] as CatalogEntry[];
    // Only the x86_64 debian-12 is cached: the aarch64 entry of the same name is not.
    const l = { entries, cached: [base] };
    expect(catalogListJson(l)).toEqual({
      version: 1,
      catalog: [
        {
          name: "debian-12",
          arch: "x86_64",
          kind: "recipe",
          user: "debian",
          cached: true,
          description: "Debian 12",
        },
        {
          name: "debian-12",
          arch: "aarch64",
          kind: "recipe",
          user: "debian",
          cached: false,
          description: "Debian 12",
        },
        {
          name: "ubuntu-24.04",
          arch: "x86_64",
          kind: "download",
          user: "ubuntu",
          cached: false,
          description: "Ubuntu 24.04",
        },
      ],
    });
    const text = formatCatalogList(l);
    expect(text).toMatch(/^NAME +ARCH +KIND +USER +CACHED +DESCRIPTION$/m);
    expect(text).toMatch(/^debian-12 +x86_64 +recipe +debian +yes +Debian 12$/m);
    expect(text).toMatch(/^debian-12 +aarch64 +recipe +debian +no +Debian 12$/m);
    expect(text).toMatch(/^ubuntu-24\.04 +x86_64 +download +ubuntu +no +Ubuntu 24\.04$/m);
  });
});
