// npm run bench: a cold `kvmci run --no-snapshot -- true` against bench/by-hand.sh on the same image, in the
// same run, interleaved so that both see the same machine. Prints the ratio (target <= 0.8),
// kvmci's phase breakdown and its peak memory while a guest runs (target < 150 MB RSS).
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { measure, median } from "./measure.mjs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const work = await mkdtemp(join(tmpdir(), "kvmci-bench-"));

const run = (cmd, args) => measure(cmd, args, { cwd: work });

const kvmci = [];
const byHand = [];
let report;
try {
  // Warm-up: build the image if needed, then settle the KVM probe for its kernel (doctor
  // records it), so that neither side pays for those.
  const ls = await new Promise((resolve) => {
    const c = spawn("node", [join(root, "bin/kvmci.js"), "image", "build", "debian-12"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.on("close", () => resolve(out.trim().split(" ")));
  });
  const disk = ls[2];
  await run("node", [join(root, "bin/kvmci.js"), "doctor"]);
  for (let i = 0; i < rounds; i++) {
    const k = await run("node", [
      join(root, "bin/kvmci.js"),
      "run",
      "--no-sync",
      "--no-snapshot",
      "--json",
      "report.json",
      "--",
      "true",
    ]);
    kvmci.push(k);
    report = JSON.parse(await readFile(join(work, "report.json"), "utf8"));
    const h = await run(join(root, "bench/by-hand.sh"), [disk, report.accel.name]);
    byHand.push(h);
    console.log(
      `round ${i + 1}: kvmci ${(k.ms / 1000).toFixed(1)}s, by hand ${(h.ms / 1000).toFixed(1)}s, kvmci peak RSS ${(k.peakKiB / 1024).toFixed(0)} MiB`,
    );
  }
  const k = median(kvmci.map((r) => r.ms));
  const h = median(byHand.map((r) => r.ms));
  console.log(`\naccel: ${report.accel.name} (${report.accel.reason})`);
  console.log(
    `cold run, median of ${rounds}: kvmci ${(k / 1000).toFixed(1)}s, by hand ${(h / 1000).toFixed(1)}s, ratio ${(k / h).toFixed(2)} (target <= 0.80)`,
  );
  console.log(
    `kvmci phases (last round): ${report.phases.map((p) => `${p.phase} ${(p.ms / 1000).toFixed(2)}s`).join(", ")}`,
  );
  console.log(
    `kvmci peak RSS: ${(Math.max(...kvmci.map((r) => r.peakKiB)) / 1024).toFixed(0)} MiB (target < 150)`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
