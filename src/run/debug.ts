import { markInUseBy } from "../cache/in-use.js";
import { buildGuestCommandLine } from "../guest/command-line.js";
import type { Guest } from "../guest/guest.js";
import { writeKeptRecord } from "../guest/kept.js";
import { openShell, type Terminal } from "../guest/shell.js";
import { formatDuration } from "../units/duration.js";
import type { Emit } from "./events.js";
import { handOverHostSlot } from "./host-slots.js";
import type { RunConfig } from "./run-config.js";

/**
 * --shell-on-failure: a shell in the guest, in the workdir with the command's environment, on
 * the person's terminal; the guest is torn down when it exits. Without a terminal (CI) it says
 * once that it was skipped and why.
 */
export async function shellAfterFailure(
  guest: Guest,
  config: RunConfig,
  o: { why: string; terminal: Terminal | undefined; emit: Emit },
): Promise<void> {
  if (!o.terminal) {
    o.emit({
      type: "note",
      message: `--shell-on-failure: no shell (${o.why}), since kvmci's input and output are not a terminal`,
    });
    return;
  }
  const terminal = o.terminal;
  await terminal.exclusive(async () => {
    o.emit({
      type: "note",
      message: `${o.why}: here is a shell in the guest, in ${config.workdir}; leave it with exit or Ctrl-D and the guest is torn down`,
    });
    const command = buildGuestCommandLine(
      { script: "exec bash -i" },
      { workdir: config.workdir, env: { ...config.baseEnv, ...config.env, TERM: terminal.term } },
    );
    await openShell(guest, terminal, command);
  });
}

/**
 * --keep: leaves the guest running for `forMs` after this run, under its keeper, with the
 * images it runs from marked in use and its place on the host held in the keeper's name. Says
 * how to reach it.
 */
export async function keepGuest(
  guest: Guest,
  config: RunConfig,
  o: { forMs: number; cacheDir: string; entries: string[]; emit: Emit },
): Promise<{ name: string; until: string }> {
  const untilMs = Date.now() + o.forMs;
  const keeper = await guest.keep(untilMs);
  for (const entry of o.entries) await markInUseBy(o.cacheDir, entry, keeper);
  await handOverHostSlot(o.cacheDir, { memoryBytes: config.memoryBytes }, keeper);
  const name = `${guest.spec.name}-${guest.id}`;
  const until = new Date(untilMs).toISOString();
  await writeKeptRecord(o.cacheDir, {
    name,
    image: guest.spec.image.info.name,
    folder: guest.folder.path,
    sshPort: guest.port,
    user: guest.user,
    workdir: config.workdir,
    cpus: config.cpus,
    memoryBytes: config.memoryBytes,
    startedAt: new Date().toISOString(),
    until,
    owner: keeper,
  });
  o.emit({
    type: "note",
    message: `kept the guest as ${name} for ${formatDuration(o.forMs)} (it stops by itself at ${until}): kvmci ssh ${name} · kvmci ls · kvmci stop ${name}`,
  });
  return { name, until };
}
