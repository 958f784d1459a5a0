// npm run bench: kvmci's speed and memory targets on this machine, one table. Every figure is
// measured next to its baseline in the same run (so both see the same machine), as min, median
// and max, and next to the previous version of kvmci run the same way (the last tag, else the
// merge base with main, else HEAD~1; BENCH_PREVIOUS=<rev> picks another). Nothing here asserts
// a time: the table says pass or fail against each target, and the bench exits 0 either way.
//
//   BENCH_ROUNDS (default 5) warm rounds; BENCH_COLD_ROUNDS (default 3) cold and by-hand rounds;
//   BENCH_SKIP_FIRST=1 leaves out the first run with an empty cache (it builds the image).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { measure, median } from "./measure.mjs";

const root = fileURLToPath(new URL("../", import.meta.url));
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const coldRounds = Number(process.env.BENCH_COLD_ROUNDS ?? 3);
const work = await mkdtemp(join(tmpdir(), "kvmci-bench-"));
const MiB = 2 ** 20;

const git = (args) => execFileSync("git", args, { cwd: root, encoding: "utf8" }).trim();
const sh = (line, cwd = work) => measure("bash", ["-c", line], { cwd });
const stats = (xs) => ({
  min: Math.min(...xs),
  median: median(xs),
  max: Math.max(...xs),
  n: xs.length,
});

/** A kvmci to measure: `now` is this checkout, `previous` a worktree of an earlier commit. */
function kvmciAt(cliPath) {
  return async (args, cwd = work) => {
    const reportPath = join(work, `report-${Math.random().toString(36).slice(2)}.json`);
    const r = await measure("node", [cliPath, "run", "--quiet", "--json", reportPath, ...args], {
      cwd,
    });
    const report = JSON.parse(await readFile(reportPath, "utf8"));
    const phase = (...names) =>
      report.phases.filter((p) => names.includes(p.phase)).reduce((sum, p) => sum + p.ms, 0);
    return { ...r, report, phase };
  };
}

function previousRevision() {
  if (process.env.BENCH_PREVIOUS) return process.env.BENCH_PREVIOUS;
  try {
    return git(["describe", "--tags", "--abbrev=0"]);
  } catch {
    /* no tag yet */
  }
  const base = git(["merge-base", "HEAD", "main"]);
  return base === git(["rev-parse", "HEAD"]) ? "HEAD~1" : base;
}

/** A folder like a repository with vendored assets: `files` files, `bytes` in all. */
async function makeLargeWorkspace(dir, files, bytes) {
  const big = 100;
  const smallBytes = Math.floor((bytes * 0.4) / (files - big));
  const bigBytes = Math.floor((bytes - smallBytes * (files - big)) / big);
  let seed = 1;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let i = 0; i < files; i++) {
    const sub = join(dir, `pkg${i % 50}`, `mod${i % 7}`);
    await mkdir(sub, { recursive: true });
    // Sizes vary around the mean, as source files do; content does not compress much.
    const size = i < big ? bigBytes : Math.floor(smallBytes * (0.5 + (next() % 1000) / 1000));
    await writeFile(join(sub, `f${i}.${i < big ? "bin" : "js"}`), randomBytes(size));
  }
}

const rows = [];
const row = (target, unit, now, baseline, previous, test, goal) =>
  rows.push({ target, unit, now, baseline, previous, goal: [test, goal] });

const previousRev = previousRevision();
const previousDir = join(work, "previous");
git(["worktree", "add", "--detach", previousDir, previousRev]);
await symlink(join(root, "node_modules"), join(previousDir, "node_modules"));
const now = kvmciAt(join(root, "bin/kvmci.js"));
const previous = kvmciAt(join(previousDir, "bin/kvmci.js"));
const cli = (...args) =>
  execFileSync("node", [join(root, "bin/kvmci.js"), ...args], { encoding: "utf8" });
const kept = [];

try {
  const large = join(work, "large");
  await makeLargeWorkspace(large, 5000, 100 * MiB);
  const largeBytes = Number(
    execFileSync("du", ["-sb", large], { encoding: "utf8" }).split("\t")[0],
  );
  // Warm-up: the image, a snapshot for each version, the KVM probe settled.
  console.error("warming up (image, snapshots)…");
  await now(["--", "true"], root);
  await previous(["--", "true"], root);

  // 1. Warm runs with this repository as the workspace, interleaved with the previous version's.
  const warm = [];
  const warmPrevious = [];
  for (let i = 0; i < rounds; i++) {
    const w = await now(["--", "true"], root);
    if (w.report.snapshot?.use !== "restored") throw new Error("a warm run did not restore");
    warm.push(w);
    warmPrevious.push(await previous(["--", "true"], root));
    console.error(`warm ${i + 1}/${rounds}: ${(w.ms / 1000).toFixed(2)} s`);
  }
  // 2. Cold runs, and the same guest started by hand (bench/by-hand.sh).
  const cold = [];
  const coldPrevious = [];
  const byHand = [];
  const disk = cli("image", "build", "debian-12").trim().split(" ")[2];
  for (let i = 0; i < coldRounds; i++) {
    const c = await now(["--no-snapshot", "--no-sync", "--", "true"]);
    cold.push(c);
    coldPrevious.push(await previous(["--no-snapshot", "--no-sync", "--", "true"]));
    byHand.push(await measure(join(root, "bench/by-hand.sh"), [disk, c.report.accel.name]));
    console.error(`cold ${i + 1}/${coldRounds}: ${(c.ms / 1000).toFixed(1)} s`);
  }
  // 3. A large workspace, and tar | ssh by hand into a kept guest.
  const largeSync = [];
  const largeSyncPrevious = [];
  for (let i = 0; i < Math.max(3, coldRounds); i++) {
    largeSync.push(await now(["--", "true"], large));
    largeSyncPrevious.push(await previous(["--", "true"], large));
  }
  // Reading it all in the guest: from the workspace disk now, from the guest's own disk before.
  const readAll = ["--", "sh", "-c", "tar c . | wc -c >/dev/null"];
  const largeRead = [];
  const largeReadPrevious = [];
  for (let i = 0; i < Math.max(3, coldRounds); i++) {
    largeRead.push(await now(readAll, large));
    largeReadPrevious.push(await previous(readAll, large));
  }
  const before = new Set(JSON.parse(cli("ls", "--json")).map((g) => g.name));
  await now(["--keep=15m", "--no-sync", "--", "true"]);
  const name = JSON.parse(cli("ls", "--json")).find((g) => !before.has(g.name)).name;
  kept.push(name);
  const ssh = cli("ssh", name, "--print").trim();
  const tarIn = [];
  const tarInRepo = [];
  const tarOut = [];
  await sh(
    `${ssh} 'mkdir -p /tmp/art && for i in $(seq 100); do head -c ${MiB} /dev/urandom >/tmp/art/f$i; done'`,
  );
  for (let i = 0; i < Math.max(3, coldRounds); i++) {
    tarIn.push(
      await sh(
        `tar c -C ${large} . | ${ssh} 'rm -rf /tmp/in && mkdir /tmp/in && tar x -C /tmp/in'`,
      ),
    );
    tarInRepo.push(
      await sh(
        `git ls-files -z | tar c --null -T - | ${ssh} 'rm -rf /tmp/in && mkdir /tmp/in && tar x -C /tmp/in'`,
        root,
      ),
    );
    tarOut.push(await sh(`rm -rf out && mkdir out && ${ssh} 'tar c -C /tmp/art .' | tar x -C out`));
  }
  // 4. Artifacts back: 100 MiB made by the command in the guest.
  const makeArtifacts = `mkdir -p out && for i in $(seq 100); do head -c ${MiB} /dev/urandom >out/f$i; done`;
  const empty = join(work, "empty");
  await mkdir(empty);
  const artifacts = [];
  const artifactsPrevious = [];
  for (let i = 0; i < Math.max(3, coldRounds); i++) {
    artifacts.push(await now(["--artifact", "out/**", "--", "sh", "-c", makeArtifacts], empty));
    artifactsPrevious.push(
      await previous(["--artifact", "out/**", "--", "sh", "-c", makeArtifacts], empty),
    );
  }
  // 5. A matrix of 4 guests in one run, and Node.js alone as the floor of any Node process.
  const matrixArgs = ["--no-sync", ...Array(4).fill(["--image", "debian-12"]).flat(), "--", "true"];
  const matrix = [await now(matrixArgs), await now(matrixArgs)];
  const matrixPrevious = [await previous(matrixArgs)];
  const bareNode = await measure("node", ["-e", "setTimeout(() => {}, 300)"]);
  // 6. The first run on a fresh machine: an empty cache, so the image is built (apt included).
  let first;
  if (!process.env.BENCH_SKIP_FIRST) {
    const cache = join(work, "fresh-cache");
    const r = await measure(
      "bash",
      ["-c", `KVMCI_CACHE_DIR=${cache} node ${join(root, "bin/kvmci.js")} run --quiet -- true`],
      { cwd: empty },
    );
    first = r.ms;
  }

  const s = (ms) => ms / 1000;
  const mibps = (bytes, ms) => bytes / MiB / (ms / 1000);
  const repoBytes = Number(
    execFileSync("bash", ["-c", "git ls-files -z | tar c --null -T - | wc -c"], {
      cwd: root,
      encoding: "utf8",
    }),
  );
  row(
    "warm `run -- true`, this repo",
    "s",
    stats(warm.map((r) => s(r.ms))),
    ["cold run", stats(cold.map((r) => s(r.ms)))],
    stats(warmPrevious.map((r) => s(r.ms))),
    (x) => x.median <= 1.0 && x.max <= 1.5,
    "median ≤ 1.0, max ≤ 1.5",
  );
  row(
    "restore",
    "s",
    stats(warm.map((r) => s(r.phase("restore")))),
    ["cold boot + ready", stats(cold.map((r) => s(r.phase("boot", "ready"))))],
    stats(warmPrevious.map((r) => s(r.phase("restore")))),
    (x) => x.median <= 0.4,
    "≤ 0.4",
  );
  row(
    "sync, this repo",
    "s",
    stats(warm.map((r) => s(r.phase("sync")))),
    ["tar | ssh by hand", stats(tarInRepo.map((r) => s(r.ms)))],
    stats(warmPrevious.map((r) => s(r.phase("sync")))),
    (x) => x.median <= 0.3,
    "≤ 0.3",
  );
  row(
    `sync, ${(largeBytes / MiB).toFixed(0)} MiB in 5000 files`,
    "MiB/s",
    stats(largeSync.map((r) => mibps(largeBytes, r.phase("sync")))),
    ["tar | ssh by hand", stats(tarIn.map((r) => mibps(largeBytes, r.ms)))],
    stats(largeSyncPrevious.map((r) => mibps(largeBytes, r.phase("sync")))),
    (x) => x.median >= 50,
    "≥ 50",
  );
  // What a lazy workspace costs later: the command reads every file, from the workspace disk
  // (now) or from the guest's own disk after the SSH sync (the previous version).
  const readNow = stats(largeRead.map((r) => mibps(largeBytes, r.phase("command"))));
  const readBefore = stats(largeReadPrevious.map((r) => mibps(largeBytes, r.phase("command"))));
  row(
    `command reads all ${(largeBytes / MiB).toFixed(0)} MiB (tar c .)`,
    "MiB/s",
    readNow,
    ["previous version (its own disk)", readBefore],
    readBefore,
    (x) => x.median >= 0.5 * readBefore.median,
    "≥ half the baseline",
  );
  row(
    "cold boot to ready",
    "s",
    stats(cold.map((r) => s(r.phase("overlay", "seed", "boot", "ready")))),
    ["by hand (bench/by-hand.sh)", stats(byHand.map((r) => s(r.ms)))],
    stats(coldPrevious.map((r) => s(r.phase("overlay", "seed", "boot", "ready")))),
    (x) => x.median <= 15,
    "≤ 15",
  );
  if (first !== undefined)
    row(
      "first run, empty cache (image built)",
      "s",
      stats([s(first)]),
      ["cold run, image cached", stats(cold.map((r) => s(r.ms)))],
      undefined,
      (x) => x.median <= 90,
      "≤ 90",
    );
  row(
    "artifacts back, 100 MiB",
    "MiB/s",
    stats(artifacts.map((r) => mibps(100 * MiB, r.phase("artifacts")))),
    ["ssh tar by hand", stats(tarOut.map((r) => mibps(100 * MiB, r.ms)))],
    stats(artifactsPrevious.map((r) => mibps(100 * MiB, r.phase("artifacts")))),
    (x) => x.median >= 50,
    "≥ 50",
  );
  row(
    "kvmci peak RSS, 1 guest",
    "MiB",
    stats(warm.map((r) => r.peakKiB / 1024)),
    ["node alone", stats([bareNode.peakKiB / 1024])],
    stats(warmPrevious.map((r) => r.peakKiB / 1024)),
    (x) => x.max <= 100,
    "max ≤ 100",
  );
  row(
    "kvmci peak RSS, matrix of 4",
    "MiB",
    stats(matrix.map((r) => r.peakKiB / 1024)),
    ["1 guest", stats(warm.map((r) => r.peakKiB / 1024))],
    stats(matrixPrevious.map((r) => r.peakKiB / 1024)),
    (x) => x.max <= 200,
    "max ≤ 200",
  );

  const f = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const mmm = (x) =>
    x ? (x.n > 1 ? `${f(x.median)} (${f(x.min)}–${f(x.max)})` : f(x.median)) : "—";
  const table = [
    [
      "target",
      "unit",
      "now: median (min–max)",
      "baseline",
      "baseline figure",
      "ratio",
      `previous (${previousRev.slice(0, 12)})`,
      "goal",
      "result",
    ],
    ...rows.map((r) => [
      r.target,
      r.unit,
      mmm(r.now),
      r.baseline[0],
      mmm(r.baseline[1]),
      (r.now.median / r.baseline[1].median).toFixed(2),
      mmm(r.previous),
      r.goal[1] ?? "",
      r.goal[0](r.now) ? "pass" : "FAIL",
    ]),
  ];
  console.log(
    `\nkvmci bench, ${new Date().toISOString()}, accel ${warm[0].report.accel.name}, ${rounds} warm rounds, ${coldRounds} cold; this repo ${(repoBytes / MiB).toFixed(1)} MiB as tar\n`,
  );
  for (const [i, cells] of table.entries()) {
    console.log(`| ${cells.map((c) => String(c).replaceAll("|", "\\|")).join(" | ")} |`);
    if (i === 0) console.log(`|${cells.map(() => "---").join("|")}|`);
  }
  const last = warm.at(-1).report.phases;
  console.log(
    `\nwarm run phases (last round): ${last.map((p) => `${p.phase} ${p.ms} ms`).join(", ")}`,
  );
} finally {
  for (const name of kept)
    await measure("node", [join(root, "bin/kvmci.js"), "stop", name]).catch(() => {});
  git(["worktree", "remove", "--force", previousDir]);
  await rm(work, { recursive: true, force: true });
}
