// npm run bench (and bench:warm): a warm `kvmci run -- true` (restored from a snapshot) against a
// cold `kvmci run --no-snapshot -- true`, same image, same run, interleaved. Targets on a 2-core
// host under TCG: warm <= 5 s and <= 0.1x cold. Also reports the time to save the snapshot and
// its size on disk for a 1 GiB guest, and kvmci's peak memory during a warm run.
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { measure, median, seconds } from "./measure.mjs";

const root = fileURLToPath(new URL("../", import.meta.url));
const cli = join(root, "bin/kvmci.js");
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const work = await mkdtemp(join(tmpdir(), "kvmci-bench-warm-"));
const cacheDir =
  process.env.KVMCI_CACHE_DIR ??
  join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME, ".cache"), "kvmci");
const guest = ["--memory", "1G"];

async function kvmci(args) {
  const result = await measure("node", [cli, ...args], { cwd: work });
  const report = args.includes("--json")
    ? JSON.parse(await readFile(join(work, "report.json"), "utf8"))
    : undefined;
  return { ...result, report };
}

const run = (extra) => kvmci(["run", ...guest, "--json", "report.json", ...extra, "--", "true"]);
const s = seconds;

try {
  // A fresh snapshot, so that saving it is measured: drop the one these settings use, if any.
  let first = await run([]);
  if (first.report.snapshot?.use !== "saved") {
    await kvmci(["image", "rm", first.report.snapshot.entry]);
    first = await run([]);
  }
  const entry = first.report.snapshot.entry;
  const info = JSON.parse(
    await readFile(join(cacheDir, "snapshots", entry, "snapshot.json"), "utf8"),
  );
  const onDisk = async (name) =>
    (await stat(join(cacheDir, "snapshots", entry, name))).blocks * 512;
  const memoryBytes = await onDisk("memory.bin");
  const diskBytes = await onDisk("disk.qcow2");
  const phase = (r, name) => r.report.phases.find((p) => p.phase === name)?.ms ?? 0;
  console.log(
    `snapshot of a 1 GiB guest: memory ${(memoryBytes / 2 ** 20).toFixed(0)} MiB + disk ${(diskBytes / 2 ** 20).toFixed(0)} MiB on disk; saved in ${s(info.saveMs)} (snapshot phase ${s(phase(first, "snapshot"))})`,
  );

  const warm = [];
  const cold = [];
  for (let i = 0; i < rounds; i++) {
    const w = await run([]);
    if (w.report.snapshot?.use !== "restored") throw new Error("the warm run did not restore");
    const c = await run(["--no-snapshot"]);
    warm.push(w);
    cold.push(c);
    console.log(
      `round ${i + 1}: warm ${s(w.ms)} (restore ${s(phase(w, "restore"))}), cold ${s(c.ms)}, kvmci peak RSS warm ${(w.peakKiB / 1024).toFixed(0)} MiB`,
    );
  }
  const w = median(warm.map((r) => r.ms));
  const c = median(cold.map((r) => r.ms));
  console.log(`\naccel: ${warm[0].report.accel.name}`);
  console.log(
    `warm vs cold, median of ${rounds}: warm ${s(w)} (target <= 5s), cold ${s(c)}, ratio ${(w / c).toFixed(3)} (target <= 0.1)`,
  );
  console.log(
    `warm phases (last round): ${warm
      .at(-1)
      .report.phases.map((p) => `${p.phase} ${s(p.ms)}`)
      .join(", ")}`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
