import type { Socket } from "node:net";
import { openUnixSocket } from "../host/unix-socket.js";
import { setTimeout as sleep } from "node:timers/promises";
import { wakePortName } from "../qemu/args.js";
import { workspaceDiskSerial } from "../sync/workspace-disk.js";

/** Where the workspace disk is mounted in the guest (a tmpfs: made before the save). */
const workspaceLower = "/run/kvmci-workspace";
/** The two mounts of a workspace, as a table for `mount -a` (a tmpfs). */
const workspaceTable = "/run/kvmci-workspace.fstab";
/** The overlay's writable layer and its work folder, on the guest's disk. */
const workspaceLayers = "/var/lib/kvmci-workspace";

/**
 * The wake agent: a shell script started in the guest (as root, detached) just before its state
 * is saved. It removes what belongs to the saving run (its authorized key, cloud-init's copies of
 * the user-data holding it), readies what a workspace disk needs (squashfs and overlay loaded,
 * the overlay's folders made), waits until no SSH connection is left, says `armed` with the
 * login user's uid and gid, and then waits on the wake channel. Each guest restored from the
 * snapshot (and the saving guest itself) is sent one `wake` line with its own clock, host name,
 * randomness, client key and the workdir to mount its workspace disk on (or `-`); the agent
 * applies them, mounts the workspace, says `awake` (`awake workspace` when the workspace is
 * mounted) and exits. Nothing of it stays on disk but the files it changed.
 * After the wake it starts one program (date, to set the clock, while the shell goes on), one
 * more (mount, for both mounts) for a workspace disk, and on arm64, which has no vmgenid, one
 * more (python3, to reseed the random number generator): everything else is the shell's own,
 * since each program started costs tens of milliseconds under emulation. The authorized keys
 * file is emptied, not removed, so that writing it keeps its owner and mode.
 *
 * Arguments: the login user.
 */
export const wakeAgentScript = `#!/bin/sh
set -u
user=$1
IFS=: read -r _ _ uid gid _ home _ <<EOF
$(getent passwd "$user")
EOF
port=/dev/virtio-ports/${wakePortName}
exec 3<>"$port" || exit 1
# The workspace disk's overlay: loaded and made now, so that mounting it after a wake starts
# nothing else. Its upper layer is the workdir's top folder: the user's.
modprobe -q squashfs 2>/dev/null
modprobe -q overlay 2>/dev/null
mkdir -p ${workspaceLower} ${workspaceLayers}/work
install -d -o "$uid" -g "$gid" -m 0755 ${workspaceLayers}/upper
: >"$home/.ssh/authorized_keys"
rm -f /var/lib/cloud/instance/user-data.txt \\
  /var/lib/cloud/instance/user-data.txt.i /var/lib/cloud/instance/cloud-config.txt \\
  /var/lib/cloud/instance/obj.pkl
# Established connections to port 22 (0x0016, state 01); give them 10 s to go.
n=0
while [ $n -lt 100 ] && cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
  awk '$2 ~ /:0016$/ && $4 == "01" { found = 1 } END { exit !found }'; do
  sleep 0.1
  n=$((n + 1))
done
sync
echo "armed $uid $gid" >&3
while :; do
  # A read fails while no host end is connected (between the save and a restore): wait.
  if ! read -r word time stamp name seed workdir keytype key <&3; then sleep 0.05; continue; fi
  [ "$word" = wake ] || continue
  # The new key first, so that the host may connect as soon as it hears the word.
  printf '%s %s\\n' "$keytype" "$key" >"$home/.ssh/authorized_keys"
  # The clock is set by a program while the shell goes on (two vCPUs): it is right before the
  # agent says it is awake, which is before anything of the run's starts.
  date -u -s "@$time" >/dev/null &
  clock=$!
  read -r old </proc/sys/kernel/hostname
  if [ "$name" != "$old" ]; then
    echo "$name" >/proc/sys/kernel/hostname
    echo "$name" >/etc/hostname
    # /etc/hosts with the old name replaced word by word, in the shell itself.
    hosts=
    set -f
    while IFS= read -r line || [ -n "$line" ]; do
      out=
      for w in $line; do
        [ "$w" = "$old" ] && w=$name
        out="$out\${out:+ }$w"
      done
      hosts="$hosts$out
"
    done </etc/hosts
    set +f
    printf '%s' "$hosts" >/etc/hosts
  fi
  printf '%s' "$seed" >/dev/urandom
  # Writing mixes the seed in but does not reseed the generator at once: without vmgenid (arm64)
  # guests restored from one snapshot could draw the same numbers until the kernel's next
  # reseed. RNDRESEEDCRNG does it now: one program, and only there (python3 is there for
  # cloud-init).
  if [ ! -e /sys/bus/acpi/devices/QEMUVGID:00 ]; then
    python3 -c 'import fcntl, os; fcntl.ioctl(os.open("/dev/urandom", os.O_WRONLY), 0x5207)' 2>/dev/null
  fi
  # This run's workspace, read-only on its disk, under a writable layer on the guest's own.
  mounted=
  if [ "$workdir" != - ]; then
    [ -d "$workdir" ] || mkdir -p "$workdir"
    # Both by one program, in order: mount -a over a table of the two.
    printf '%s\\n' \\
      "/dev/disk/by-id/virtio-${workspaceDiskSerial} ${workspaceLower} squashfs ro 0 0" \\
      "kvmci-workspace $workdir overlay lowerdir=${workspaceLower},upperdir=${workspaceLayers}/upper,workdir=${workspaceLayers}/work 0 0" \\
      >${workspaceTable}
    if mount -a -T ${workspaceTable} 2>/dev/null; then
      mounted=" workspace"
    fi
  fi
  wait "$clock"
  # A restored guest prints nothing on its own: say on the serial console what happened, so
  # that its console copy and a failure's console tail start from here (ttyS0 on x86_64,
  # ttyAMA0 on arm64).
  for tty in /dev/ttyS0 /dev/ttyAMA0; do
    printf '\\nkvmci: woke as %s at %s\\n' "$name" "$stamp" >"$tty"
  done 2>/dev/null
  echo "awake$mounted" >&3
  exit 0
done
`;

/** Where the agent lives in the guest: a tmpfs, so it is in the saved memory, not on disk. */
export const wakeAgentPath = "/run/kvmci-wake";

/** The command that installs the agent from stdin and starts it detached from the session. */
export function buildStartAgentCommand(user: string): string {
  return `sudo sh -c 'cat > ${wakeAgentPath} && setsid -f sh ${wakeAgentPath} ${user} </dev/null >/dev/null 2>&1'`;
}

export interface WakeMessage {
  now: Date;
  hostname: string;
  /** Hex; mixed into the guest's random pool. */
  seed: string;
  /** OpenSSH public key line: type, base64 and (ignored) comment. */
  authorizedKey: string;
  /** Where to mount the workspace disk, if the guest has this run's. */
  workspaceDir?: string;
}

/**
 * Whether the agent can mount a workspace on this workdir: an absolute path of plain characters
 * (one word of the wake line; no comma or colon, which overlay's options would split on). Others
 * get their workspace over SSH. Pure.
 */
export function mountableWorkdir(workdir: string): boolean {
  return /^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/.test(workdir) && !workdir.split("/").includes("..");
}

/** The one line a waiting agent acts on. Pure. */
export function buildWakeLine(m: WakeMessage): string {
  const [type, key] = m.authorizedKey.trim().split(/\s+/);
  if (!type || !key) throw new Error("The authorized key is not an OpenSSH public key line");
  for (const word of [m.hostname, m.seed]) {
    if (!/^[A-Za-z0-9.-]+$/.test(word)) throw new Error(`Unsafe word in a wake line: ${word}`);
  }
  const workdir = m.workspaceDir ?? "-";
  if (workdir !== "-" && !mountableWorkdir(workdir))
    throw new Error(`Unsafe workdir in a wake line: ${workdir}`);
  const ms = m.now.getTime();
  const time = `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, "0")}`;
  // The time again as the guest's console shows it: the guest's own `date` runs in the background.
  const stamp = m.now.toISOString().replace(/\.\d+Z$/, "Z");
  return `wake ${time} ${stamp} ${m.hostname} ${m.seed} ${workdir} ${type} ${key}\n`;
}

/** The host end of the wake channel: QEMU's chardev socket, read a line at a time. */
/** The agent says a word a line; a guest that says more is not heard beyond these. */
const maxLines = 16;
const maxLineChars = 256;

export class WakeChannel implements AsyncDisposable {
  private buffered = "";
  private readonly lines: string[] = [];
  private notify: (() => void) | undefined;
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => {
      this.buffered += text;
      for (let end = this.buffered.indexOf("\n"); end !== -1; end = this.buffered.indexOf("\n")) {
        this.lines.push(this.buffered.slice(0, end).trim());
        this.buffered = this.buffered.slice(end + 1);
      }
      // The guest writes here: whatever it sends, kvmci keeps only what its agent would say.
      if (this.lines.length > maxLines) this.lines.splice(0, this.lines.length - maxLines);
      if (this.buffered.length > maxLineChars) this.buffered = "";
      this.notify?.();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.closed = true;
      this.notify?.();
    });
  }

  static async connect(path: string, signal?: AbortSignal): Promise<WakeChannel> {
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      try {
        return new WakeChannel(await openUnixSocket(path));
      } catch (error) {
        if (attempt >= 100) throw error;
        await sleep(20, undefined, { signal });
      }
    }
  }

  send(line: string): void {
    this.socket.write(line);
  }

  /**
   * Waits for a line whose first word is `word` and returns the words after it; rejects at the
   * deadline or when QEMU closes the channel.
   */
  async waitFor(word: string, timeoutMs: number, signal?: AbortSignal): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      const at = this.lines.findIndex((line) => line.split(/\s+/)[0] === word);
      if (at !== -1) {
        const words = this.lines[at]!.split(/\s+/).slice(1);
        this.lines.splice(0, at + 1);
        return words;
      }
      if (this.closed) throw new Error(`the wake channel closed before the guest said ${word}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the guest did not say ${word} within ${timeoutMs / 1000}s`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 250));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.notify = done;
      });
      this.notify = undefined;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.socket.destroy();
    await Promise.resolve();
  }
}
