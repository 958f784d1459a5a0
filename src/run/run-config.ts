import type { CloudConfig } from "../cloud-init/user-data.js";
import type { GuestCommand } from "../guest/command-line.js";
import type { Provision } from "../guest/provision.js";
import type { HostTrust } from "../host/trust.js";
import type { AccelRequest } from "../qemu/accel.js";
import type { Arch } from "../units/arch.js";

// The orchestrator defines the settings it consumes; config/ (a layer above) produces them
// from flags, kvmci.yml and the Action's inputs. Defined here, run/ never imports config/.

/** One guest of a matrix: what it changes from the run's settings. */
export interface MatrixEntry {
  /** Shown as `[name]` before its lines and in the table. */
  name: string;
  image: string;
  /** The guest's architecture (the run's, else the host's). */
  arch: Arch;
  cpus?: number;
  memoryBytes?: number;
  env?: Record<string, string>;
}

/** What must answer in a topology's guest before any run: command starts. */
export type ReadyProbe = { kind: "tcp"; port: number } | { kind: "command"; command: string };

/** One machine of a `guests:` topology. */
export interface TopologyGuest {
  /** Its host name on the run's private network. */
  name: string;
  /** The run's settings with the guest's own over them (artifacts under a folder of its name). */
  config: RunConfig;
  /** Started in the background, in order, before any guest's command. */
  services: string[];
  probes: ReadyProbe[];
  /** Its `run:`; a guest without one only serves the others. */
  command: GuestCommand | undefined;
}

/** Everything `kvmci run` needs, validated, with defaults applied. Read-only once made. */
export interface RunConfig {
  /** The image of a single guest (the first entry's when there are several). */
  image: string;
  /** The architecture of a single guest (the first entry's when there are several). */
  arch: Arch;
  /** One entry per guest: `--image A --image B`, `image: [A, B]` or `matrix:`. */
  matrix: MatrixEntry[];
  /** Guests at once; undefined: as many as the host's CPUs and free memory allow. */
  parallel: number | undefined;
  output: "prefixed" | "grouped";
  failFast: boolean;
  shard: { index: number; total: number } | undefined;
  cpus: number;
  memoryBytes: number;
  diskBytes: number | undefined;
  accel: AccelRequest;
  boot: "auto" | "firmware" | "kernel";
  /** `none`: the guest reaches nothing, and nothing reaches it but kvmci's SSH forward. */
  network: "user" | "none";
  /** undefined: pick by accel (see defaultBootTimeoutMs). */
  bootTimeoutMs: number | undefined;
  timeoutMs: number | undefined;
  /** Stop the command when it prints nothing for this long. */
  idleTimeoutMs: number | undefined;
  workdir: string;
  sync: boolean;
  /** Start from a warm snapshot when one matches; save one when none does. */
  snapshot: boolean;
  exclude: string[];
  env: Record<string, string>;
  /** The command's environment before the user's own env: PATH, LANG, TERM, CI, proxy, CA. */
  baseEnv: Record<string, string>;
  /** The host's extra certificates and proxy, carried into the guest; undefined: not carried. */
  hostTrust: HostTrust | undefined;
  /** Run the command in a pseudo-terminal (kvmci's own output is one, and tty is not false). */
  tty: boolean;
  /** Install what the host lacks with apt-get (`--no-install`: only say how). */
  install: boolean;
  /** On a failed command (or sync, or readiness with the guest answering): a shell in it. */
  shellOnFailure: boolean;
  artifacts: string[];
  artifactsDir: string;
  /** What one guest's artifacts may add up to; past it the copy stops with a warning. */
  artifactsLimits: { maxBytes: number; maxEntries: number };
  consoleLog: string | undefined;
  userData: CloudConfig | undefined;
  json: string | undefined;
  mirror: string | undefined;
  /** Undefined when there is nothing to provision. */
  provision: Provision | undefined;
  command: GuestCommand;
  /** The folder synced into the guest. */
  cwd: string;
  /** `guests:`: several machines on a private network of their own, in one run. */
  topology: TopologyGuest[] | undefined;
  /** How long a topology's ready: probes may take, together. */
  readyTimeoutMs: number;
}

export function defaultBootTimeoutMs(accel: "kvm" | "tcg"): number {
  return accel === "kvm" ? 180_000 : 600_000;
}
