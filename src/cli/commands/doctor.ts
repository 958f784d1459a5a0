import { runDoctor } from "../../doctor/checks.js";
import { ExitCode, KvmciError } from "../../errors.js";
import { resolveCacheDir } from "../../image/cache.js";
import type { Process } from "../process.js";
import { helpWidth, renderHelp, type HelpBlock } from "../help.js";
import { helpOnly, noWords, parseOptions, positionalProblems } from "../options.js";

const doctorHelp: HelpBlock[] = [
  "Usage: kvmci doctor",
  "Checks QEMU, qemu-img, /dev/kvm (present, permitted, really usable), mmdebstrap and the cache folder, and prints the fix for each failing check.",
];

export async function doctorCommand(argv: string[], proc: Process): Promise<number> {
  const parsed = parseOptions(argv, helpOnly);
  if (parsed.values.help === true) {
    proc.stdout.write(`${renderHelp(doctorHelp, helpWidth(proc.stdout))}\n`);
    return 0;
  }
  const problems = [
    ...parsed.problems,
    ...positionalProblems(parsed.positionals, noWords("kvmci doctor")),
  ];
  if (problems.length)
    throw new KvmciError("usage", `Invalid usage: ${problems.join("; ")}`, {
      hint: "Run `kvmci doctor --help`.",
    });
  const checks = await runDoctor({ cacheDir: resolveCacheDir(proc.env) });
  for (const check of checks) {
    const mark = check.status === "ok" ? "✓" : check.status === "warn" ? "!" : "✗";
    proc.stdout.write(`${mark} ${check.name}: ${check.detail}\n`);
    if (check.fix && check.status !== "ok") proc.stdout.write(`    fix: ${check.fix}\n`);
  }
  return checks.some((c) => c.status === "fail") ? ExitCode.hostRequirement : 0;
}
