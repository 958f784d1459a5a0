import { z } from "zod";
import { parseImageReference } from "../image/reference.js";
import { maxDurationMs, parseDuration } from "../units/duration.js";
import { parseShard } from "../run/schedule.js";
import { formatSize, parseSize } from "../units/size.js";
import { arches, isArch, type Arch } from "../units/arch.js";

/** A size like 2G or 512M; a bare number is MiB. At least `min` bytes. */
function size(min = 1, what = "") {
  return z
    .union([z.string(), z.number()], { error: "expected a size like 2G or 512M" })
    .transform((value, ctx) => {
      const bytes = parseSize(String(value));
      if (bytes === undefined || !Number.isSafeInteger(bytes)) {
        ctx.addIssue({
          code: "custom",
          message: `expected a size like 2G or 512M (a bare number is MiB), got ${JSON.stringify(value)}`,
        });
        return z.NEVER;
      }
      if (bytes < min) {
        ctx.addIssue({
          code: "custom",
          message: `expected at least ${formatSize(min)}${what}, got ${JSON.stringify(value)}`,
        });
        return z.NEVER;
      }
      return bytes;
    });
}

/** Less memory than this and the default images do not finish booting. */
export const minMemoryBytes = 256 * 1024 ** 2;
const memory = size(minMemoryBytes, " (a guest needs that much to boot)");

const duration = z
  .union([z.string(), z.number()], { error: "expected a duration like 90s, 10m or 1h" })
  .transform((value, ctx) => {
    const ms = typeof value === "number" ? value * 1000 : parseDuration(value);
    if (ms === undefined || !Number.isFinite(ms) || ms <= 0) {
      ctx.addIssue({
        code: "custom",
        message: `expected a duration like 90s, 10m or 1h, got ${JSON.stringify(value)}`,
      });
      return z.NEVER;
    }
    if (ms > maxDurationMs) {
      ctx.addIssue({
        code: "custom",
        message: `expected a duration of at most 7d, got ${JSON.stringify(value)}`,
      });
      return z.NEVER;
    }
    return ms;
  });

const count = z
  .union([z.string(), z.number()], { error: "expected a whole number from 1 to 64" })
  .transform((value, ctx) => {
    const n = typeof value === "number" ? value : Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 64) {
      ctx.addIssue({
        code: "custom",
        message: `expected a whole number from 1 to 64, got ${JSON.stringify(value)}`,
      });
      return z.NEVER;
    }
    return n;
  });

/** A whole number from 1 to `max`. */
function wholeNumber(max: number) {
  const expected = `expected a whole number from 1 to ${max}`;
  return z.union([z.string(), z.number()], { error: expected }).transform((value, ctx) => {
    const n = typeof value === "number" ? value : Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) {
      ctx.addIssue({ code: "custom", message: `${expected}, got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return n;
  });
}

/** Globs relative to the workdir: copying back never reaches outside it. */
const artifactGlobs = z
  .union([z.string(), z.array(z.string())], { error: "expected a glob or a list of globs" })
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .superRefine((globs, ctx) => {
    for (const glob of globs) {
      if (glob.trim() === "" || glob.startsWith("/") || glob.split("/").includes(".."))
        ctx.addIssue({
          code: "custom",
          message: `expected a glob relative to the workdir (like out/** or report.xml), got ${JSON.stringify(glob)}`,
        });
    }
  });

function choice<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, {
    error: (issue) => `expected one of ${values.join(", ")}, got ${JSON.stringify(issue.input)}`,
  });
}

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `KEY=VALUE` strings (flags, YAML lists) or a YAML mapping. A bare `KEY` takes its value from
 * kvmci's own environment, as `docker run -e KEY` does, so a secret need not be on the command
 * line: its value is left undefined here and filled in by loadRunConfig.
 */
const env = z
  .union(
    [
      z.array(z.string()),
      z.record(
        z.string(),
        z.union([z.string(), z.number(), z.boolean()], {
          error: "expected a string, a number or true/false",
        }),
      ),
    ],
    { error: "expected KEY=VALUE strings, or a mapping of names to values" },
  )
  .transform((value, ctx) => {
    const entries: [string, string | undefined][] = [];
    if (Array.isArray(value)) {
      for (const item of value) {
        const at = item.indexOf("=");
        if (at === 0) {
          ctx.addIssue({
            code: "custom",
            message: `expected KEY=VALUE or KEY, got ${JSON.stringify(item)}`,
          });
          continue;
        }
        entries.push(at < 0 ? [item, undefined] : [item.slice(0, at), item.slice(at + 1)]);
      }
    } else {
      for (const [key, item] of Object.entries(value)) entries.push([key, String(item)]);
    }
    for (const [key] of entries) {
      if (!envName.test(key)) {
        ctx.addIssue({
          code: "custom",
          message: `${JSON.stringify(key)} is not a valid environment variable name`,
        });
      }
    }
    return Object.fromEntries(entries);
  });

const stringList = z
  .union([z.string(), z.array(z.string())], { error: "expected a string or a list of strings" })
  .transform((v) => (Array.isArray(v) ? v : [v]));

const absolutePath = z
  .string()
  .refine((p) => p.startsWith("/") && !p.includes("\0") && !/[\n']/.test(p), {
    message: "expected an absolute path in the guest, like /work",
  });

const imageName = z
  .string()
  .min(1, "expected a non-empty value")
  .superRefine((value, ctx) => {
    // Paths are checked when the image is resolved; a URL's form can be checked now.
    const reference = parseImageReference(value, "/", "/");
    if ("problem" in reference) ctx.addIssue({ code: "custom", message: reference.problem });
  });

/** What people also call the two architectures (Debian, Docker, GitHub's RUNNER_ARCH). */
const archAliases: Record<string, Arch> = { amd64: "x86_64", x64: "x86_64", arm64: "aarch64" };

function checkArch(value: string, ctx: z.RefinementCtx): Arch {
  if (isArch(value)) return value;
  const meant = archAliases[value.toLowerCase()];
  ctx.addIssue({
    code: "custom",
    message: `expected ${arches.join(" or ")}, got ${JSON.stringify(value)}${meant ? ` (that is ${meant} here)` : ""}`,
  });
  return z.NEVER;
}

const arch = z
  .string({ error: `expected ${arches.join(" or ")}` })
  .transform((value, ctx) => checkArch(value, ctx));

/** One architecture, or a list of them (one guest per architecture). */
const archList = z
  .union([z.string(), z.array(z.string()).min(1, "expected at least one architecture")], {
    error: `expected ${arches.join(" or ")}, or a list of them`,
  })
  .transform((value, ctx): Arch | Arch[] =>
    Array.isArray(value) ? value.map((v) => checkArch(v, ctx)) : checkArch(value, ctx),
  );

const packageName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9+.:~=_-]*$/, "expected a package name like curl or python3-pytest");

/** `provision:` — applied once to a booted guest and cached as a prepared image. */
const provision = z
  .object({
    packages: z
      .union([packageName, z.array(packageName)])
      .transform((v) => (Array.isArray(v) ? v : [v])),
    /** A shell script, run as root. */
    script: z.string().min(1, "expected a non-empty value"),
    /** The same, from a file (relative to kvmci.yml). */
    "script-file": z.string().min(1, "expected a non-empty value"),
    /** Extra cloud-config for the provisioning boot only. */
    "cloud-config": z.record(z.string(), z.unknown()),
  })
  .partial()
  .strict()
  .refine((p) => !(p.script && p["script-file"]), {
    message: "give script or script-file, not both",
  });

/** A guest's name in `guests:`: the host name the others reach it by. */
const guestName = /^[a-z][a-z0-9-]{0,30}$/;

/** `tcp:PORT` (something listens there, in the guest) or a command that exits 0 when ready. */
const probe = z.string().superRefine((value, ctx) => {
  if (/^tcp:/.test(value)) {
    const port = Number(value.slice(4));
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      ctx.addIssue({
        code: "custom",
        message: `expected tcp:PORT with a port from 1 to 65535, got ${JSON.stringify(value)}`,
      });
  } else if (value.trim() === "")
    ctx.addIssue({ code: "custom", message: "expected tcp:PORT or a command" });
});

const commandSetting = z.union(
  [
    z.string().min(1, "expected a non-empty value"),
    z.array(z.string()).min(1, "expected a non-empty value"),
  ],
  { error: "expected a command (a string, run with bash -c) or an argv list" },
);

/** One machine of a `guests:` topology: a single run's settings, plus its services and probes. */
const topologyGuest = z
  .object({
    image: imageName,
    cpus: count,
    memory,
    disk: size(),
    network: choice(["user", "none"]),
    provision,
    env,
    artifact: artifactGlobs,
    /** Started in the background, in order, before any guest's run: (its output is logged). */
    service: z
      .union([z.string().min(1), z.array(z.string().min(1))], {
        error: "expected a command or a list of commands",
      })
      .transform((v) => (Array.isArray(v) ? v : [v])),
    /** What must answer before any run: starts: tcp:PORT, or a command that exits 0. */
    ready: z
      .union([probe, z.array(probe)], { error: "expected tcp:PORT, a command, or a list of them" })
      .transform((v) => (Array.isArray(v) ? v : [v])),
    run: commandSetting,
  })
  .partial()
  .strict();

/**
 * Every setting of `kvmci run`, as written in `kvmci.yml` (kebab-case keys) or on the command
 * line. All optional here; defaults are applied after the file and the flags are merged.
 */
export const runSettingsSchema = z
  .object({
    image: z.union([imageName, z.array(imageName).min(1, "expected at least one image")], {
      error: "expected an image name, or a list of them",
    }),
    /** The guest's architecture; a list makes one guest per architecture (and image). */
    arch: archList,
    cpus: count,
    memory,
    disk: size(),
    accel: choice(["auto", "kvm", "tcg"]),
    boot: choice(["auto", "firmware", "kernel"]),
    network: choice(["user", "none"]),
    "boot-timeout": duration,
    timeout: duration,
    "idle-timeout": duration,
    workdir: absolutePath,
    sync: z.boolean(),
    snapshot: z.boolean(),
    exclude: stringList,
    env,
    artifact: artifactGlobs,
    "artifacts-dir": z.string().min(1, "expected a non-empty value"),
    "artifacts-max-size": size(),
    "artifacts-max-files": wholeNumber(10_000_000),
    "console-log": z.string().min(1, "expected a non-empty value"),
    "user-data": z.string().min(1, "expected a non-empty value"),
    json: z.string().min(1, "expected a non-empty value"),
    run: commandSetting,
    mirror: z.string().url(),
    provision,
    /** Guests that differ in more than the image: each entry may set these. */
    matrix: z
      .array(
        z
          .object({
            name: z
              .string()
              .regex(/^[A-Za-z0-9._-]+$/, "expected a short name: letters, digits, . _ -"),
            image: imageName,
            arch,
            cpus: count,
            memory,
            env,
          })
          .partial()
          .strict(),
      )
      .min(1, "expected at least one entry"),
    /** Machines of one run on a private network of their own (see config/load.ts). */
    guests: z
      .record(
        z
          .string()
          .regex(
            guestName,
            "expected a guest name: lower-case letters, digits and -, starting with a letter (it is the guest's host name)",
          ),
        topologyGuest,
      )
      .refine((g) => Object.keys(g).length >= 1 && Object.keys(g).length <= 16, {
        message: "expected from 1 to 16 guests",
      }),
    "ready-timeout": duration,
    parallel: count,
    output: choice(["prefixed", "grouped"]),
    "fail-fast": z.boolean(),
    shard: z.string().transform((value, ctx) => {
      const shard = parseShard(value);
      if ("problem" in shard) {
        ctx.addIssue({ code: "custom", message: shard.problem });
        return z.NEVER;
      }
      return shard;
    }),
    /** Flag-only shortcuts for provision.script-file and provision.packages. */
    "provision-script": z.string().min(1, "expected a non-empty value"),
    "provision-package": z.array(packageName),
    node: z.union(
      [
        z.enum(["auto", "none", "host", "package"]),
        z
          .string()
          .regex(
            /^\//,
            "expected auto, none, host, package, or the absolute path of a node binary",
          ),
      ],
      { error: "expected auto, none, host, package, or the absolute path of a node binary" },
    ),
    "host-trust": z.boolean(),
    locale: z
      .string()
      .regex(/^(none|[A-Za-z0-9_.@-]+)$/, "expected a locale name like C.UTF-8, or none"),
    "ci-env": z.boolean(),
    install: z.boolean(),
    "shell-on-failure": z.boolean(),
    tty: z.boolean(),
  })
  .partial()
  .strict();

export type RunSettingsInput = z.input<typeof runSettingsSchema>;
export type RunSettingsParsed = z.output<typeof runSettingsSchema>;
