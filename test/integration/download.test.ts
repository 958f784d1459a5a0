import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { beforeEach, describe, expect, it } from "vitest";
import { waitForOutput, type Sandbox } from "./harness.js";
import { startProxy, type ImageServer } from "./image-server.js";
import { usePublishedImages } from "./published.js";

const images = usePublishedImages();
let server: ImageServer;
let fixtures: string;
let smallSha256: string;
let sandbox: Sandbox;
let cache: string;
beforeEach(() => {
  ({ server, fixtures, smallSha256 } = images.published());
  ({ sandbox, cache } = images.each());
});
const kvmci = (args: string[], extra: NodeJS.ProcessEnv = {}) => images.each().kvmci(args, extra);
const cacheContents = () => images.each().contents();

describe("kvmci image pull", () => {
  it("downloads a catalog image once, verified against the published list, and reuses it", async () => {
    const first = await kvmci(["image", "pull", "loop-debian"]);
    expect(first.exitCode, first.all).toBe(0);
    expect(first.stdout).toMatch(/^loop-debian sha512:[0-9a-f]{128} \S+\/disk\.qcow2$/m);
    expect(server.downloads("/debian/disk.qcow2")).toHaveLength(1);

    // A second pull asks the checksum list again, finds the same digest, downloads nothing.
    const again = await kvmci(["image", "pull", "loop-debian"]);
    expect(again.exitCode, again.all).toBe(0);
    expect(again.stderr).toContain("up to date");
    expect(server.downloads("/debian/disk.qcow2")).toHaveLength(1);
    expect(server.requests.filter((r) => r.path === "/debian/SHA512SUMS")).toHaveLength(2);

    const list = await kvmci(["image", "ls"]);
    expect(list.stdout).toMatch(/^loop-debian\s+x86_64\s+download\s+\d+ MiB\s+sha512:/m);
    const available = await kvmci(["image", "ls", "--available"]);
    expect(available.stdout).toMatch(/^loop-debian\s+x86_64\s+download\s+debian\s+yes\s/m);
    expect(available.stdout).toMatch(/^loop-small\s+x86_64\s+download\s+debian\s+no\s/m);
    expect(available.stdout).toMatch(/^ubuntu-24\.04\s+x86_64\s+download\s+ubuntu\s+no\s/m);
    expect(available.stdout).toMatch(/^ubuntu-24\.04\s+aarch64\s+download\s+ubuntu\s+no\s/m);
    expect(await cacheContents()).toMatchObject({ downloads: [] });
  });

  it("deletes a download whose digest does not match, saying expected and actual", async () => {
    const result = await kvmci(["image", "pull", "loop-wrong"]);
    expect(result.exitCode, result.all).toBe(75);
    expect(result.stderr).toContain(`expected sha256:${"e".repeat(64)}`);
    expect(result.stderr).toContain(`actual   sha256:${smallSha256}`);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await cacheContents()).toEqual({ images: [], downloads: [] });
  });

  it("resumes a transfer cut short, from the byte where it stopped", async () => {
    const cut = 100 * 1024 * 1024;
    server.fail("/debian/disk.qcow2", { kind: "truncate", afterBytes: cut });
    const result = await kvmci(["image", "pull", "loop-debian"]);
    expect(result.exitCode, result.all).toBe(0);
    const gets = server.downloads("/debian/disk.qcow2");
    expect(gets.map((g) => g.status)).toEqual([200, 206]);
    // The server dropped the connection at about `cut`; kvmci asks for exactly what it lacks.
    const from = Number(/^bytes=(\d+)-$/.exec(gets[1]?.range ?? "")?.[1]);
    expect(from).toBeGreaterThan(cut / 2);
    expect(from).toBeLessThanOrEqual(cut);
    expect(result.stderr).toContain(`from byte ${from}`);
  });

  it("retries a 500, and waits as long as a 429's Retry-After says", async () => {
    server.fail("/small/small.qcow2", { kind: "status", status: 500 });
    server.fail("/small/small.qcow2", {
      kind: "status",
      status: 429,
      headers: { "retry-after": "2" },
    });
    const started = Date.now();
    const result = await kvmci(["image", "pull", "loop-small"]);
    expect(result.exitCode, result.all).toBe(0);
    expect(
      server.requests.filter((r) => r.path === "/small/small.qcow2").map((r) => r.status),
    ).toEqual([500, 429, 200]);
    expect(result.stderr).toMatch(/failed \(HTTP 500\); retrying in 1\.\ds from byte 0/);
    expect(result.stderr).toMatch(/failed \(HTTP 429\); retrying in 2\.0s/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
  });

  it("downloads once when two processes pull the same image at the same time", async () => {
    server.bytesPerSecond = 150 * 1024 * 1024;
    const [a, b] = await Promise.all([
      kvmci(["image", "pull", "loop-debian"]),
      kvmci(["image", "pull", "loop-debian"]),
    ]);
    expect(a.exitCode, a.all).toBe(0);
    expect(b.exitCode, b.all).toBe(0);
    expect(server.downloads("/debian/disk.qcow2")).toHaveLength(1);
    expect(`${a.stderr}${b.stderr}`).toMatch(/another kvmci \(pid \d+\) is preparing loop-debian-/);
    expect(a.stdout).toBe(b.stdout);
  });

  it("after a kill -9 mid-download, leaves nothing usable, and the next pull resumes", async () => {
    server.bytesPerSecond = 40 * 1024 * 1024;
    const child = kvmci(["image", "pull", "loop-debian"]);
    await waitForOutput(child, /downloading http/, 30_000);
    const part = async () =>
      (await readdir(join(cache, "downloads")).catch(() => [] as string[])).find((f) =>
        f.endsWith(".part"),
      );
    for (let i = 0; i < 200; i++) {
      const name = await part();
      if (name && (await stat(join(cache, "downloads", name))).size > 30 * 1024 * 1024) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    child.kill("SIGKILL");
    await child;
    const list = await kvmci(["image", "ls"]);
    expect(list.stdout).toContain("No images cached");
    expect((await cacheContents()).images).toEqual([]);

    server.bytesPerSecond = undefined;
    const next = await kvmci(["image", "pull", "loop-debian"]);
    expect(next.exitCode, next.all).toBe(0);
    const resumed = server.downloads("/debian/disk.qcow2").at(-1)!;
    expect(resumed.status).toBe(206);
    expect(Number(/bytes=(\d+)-/.exec(resumed.range ?? "")?.[1])).toBeGreaterThan(30 * 1024 * 1024);
    expect(await cacheContents()).toMatchObject({ downloads: [] });
  });

  it("goes through the proxy named in HTTP_PROXY, except for hosts in NO_PROXY", async () => {
    const proxy = await startProxy();
    try {
      const result = await kvmci(["image", "pull", "loop-small"], {
        HTTP_PROXY: proxy.url,
        http_proxy: proxy.url,
      });
      expect(result.exitCode, result.all).toBe(0);
      expect(proxy.count()).toBe(2);
      // A host named in NO_PROXY is reached directly.
      const direct = await kvmci(["image", "pull", "loop-small"], {
        HTTP_PROXY: proxy.url,
        http_proxy: proxy.url,
        NO_PROXY: "localhost,127.0.0.1",
      });
      expect(direct.exitCode, direct.all).toBe(0);
      expect(proxy.count()).toBe(2);
    } finally {
      await proxy.close();
    }
  });
});

describe("kvmci image pull: what goes wrong gets its own exit code, and the cache stays as it was", () => {
  it("unknown name: 71, with the closest names", async () => {
    const result = await kvmci(["image", "pull", "loop-smal"]);
    expect(result.exitCode, result.all).toBe(71);
    expect(result.stderr).toContain('Unknown image "loop-smal"');
    expect(result.stderr).toContain("Did you mean loop-small");
  });

  it("a URL that answers 404: 74", async () => {
    const result = await kvmci(["image", "pull", "loop-gone"]);
    expect(result.exitCode, result.all).toBe(74);
    expect(result.stderr).toContain("answered HTTP 404 (not found)");
    expect(await cacheContents()).toEqual({ images: [], downloads: [] });
  });

  it("a file that is not a disk image: 72, and it is deleted", async () => {
    const result = await kvmci(["image", "pull", "loop-notdisk"]);
    expect(result.exitCode, result.all).toBe(72);
    expect(result.stderr).toContain("is not a disk image kvmci can use");
    expect(await cacheContents()).toEqual({ images: [], downloads: [] });
    const local = await kvmci(["image", "pull", join(fixtures, "notes.qcow2")]);
    expect(local.exitCode, local.all).toBe(72);
    expect(local.stderr).toContain("no MBR or GPT partition table");
  });

  it("a URL must be pinned: 64 without a digest, 75 with a wrong one, cached with the right one", async () => {
    const url = server.url("/small/small.qcow2");
    const bare = await kvmci(["image", "pull", url]);
    expect(bare.exitCode, bare.all).toBe(64);
    expect(bare.stderr).toContain("a URL needs a pinned digest");
    expect(bare.stderr).toContain(`${url}#sha256=<hex>`);
    const wrong = await kvmci(["image", "pull", `${url}#sha256=${"f".repeat(64)}`]);
    expect(wrong.exitCode, wrong.all).toBe(75);
    const right = await kvmci(["image", "pull", `${url}#sha256=${smallSha256}`]);
    expect(right.exitCode, right.all).toBe(0);
    expect((await cacheContents()).images).toEqual([`url-small.qcow2-${smallSha256.slice(0, 16)}`]);
    const run = await kvmci(["run", "--image", url, "--", "true"]);
    expect(run.exitCode, run.all).toBe(64);
    expect(run.stderr).toContain("--image");
  });

  it.runIf(process.getuid?.() === 0)(
    "a full cache file system: 73, nothing half-written left",
    async () => {
      await mkdir(cache);
      await execa("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", cache]);
      try {
        const result = await kvmci(["image", "pull", "loop-debian"]);
        expect(result.exitCode, result.all).toBe(73);
        expect(result.stderr).toContain("No space left in the cache");
        expect(await cacheContents()).toEqual({ images: [], downloads: [] });
      } finally {
        await execa("umount", [cache]);
      }
    },
  );
});

describe("kvmci gc and image rm", () => {
  it("removes the least recently used images first, down to --max-size", async () => {
    expect((await kvmci(["image", "pull", "loop-debian"])).exitCode).toBe(0);
    expect((await kvmci(["image", "pull", "loop-small"])).exitCode).toBe(0);
    // A build of the debian-12 recipe as it used to be: no run of this kvmci can choose it.
    const old = join(cache, "images", `debian-12-${"0".repeat(16)}`);
    await mkdir(old);
    await execa("qemu-img", ["create", "-q", "-f", "qcow2", join(old, "disk.qcow2"), "16M"]);
    await writeFile(
      join(old, "image.json"),
      JSON.stringify({
        name: "debian-12",
        arch: "x86_64",
        digest: `sha256:${"0".repeat(64)}`,
        format: "qcow2",
        user: "debian",
        virtualSize: 16 << 20,
        source: { kind: "recipe", key: "0".repeat(64) },
        boot: { firmware: "bios" },
        createdAt: new Date(0).toISOString(),
      }),
    );
    const dry = await kvmci(["gc", "--max-size", "100M", "--dry-run"]);
    expect(dry.stdout).toMatch(
      /^would remove debian-12-0{16} \(.+\): built from an older version of its recipe$/m,
    );
    expect(dry.stdout).toMatch(
      /^would remove loop-debian-[0-9a-f]{16} \(\d+ MiB\): least recently used/m,
    );
    expect((await cacheContents()).images).toHaveLength(3);
    const gc = await kvmci(["gc", "--max-size", "100M"]);
    expect(gc.exitCode, gc.all).toBe(0);
    expect(gc.stdout).toMatch(/^removed loop-debian-/m);
    expect(gc.stdout).toMatch(/^removed debian-12-0{16} /m);
    expect(gc.stdout).not.toContain("loop-small");
    expect((await cacheContents()).images).toEqual([expect.stringMatching(/^loop-small-/)]);
    const rm = await kvmci(["image", "rm", "loop-small"]);
    expect(rm.exitCode, rm.all).toBe(0);
    expect((await cacheContents()).images).toEqual([]);
    const missing = await kvmci(["image", "rm", "loop-small"]);
    expect(missing.exitCode).toBe(71);
    const bad = await kvmci(["gc", "--max-size", "lots"]);
    expect(bad.exitCode).toBe(64);
    expect(bad.stderr).toContain('--max-size: expected a size like 10G or 500M, got "lots"');
  });

  // The image is pulled first: with the download inside the same `kvmci run`, this test hung
  // twice in about ten runs in the boot phase (guest fully booted, kvmci never got past SSH);
  // the cause is not found yet (see the issue notes). The first-use path is the same resolve
  // code that `image pull` runs.
  it("boots a guest from a downloaded image, and never removes an image a guest is using", async () => {
    expect((await kvmci(["image", "pull", "loop-debian"])).exitCode).toBe(0);
    const report = join(sandbox.root, "report.json");
    // --accel tcg: this fresh cache holds no kernel to prove KVM with, and on this host KVM
    // hangs 64-bit guests (see docs/cli.md, "KVM").
    const run = kvmci([
      "run",
      "--image",
      "loop-debian",
      "--accel",
      "tcg",
      "--no-sync",
      "--no-snapshot",
      "--json",
      report,
      "--",
      "sh",
      "-c",
      '. /etc/os-release; echo "guest: $ID $VERSION_ID as $(id -un)"; sleep 6',
    ]);
    await waitForOutput(run, /command output follows/, 10 * 60_000);
    const gc = await kvmci(["gc", "--max-size", "1"]);
    expect(gc.stdout).toMatch(/^kept loop-debian-[0-9a-f]{16}: in use by pid \d+$/m);
    const rm = await kvmci(["image", "rm", "loop-debian"]);
    expect(rm.exitCode, rm.all).toBe(65);
    expect(rm.stderr).toContain("In use by a running guest");
    const result = await run;
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toContain("guest: debian 12 as debian");
    const json = JSON.parse(await readFile(report, "utf8")) as {
      image: { name: string; origin: string };
      phases: { phase: string; ms: number }[];
    };
    expect(json.image).toMatchObject({ name: "loop-debian", origin: "cached" });
    expect(server.downloads("/debian/disk.qcow2")).toHaveLength(1);
    // Nothing of the run is left, and now the image may go.
    expect(await sandbox.leftovers()).toEqual({ runFolders: [], qemu: [] });
    const after = await kvmci(["gc", "--max-size", "1"]);
    expect(after.stdout).toMatch(/^removed loop-debian-/m);
  });
});
