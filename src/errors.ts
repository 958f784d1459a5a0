/**
 * Exit codes kvmci uses for its own failures. A completed run exits with the
 * guest command's own code instead; these are chosen outside the range most
 * test runners use (0, 1, 2) and match conventions where one exists.
 */
export const ExitCode = {
  usage: 64,
  image: 65,
  guestBoot: 66,
  guestLost: 67,
  hostRequirement: 69,
  internal: 70,
  /** No catalog entry, local file or cached download by that name. */
  imageUnknown: 71,
  /** A file that `qemu-img info` does not recognise as a usable disk image. */
  imageNotDisk: 72,
  /** A write on the host failed: the cache's or the artifacts folder's file system is full. */
  hostWrite: 73,
  /** A download failed: HTTP 4xx, 5xx or network errors after the retries ran out. */
  download: 74,
  /** A downloaded file's digest differs from the published or pinned one. */
  digestMismatch: 75,
  /** The provisioning (packages, script) failed in the guest; nothing was cached. */
  provision: 76,
  /** Several guests ran (a matrix) and at least one did not pass. */
  someGuestsFailed: 77,
  timeout: 124,
  sigint: 130,
  sigterm: 143,
} as const;

export type ExitCodeName = keyof typeof ExitCode;

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
