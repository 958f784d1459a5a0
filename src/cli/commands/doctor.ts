import { runDoctor } from "../../doctor/checks.js";
import { ExitCode, KvmciError } from "../../errors.js";
import { resolveCacheDir } from "../../image/cache.js";
import type { Process } from "../process.js";
import { helpWidth, renderHelp, type HelpBlock } from "../help.js";
import {
  doctorOptions,
  noWords,
  optionRows,
  parseOptions,
  positionalProblems,
} from "../options.js";
import { doctorJson, formatDoctor } from "../../report/doctor.js";
import { archOfNode } from "../../units/arch.js";

const doctorHelp: HelpBlock[] = [
  "Usage: kvmci doctor [--json]",
  "Checks QEMU, qemu-img, mmdebstrap, tar, git, /dev/kvm (present, permitted, really usable), the cache folder, sudo -n, unprivileged user namespaces, and which way an image build would go here; then what guests of the other architecture need (their QEMU, arm64 UEFI firmware, binfmt_misc and qemu-user to build their images). Prints the fix under each check that is not fine. Exits 69 when kvmci cannot run guests here.",
  { heading: "Options:", rows: optionRows(doctorOptions) },
];

export async function doctorCommand(argv: string[], proc: Process): Promise<number> {
  const parsed = parseOptions(argv, doctorOptions);
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
  const checks = await runDoctor({
    cacheDir: resolveCacheDir(proc.env),
    isRoot: proc.getuid?.() === 0,
    hostArch: archOfNode(proc.arch ?? ""),
  });
  proc.stdout.write(
    parsed.values.json === true
      ? `${JSON.stringify(doctorJson(checks), null, 2)}\n`
      : formatDoctor(checks),
  );
  return checks.some((c) => c.status === "fail") ? ExitCode.hostRequirement : 0;
}
