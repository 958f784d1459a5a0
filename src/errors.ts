/**
 * Every exit code kvmci gives for its own failures, with what it means: the one list, from which
 * `--help` and the docs' table are made (a test checks the docs). A run that completes exits
 * with the guest command's own code instead; these lie outside the codes test runners use
 * (0, 1, 2) and follow sysexits.h and shells where a convention exists.
 */
export const exitCodeTable = [
  { name: "usage", code: 64, meaning: "bad usage or configuration (nothing was started)" },
  { name: "image", code: 65, meaning: "the image could not be built or used" },
  {
    name: "guestBoot",
    code: 66,
    meaning: "the guest failed to boot or become ready (the console tail is shown)",
  },
  {
    name: "guestLost",
    code: 67,
    meaning: "the guest died, panicked or stopped answering while in use",
  },
  {
    name: "hostRequirement",
    code: 69,
    meaning:
      "the host lacks something needed (QEMU, mmdebstrap, a usable /dev/kvm with --accel kvm)",
  },
  { name: "internal", code: 70, meaning: "a bug in kvmci (please report it with the output)" },
  {
    name: "imageUnknown",
    code: 71,
    meaning: "unknown image: no catalog entry, file or cached image by that name",
  },
  {
    name: "imageNotDisk",
    code: 72,
    meaning: "the file given as an image is not a disk image kvmci can use",
  },
  {
    name: "hostWrite",
    code: 73,
    meaning:
      "a write on the host failed: the cache's disk is full, or the artifacts could not be written",
  },
  {
    name: "download",
    code: 74,
    meaning: "an image download failed (HTTP error, or the network after retries)",
  },
  {
    name: "digestMismatch",
    code: 75,
    meaning: "a downloaded image does not match its published or pinned digest",
  },
  {
    name: "provision",
    code: 76,
    meaning: "provisioning failed (a package or the script); nothing was cached",
  },
  {
    name: "someGuestsFailed",
    code: 77,
    meaning: "several guests ran and not all of them passed (the table says which)",
  },
  {
    name: "timeout",
    code: 124,
    meaning: "the command ran past --timeout, or printed nothing for --idle-timeout",
  },
  { name: "sigint", code: 130, meaning: "interrupted (Ctrl-C); the guest is torn down" },
  { name: "sigterm", code: 143, meaning: "terminated (SIGTERM); the guest is torn down" },
] as const;

export type ExitCodeName = (typeof exitCodeTable)[number]["name"];

/** Exit codes by name: `ExitCode.usage` is 64. */
export const ExitCode = Object.fromEntries(exitCodeTable.map((e) => [e.name, e.code])) as {
  readonly [K in ExitCodeName]: Extract<(typeof exitCodeTable)[number], { name: K }>["code"];
};

/** The table for `--help`: one row a code, the command's own codes first. Pure. */
export function exitCodeRows(): [string, string][] {
  return [
    ["0-255", "the command's own exit code, when it ran to the end"],
    ...exitCodeTable.map((e): [string, string] => [String(e.code), e.meaning]),
  ];
}

export interface KvmciErrorOptions {
  /** What the user can do about it, one or two sentences. */
  hint?: string;
  /** Extra lines shown under the message (a console tail, stderr tail, a list of problems). */
  details?: string[];
  cause?: unknown;
}

/** The one error family: a message, an actionable hint, and the exit code it maps to. */
export class KvmciError extends Error {
  readonly code: ExitCodeName;
  readonly hint: string | undefined;
  readonly details: string[];

  constructor(code: ExitCodeName, message: string, options: KvmciErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "KvmciError";
    this.code = code;
    this.hint = options.hint;
    this.details = options.details ?? [];
  }

  get exitCode(): number {
    return ExitCode[this.code];
  }
}

/**
 * The SSH connection to the guest went away while a command ran (or a channel closed without
 * an exit status): raised where ssh2 says so, so that nothing else is ever taken for it. The
 * run adds what it knows of why (the guest stopped, its kernel panicked) before reporting it.
 */
export class ConnectionLostError extends KvmciError {
  constructor(what: string, cause?: unknown) {
    super("guestLost", `The SSH connection to the guest was lost (${what})`, {
      hint: "The guest may have run out of memory, crashed, or been stopped from outside; its console below says more.",
      cause,
    });
    this.name = "ConnectionLostError";
  }
}

export function isKvmciError(error: unknown): error is KvmciError {
  return error instanceof KvmciError;
}

/**
 * A usage error listing every problem found: one problem reads as a sentence, several as a list.
 * `what` names what was wrong ("usage", "configuration").
 */
export function problemsError(what: string, problems: string[], hint: string): KvmciError {
  return new KvmciError(
    "usage",
    problems.length === 1
      ? `Invalid ${what}: ${problems[0]}`
      : `Invalid ${what} (${problems.length} problems)`,
    { details: problems.length === 1 ? [] : problems, hint },
  );
}
