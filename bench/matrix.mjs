// npm run bench (and bench:matrix): two warm guests in one `kvmci run` against the same two
// guests run one after the other, in the same run, interleaved. On 2 cores the parallel run
// should be clearly below 1.0 of the sequential one. Also kvmci's peak memory with two guests.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { measure, median, seconds } from "./measure.mjs";

const root = fileURLToPath(new URL("../", import.meta.url));
const cli = join(root, "bin/kvmci.js");
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const work = await mkdtemp(join(tmpdir(), "kvmci-bench-matrix-"));
const settings = ["--memory", "1G", "--no-sync"];

const kvmci = (args) => measure("node", [cli, ...args], { cwd: work });
const s = seconds;

try {
  // Warm-up: make the snapshot both sides start from.
  await kvmci(["run", ...settings, "--", "true"]);
  const parallel = [];
  const sequential = [];
  let peak = 0;
  for (let i = 0; i < rounds; i++) {
    const p = await kvmci([
      "run",
      ...settings,
      "--image",
      "debian-12",
      "--image",
      "debian-12",
      "--",
      "true",
    ]);
    if (!/all 2 guests passed/.test(p.stderr))
      throw new Error(`two guests did not both pass:\n${p.stderr}`);
    const a = await kvmci(["run", ...settings, "--", "true"]);
    const b = await kvmci(["run", ...settings, "--", "true"]);
    parallel.push(p.ms);
    sequential.push(a.ms + b.ms);
    peak = Math.max(peak, p.peakKiB);
    console.log(
      `round ${i + 1}: two guests in one run ${s(p.ms)}, one after the other ${s(a.ms + b.ms)}`,
    );
  }
  const p = median(parallel);
  const q = median(sequential);
  console.log(
    `\ntwo warm guests, median of ${rounds}: in one run ${s(p)}, one after the other ${s(q)}, ratio ${(p / q).toFixed(2)} (target clearly < 1.0)`,
  );
  console.log(`kvmci peak RSS with two guests: ${(peak / 1024).toFixed(0)} MiB`);
} finally {
  await rm(work, { recursive: true, force: true });
}
