import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { KvmciError } from "../../errors.js";
import { RunFiles } from "../../guest/run-folder.js";
import { listKeptGuests, stopKeptGuest, type KeptGuest, type KeptState } from "../../guest/kept.js";
import { openShell } from "../../guest/shell.js";
import { resolveCacheDir } from "../../image/cache.js";
import { formatTable } from "../../report/table.js";
import { SshSession } from "../../ssh/session.js";
import { shellJoin, shellQuote } from "../../ssh/shell-quote.js";
import { formatDuration } from "../../units/duration.js";
import { formatSize } from "../../units/size.js";
import type { Process } from "../process.js";
import { helpWidth, renderHelp, type HelpBlock } from "../help.js";
import { lsOptions, optionRows, parseOptions, sshOptions, stopOptions } from "../options.js";
import { terminalOf } from "../terminal.js";

// Guests kept after their run (`kvmci run --keep`): listed, logged into, stopped.

export const lsHelp: HelpBlock[] = [
  "Usage: kvmci ls [--json]",
  "Lists the guests kept after their run (kvmci run --keep): name, image, state, age, time left, SSH port, memory.",
  { heading: "Options:", rows: optionRows(lsOptions) },
];

export const sshHelp: HelpBlock[] = [
  "Usage: kvmci ssh NAME [--print] [-- COMMAND...]",
  "Opens a shell in a kept guest (in its workdir, on this terminal), or runs one command there and exits with its exit code. The connection uses the guest's own key and pins its host key.",
  { heading: "Options:", rows: optionRows(sshOptions) },
];

export const stopHelp: HelpBlock[] = [
  "Usage: kvmci stop NAME...|--all",
  "Stops kept guests and removes them. A kept guest also stops by itself when its time is up; kvmci gc removes those whose keeper is gone.",
  { heading: "Options:", rows: optionRows(stopOptions) },
];

export async function lsCommand(argv: string[], proc: Process): Promise<number> {
  const parsed = parseOptions(argv, lsOptions);
  if (parsed.values.help === true) return help(proc, lsHelp);
  if (parsed.problems.length || parsed.positionals.length)
    throw usage([...parsed.problems, ...parsed.positionals.map((p) => `unexpected ${p}`)], "ls");
  const kept = await listKeptGuests(resolveCacheDir(proc.env));
  const now = Date.now();
  if (parsed.values.json === true) {
    proc.stdout.write(
      `${JSON.stringify(
        kept.map(({ guest, state }) => ({
          name: guest.name,
          image: guest.image,
          state,
          startedAt: guest.startedAt,
          until: guest.until,
          sshPort: guest.sshPort,
          user: guest.user,
          cpus: guest.cpus,
          memoryBytes: guest.memoryBytes,
        })),
        null,
        2,
      )}\n`,
    );
    return 0;
  }
  if (kept.length === 0) {
    proc.stdout.write("no kept guests (kvmci run --keep keeps one)\n");
    return 0;
  }
  proc.stdout.write(
    formatTable([
      ["NAME", "IMAGE", "STATE", "AGE", "LEFT", "SSH PORT", "MEMORY"],
      ...kept.map(({ guest, state }) => [
        guest.name,
        guest.image,
        state,
        formatDuration(now - Date.parse(guest.startedAt)),
        state === "running" ? formatDuration(Math.max(0, Date.parse(guest.until) - now)) : "—",
        String(guest.sshPort),
        formatSize(guest.memoryBytes),
      ]),
    ]),
  );
  return 0;
}

export async function sshCommand(argv: string[], proc: Process): Promise<number> {
  const parsed = parseOptions(argv, sshOptions);
  if (parsed.values.help === true) return help(proc, sshHelp);
  const [name, ...extra] = parsed.positionals;
  const problems = [...parsed.problems];
  if (!name) problems.push("expected the name of a kept guest (kvmci ls lists them)");
  if (extra.length) problems.push(`unexpected ${extra.join(" ")}: put a command after \`--\``);
  if (problems.length) throw usage(problems, "ssh");
  const guest = await findRunning(proc, name!);
  const key = join(guest.folder, RunFiles.clientKey);
  const knownHosts = join(guest.folder, RunFiles.knownHosts);
  if (parsed.values.print === true) {
    const command = [
      "ssh",
      ...["-i", key],
      ...["-o", "IdentitiesOnly=yes"],
      ...["-o", `UserKnownHostsFile=${knownHosts}`],
      ...["-o", "GlobalKnownHostsFile=/dev/null"],
      ...["-o", "StrictHostKeyChecking=yes"],
      ...["-p", String(guest.sshPort)],
      `${guest.user}@127.0.0.1`,
      ...(parsed.rest.length ? ["--", shellJoin(parsed.rest)] : []),
    ];
    proc.stdout.write(`${shellJoin(command)}\n`);
    return 0;
  }
  const hostKey = (await readFile(knownHosts, "utf8")).trim().split(/\s+/).slice(1).join(" ");
  await using session = await SshSession.connect(
    {
      host: "127.0.0.1",
      port: guest.sshPort,
      user: guest.user,
      privateKey: await readFile(key, "utf8"),
      hostPublicKey: hostKey,
    },
    15_000,
  );
  const inWorkdir = (command: string) => `cd ${shellQuote(guest.workdir)} 2>/dev/null; ${command}`;
  if (parsed.rest.length > 0) {
    const result = await session.exec(inWorkdir(`exec ${shellJoin(parsed.rest)}`), {
      onStdout: (chunk) => proc.stdout.write(chunk),
      onStderr: (chunk) => proc.stderr.write(chunk),
    });
    return result.code;
  }
  const terminal = terminalOf(proc);
  if (!terminal)
    throw new KvmciError("usage", "kvmci ssh without a command needs a terminal", {
      hint: `Give a command: kvmci ssh ${name} -- COMMAND, or kvmci ssh ${name} --print for an ssh command line.`,
    });
  return openShell(session, terminal, inWorkdir("exec bash -i"));
}

export async function stopCommand(argv: string[], proc: Process): Promise<number> {
  const parsed = parseOptions(argv, stopOptions);
  if (parsed.values.help === true) return help(proc, stopHelp);
  const all = parsed.values.all === true;
  const problems = [...parsed.problems];
  if (!all && parsed.positionals.length === 0)
    problems.push("expected the names of kept guests, or --all (kvmci ls lists them)");
  if (all && parsed.positionals.length) problems.push("give names or --all, not both");
  if (problems.length) throw usage(problems, "stop");
  const cacheDir = resolveCacheDir(proc.env);
  const kept = await listKeptGuests(cacheDir);
  const chosen = all ? kept : parsed.positionals.map((n) => kept.find((k) => k.guest.name === n));
  const missing = parsed.positionals.filter((n) => !kept.some((k) => k.guest.name === n));
  for (const entry of chosen) {
    if (!entry) continue;
    await stopKeptGuest(cacheDir, entry.guest);
    proc.stdout.write(`stopped ${entry.guest.name}\n`);
  }
  if (missing.length)
    throw new KvmciError("usage", `No kept guest named ${missing.join(", ")}`, {
      hint: "kvmci ls lists the kept guests.",
    });
  return 0;
}

async function findRunning(proc: Process, name: string): Promise<KeptGuest> {
  const kept = await listKeptGuests(resolveCacheDir(proc.env));
  const found = kept.find((k) => k.guest.name === name);
  if (!found)
    throw new KvmciError("usage", `No kept guest named ${name}`, {
      hint: `kvmci ls lists the kept guests${kept.length ? ` (${kept.map((k) => k.guest.name).join(", ")})` : ""}.`,
    });
  if (found.state !== "running")
    throw new KvmciError(
      "guestLost",
      `${name} is not running any more (${describe(found.state, found.guest)})`,
      {
        hint: "kvmci gc removes it; kvmci run --keep keeps a new one.",
      },
    );
  return found.guest;
}

function describe(state: KeptState, guest: KeptGuest): string {
  if (state === "elsewhere") return "it runs on another host sharing this cache";
  return Date.parse(guest.until) <= Date.now()
    ? `its time was up at ${guest.until}`
    : "its keeper was stopped";
}

function help(proc: Process, blocks: HelpBlock[]): number {
  proc.stdout.write(`${renderHelp(blocks, helpWidth(proc.stdout))}\n`);
  return 0;
}

function usage(problems: string[], command: string): KvmciError {
  return new KvmciError("usage", `Invalid usage: ${problems.join("; ")}`, {
    hint: `Run \`kvmci ${command} --help\`.`,
  });
}
