// npm run bench (second part): download throughput of `kvmci image pull` from a loopback HTTP
// server against curl fetching the same file in the same run (target >= 0.9x curl's), and the
// time the image phase of `kvmci run` takes once that image is cached (target < 100 ms).
// Each case runs unthrottled (loopback at memory speed: CPU-bound, where kvmci's verification
// costs most) and with the server limited to a fast network's rate.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { Transform } from "node:stream";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const cli = join(root, "bin/kvmci.js");
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const work = await mkdtemp(join(tmpdir(), "kvmci-bench-dl-"));

function timed(cmd, args, env = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, {
      cwd: work,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - started;
      if (code !== 0)
        reject(new Error(`${cmd} ${args.join(" ")} exited ${code}\n${out.slice(-2000)}`));
      else resolve({ ms, out });
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
let rate; // bytes per second, or undefined for as fast as loopback goes
const server = createServer(async (req, res) => {
  if (req.url === "/SHA256SUMS") return res.end(sums.sha256);
  if (req.url === "/SHA512SUMS") return res.end(sums.sha512);
  if (req.url !== "/disk.qcow2") return res.writeHead(404).end();
  res.writeHead(200, { "content-length": (await stat(image)).size });
  const body = createReadStream(image, { highWaterMark: 1 << 20 });
  if (!rate) return body.pipe(res);
  const limit = rate;
  const throttle = new Transform({
    transform(chunk, _encoding, callback) {
      setTimeout(() => callback(null, chunk), (chunk.length / limit) * 1000);
    },
  });
  body.pipe(throttle).pipe(res);
});
let image;
const sums = {};
try {
  const built = await timed("node", [cli, "image", "build", "debian-12"]);
  image = built.out.trim().split("\n").at(-1).split(" ")[2];
  const size = (await stat(image)).size;
  for (const algorithm of ["sha256", "sha512"]) {
    const hash = createHash(algorithm);
    for await (const chunk of createReadStream(image)) hash.update(chunk);
    sums[algorithm] = `${hash.digest("hex")}  disk.qcow2\n`;
  }
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const catalog = join(work, "catalog");
  await mkdir(catalog);
  for (const algorithm of ["sha256", "sha512"])
    await writeFile(
      join(catalog, `bench-${algorithm}.yml`),
      `kind: download\nname: bench-${algorithm}\ndescription: bench\narch: x86_64\nurl: ${origin}/disk.qcow2\nchecksums: ${origin}/${algorithm.toUpperCase()}SUMS\nformat: qcow2\nuser: debian\nboot: bios\n`,
    );
  const MiB = 1024 * 1024;
  const cases = [
    { algorithm: "sha256", rate: undefined },
    { algorithm: "sha512", rate: undefined },
    { algorithm: "sha256", rate: 200 * MiB },
  ];
  let lastCache;
  for (const c of cases) {
    rate = c.rate;
    const curl = [];
    const kvmci = [];
    for (let i = 0; i < rounds; i++) {
      const fetched = await timed("curl", [
        "-sSf",
        "-o",
        join(work, "curl.qcow2"),
        `${origin}/disk.qcow2`,
      ]);
      await rm(join(work, "curl.qcow2"));
      curl.push(fetched.ms);
      if (lastCache) await rm(lastCache, { recursive: true });
      lastCache = join(work, `cache-${c.algorithm}-${i}`);
      const pulled = await timed("node", [cli, "image", "pull", `bench-${c.algorithm}`], {
        KVMCI_CACHE_DIR: lastCache,
        KVMCI_CATALOG: catalog,
      });
      kvmci.push(pulled.ms);
    }
    const mbps = (ms) => (size / MiB / (ms / 1000)).toFixed(0);
    const cm = median(curl);
    const km = median(kvmci);
    console.log(
      `${(size / MiB).toFixed(0)} MiB, ${c.rate ? `server limited to ${c.rate / MiB} MiB/s` : "unthrottled loopback"}, ${c.algorithm} verified, median of ${rounds}: curl ${(cm / 1000).toFixed(2)}s (${mbps(cm)} MiB/s), kvmci image pull ${(km / 1000).toFixed(2)}s (${mbps(km)} MiB/s) -> ${(cm / km).toFixed(2)}x curl's throughput (target >= 0.90)`,
    );
  }
  console.log(
    "(kvmci's time is the whole command: starting node, fetching the checksum list, hashing while writing, qemu-img info, the commit)",
  );

  // The image phase of a run whose image is cached: read from the JSON report of a real run.
  const cache = lastCache;
  const phases = [];
  for (let i = 0; i < 2; i++) {
    await timed(
      "node",
      [
        cli,
        "run",
        "--image",
        "bench-sha256",
        "--accel",
        process.env.BENCH_ACCEL ?? "tcg",
        "--no-sync",
        "--json",
        "report.json",
        "--",
        "true",
      ],
      { KVMCI_CACHE_DIR: cache, KVMCI_CATALOG: catalog },
    );
    const report = JSON.parse(await readFile(join(work, "report.json"), "utf8"));
    phases.push(report.phases.find((p) => p.phase === "image").ms);
  }
  console.log(
    `image phase of kvmci run with the downloaded image cached: ${phases.map((ms) => `${ms.toFixed(0)} ms`).join(", ")} (target < 100 ms)`,
  );
} finally {
  server.close();
  await rm(work, { recursive: true, force: true });
}
