var __defProp = Object.defineProperty;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __knownSymbol = (name, symbol) => (symbol = Symbol[name]) ? symbol : /* @__PURE__ */ Symbol.for("Symbol." + name);
var __typeError = (msg) => {
  throw TypeError(msg);
};
var __esm = (fn, res, err) => function __init() {
  if (err) throw err[0];
  try {
    return fn && (res = (0, fn[__getOwnPropNames(fn)[0]])(fn = 0)), res;
  } catch (e) {
    throw err = [e], e;
  }
};
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};
var __using = (stack, value, async) => {
  if (value != null) {
    if (typeof value !== "object" && typeof value !== "function") __typeError("Object expected");
    var dispose, inner;
    if (async) dispose = value[__knownSymbol("asyncDispose")];
    if (dispose === void 0) {
      dispose = value[__knownSymbol("dispose")];
      if (async) inner = dispose;
    }
    if (typeof dispose !== "function") __typeError("Object not disposable");
    if (inner) dispose = function() {
      try {
        inner.call(this);
      } catch (e) {
        return Promise.reject(e);
      }
    };
    stack.push([async, dispose, value]);
  } else if (async) {
    stack.push([async]);
  }
  return value;
};
var __callDispose = (stack, error, hasError) => {
  var E = typeof SuppressedError === "function" ? SuppressedError : function(e, s, m, _) {
    return _ = Error(m), _.name = "SuppressedError", _.error = e, _.suppressed = s, _;
  };
  var fail2 = (e) => error = hasError ? new E(e, error, "An error was suppressed during disposal") : (hasError = true, e);
  var next = (it) => {
    while (it = stack.pop()) {
      try {
        var result = it[1] && it[1].call(it[2]);
        if (it[0]) return Promise.resolve(result).then(next, (e) => (fail2(e), next()));
      } catch (e) {
        fail2(e);
      }
    }
    if (hasError) throw error;
  };
  return next();
};

// src/errors.ts
function exitCodeRows() {
  return [
    ["0-255", "the command's own exit code, when it ran to the end"],
    ...exitCodeTable.map((e) => [String(e.code), e.meaning])
  ];
}
function isKvmciError(error) {
  return error instanceof KvmciError;
}
function problemsError(what, problems, hint) {
  return new KvmciError(
    "usage",
    problems.length === 1 ? `Invalid ${what}: ${problems[0]}` : `Invalid ${what} (${problems.length} problems)`,
    { details: problems.length === 1 ? [] : problems, hint }
  );
}
var exitCodeTable, ExitCode, KvmciError, ConnectionLostError;
var init_errors = __esm({
  "src/errors.ts"() {
    "use strict";
    exitCodeTable = [
      { name: "usage", code: 64, meaning: "bad usage or configuration (nothing was started)" },
      { name: "image", code: 65, meaning: "the image could not be built or used" },
      {
        name: "guestBoot",
        code: 66,
        meaning: "the guest failed to boot or become ready (the console tail is shown)"
      },
      {
        name: "guestLost",
        code: 67,
        meaning: "the guest died, panicked or stopped answering while in use"
      },
      {
        name: "hostRequirement",
        code: 69,
        meaning: "the host lacks something needed (QEMU, mmdebstrap, a usable /dev/kvm with --accel kvm)"
      },
      { name: "internal", code: 70, meaning: "a bug in kvmci (please report it with the output)" },
      {
        name: "imageUnknown",
        code: 71,
        meaning: "unknown image: no catalog entry, file or cached image by that name"
      },
      {
        name: "imageNotDisk",
        code: 72,
        meaning: "the file given as an image is not a disk image kvmci can use"
      },
      {
        name: "hostWrite",
        code: 73,
        meaning: "a write on the host failed: the cache's disk is full, or the artifacts could not be written"
      },
      {
        name: "download",
        code: 74,
        meaning: "an image download failed (HTTP error, or the network after retries)"
      },
      {
        name: "digestMismatch",
        code: 75,
        meaning: "a downloaded image does not match its published or pinned digest"
      },
      {
        name: "provision",
        code: 76,
        meaning: "provisioning failed (a package or the script); nothing was cached"
      },
      {
        name: "someGuestsFailed",
        code: 77,
        meaning: "several guests ran and not all of them passed (the table says which)"
      },
      {
        name: "timeout",
        code: 124,
        meaning: "the command ran past --timeout, or printed nothing for --idle-timeout"
      },
      { name: "sigint", code: 130, meaning: "interrupted (Ctrl-C); the guest is torn down" },
      { name: "sigterm", code: 143, meaning: "terminated (SIGTERM); the guest is torn down" }
    ];
    ExitCode = Object.fromEntries(exitCodeTable.map((e) => [e.name, e.code]));
    KvmciError = class extends Error {
      code;
      hint;
      details;
      constructor(code, message, options = {}) {
        super(message, { cause: options.cause });
        this.name = "KvmciError";
        this.code = code;
        this.hint = options.hint;
        this.details = options.details ?? [];
      }
      get exitCode() {
        return ExitCode[this.code];
      }
    };
    ConnectionLostError = class extends KvmciError {
      constructor(what, cause) {
        super("guestLost", `The SSH connection to the guest was lost (${what})`, {
          hint: "The guest may have run out of memory, crashed, or been stopped from outside; its console below says more.",
          cause
        });
        this.name = "ConnectionLostError";
      }
    };
  }
});

// src/units/duration.ts
function parseDuration(text) {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) return void 0;
  const [, amount, unit] = match;
  const factor = units[unit ?? "s"];
  if (amount === void 0 || factor === void 0) return void 0;
  return Math.round(Number(amount) * factor);
}
function formatDuration(ms) {
  if (ms < 1e3) return `${Math.round(ms)}ms`;
  if (ms < 6e4) return `${(ms / 1e3).toFixed(1)}s`;
  const minutes = Math.floor(ms / 6e4);
  const seconds = Math.round(ms % 6e4 / 1e3);
  return `${minutes}m${String(seconds).padStart(2, "0")}s`;
}
var units, maxDurationMs;
var init_duration = __esm({
  "src/units/duration.ts"() {
    "use strict";
    units = {
      ms: 1,
      s: 1e3,
      m: 6e4,
      h: 36e5,
      d: 864e5
    };
    maxDurationMs = 7 * 864e5;
  }
});

// src/units/text.ts
function tailLines(text, count2) {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  return lines.slice(-count2);
}
function stripAnsi(text) {
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "");
}
function textWidth(text) {
  return [...text].length;
}
function wrapText(text, width) {
  const room = Math.max(1, width);
  const lines = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    for (const piece of cutWord(word, room)) {
      if (line === "") line = piece;
      else if (textWidth(line) + 1 + textWidth(piece) <= room) line += ` ${piece}`;
      else {
        lines.push(line);
        line = piece;
      }
    }
  }
  lines.push(line);
  return lines;
}
function cutWord(word, width) {
  const chars = [...word];
  const pieces = [];
  for (let at = 0; at < chars.length; at += width)
    pieces.push(chars.slice(at, at + width).join(""));
  return pieces;
}
function formatColumns(rows, width, indent = 2) {
  const nameWidth = Math.max(0, ...rows.map(([name]) => textWidth(name)));
  const column = indent + nameWidth + 2;
  const pad = (n) => " ".repeat(n);
  if (width - column >= minTextColumn) {
    return rows.flatMap(([name, text]) => {
      const [first = "", ...more] = wrapText(text, width - column);
      return [
        `${pad(indent)}${name}${pad(nameWidth - textWidth(name) + 2)}${first}`.trimEnd(),
        ...more.map((line) => `${pad(column)}${line}`)
      ];
    });
  }
  const under = Math.min(indent + 4, Math.max(0, width - minTextColumn));
  return rows.flatMap(([name, text]) => [
    ...wrapText(name, width - indent).map((line) => `${pad(indent)}${line}`),
    ...text ? wrapText(text, width - under).map((line) => `${pad(under)}${line}`) : []
  ]);
}
var minTextColumn;
var init_text = __esm({
  "src/units/text.ts"() {
    "use strict";
    minTextColumn = 30;
  }
});

// src/host/command.ts
import { execa } from "execa";
async function runCommand(argv, options = {}) {
  const [file, ...args] = argv;
  if (!file) throw new Error("runCommand needs a command");
  const child = execa(file, args, {
    cwd: options.cwd,
    env: options.env,
    cancelSignal: options.signal,
    killSignal: options.killSignal,
    all: true,
    reject: false,
    stdin: options.input === void 0 ? "ignore" : "pipe",
    input: options.input,
    ...options.onLine ? { lines: false } : {}
  });
  if (options.onLine) {
    const onLine = options.onLine;
    let pending = "";
    child.all?.on("data", (chunk) => {
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    });
  }
  const result = await child;
  if (result.isCanceled) {
    throw new KvmciError(options.failureCode ?? "internal", `${file} was cancelled`, {
      cause: result
    });
  }
  if (result.failed) {
    const output = typeof result.all === "string" ? result.all : "";
    const why = result.exitCode !== void 0 ? `exited with code ${result.exitCode}` : result.shortMessage ?? "failed";
    throw new KvmciError(options.failureCode ?? "internal", `${formatCommand(argv)} ${why}`, {
      hint: options.hint,
      details: tailLines(output, 20),
      cause: result
    });
  }
  return typeof result.stdout === "string" ? result.stdout : "";
}
function formatCommand(argv) {
  return argv.map((arg) => /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`).join(" ");
}
var init_command = __esm({
  "src/host/command.ts"() {
    "use strict";
    init_errors();
    init_text();
  }
});

// src/report/phase-end.ts
function phaseEndMark(event) {
  const end = event.command;
  const passed = event.ok && (end === void 0 || end.outcome === "passed");
  const outcome = end === void 0 ? "" : {
    passed: "",
    failed: `exit code ${end.exitCode}`,
    timeout: "timed out",
    error: "could not complete",
    interrupted: "interrupted"
  }[end.outcome];
  return { mark: passed ? "\u2713" : "\u2717", outcome };
}
var init_phase_end = __esm({
  "src/report/phase-end.ts"() {
    "use strict";
  }
});

// src/report/redact.ts
function redactUrlCredentials(text) {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi, "$1***@");
}
var init_redact = __esm({
  "src/report/redact.ts"() {
    "use strict";
  }
});

// src/units/size.ts
function parseSize(text) {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:i?B)?|(B))?\s*$/i.exec(text);
  if (!match) return void 0;
  const [, amount, multiple, bytesUnit] = match;
  const factor = units2[(multiple ?? bytesUnit ?? "M").toUpperCase()];
  if (amount === void 0 || factor === void 0) return void 0;
  const bytes = Math.round(Number(amount) * factor);
  return bytes > 0 ? bytes : void 0;
}
function formatSize(bytes) {
  const steps = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let step = 0;
  while (value >= 1024 && step < steps.length - 1) {
    value /= 1024;
    step++;
  }
  return `${value >= 10 || step === 0 ? Math.round(value) : value.toFixed(1)} ${steps[step]}`;
}
var units2;
var init_size = __esm({
  "src/units/size.ts"() {
    "use strict";
    units2 = {
      B: 1,
      K: 1024,
      M: 1024 ** 2,
      G: 1024 ** 3,
      T: 1024 ** 4
    };
  }
});

// src/report/transfer.ts
function formatTransfer(progress, now) {
  const { received, total } = progress;
  const seconds = Math.max(1e-3, (now - progress.startedAt) / 1e3);
  const rate = (received - progress.resumedFrom) / seconds;
  const parts = [
    total ? `${formatSize(received)} / ${formatSize(total)} (${Math.floor(received / total * 100)}%)` : formatSize(received)
  ];
  if (rate > 0 && now - progress.startedAt >= 500) {
    parts.push(`${formatSize(rate)}/s`);
    if (total && received < total)
      parts.push(`${formatDuration((total - received) / rate * 1e3)} left`);
  }
  if (progress.resumedFrom > 0) parts.push(`resumed at ${formatSize(progress.resumedFrom)}`);
  return parts.join(", ");
}
var init_transfer = __esm({
  "src/report/transfer.ts"() {
    "use strict";
    init_duration();
    init_size();
  }
});

// src/report/terminal.ts
var prefix, plainProgressEveryMs, TerminalReporter;
var init_terminal = __esm({
  "src/report/terminal.ts"() {
    "use strict";
    init_duration();
    init_command();
    init_phase_end();
    init_redact();
    init_transfer();
    prefix = "kvmci";
    plainProgressEveryMs = 5e3;
    TerminalReporter = class _TerminalReporter {
      constructor(streams, verbosity = "normal") {
        this.streams = streams;
        this.verbosity = verbosity;
        this.tty = Boolean(streams.stderr.isTTY);
      }
      streams;
      verbosity;
      status;
      ticker;
      tty;
      /** When a plain (non-terminal) progress line was last printed for a transfer. */
      lastTransferLine = 0;
      /** A reporter on the same streams that says more or less. */
      withVerbosity(verbosity) {
        return verbosity === this.verbosity ? this : new _TerminalReporter(this.streams, verbosity);
      }
      /** `--verbose`: a host command kvmci started (QEMU, qemu-img, tar, git, apt-get…). */
      hostCommand(argv) {
        if (this.verbosity === "verbose") this.line(`${prefix} $ ${formatCommand(argv)}`);
      }
      /** `--verbose`: how a host command ended, when it did not end well. */
      hostCommandEnd(argv, code, signal) {
        if (this.verbosity !== "verbose" || code === 0) return;
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        this.line(`${prefix} $ ${argv[0] ?? "?"} ${how}`);
      }
      onEvent = (event) => {
        if (this.verbosity === "quiet" && event.type !== "output" && event.type !== "warning") return;
        switch (event.type) {
          case "phase-start":
            this.clearStatus();
            this.status = { phase: event.phase, message: "", since: Date.now() };
            if (event.phase === "command") this.line(`${prefix} \u203A command output follows`);
            else if (this.tty) this.startTicker();
            break;
          case "phase-end": {
            this.clearStatus();
            this.stopTicker();
            this.status = void 0;
            const { mark, outcome } = phaseEndMark(event);
            this.line(
              `${prefix} ${mark} ${event.phase.padEnd(9)} ${formatDuration(event.ms)}${outcome ? `, ${outcome}` : ""}`
            );
            break;
          }
          case "progress":
            if (this.status) this.status.message = event.message;
            if (this.verbosity === "verbose") this.line(`${prefix} \u203A ${event.phase}: ${event.message}`);
            else this.renderStatus();
            break;
          case "transfer": {
            const text = `downloading ${event.what}: ${formatTransfer(event.progress, Date.now())}`;
            if (this.tty) {
              if (this.status) this.status.message = text;
              this.renderStatus();
            } else if (Date.now() - this.lastTransferLine >= plainProgressEveryMs) {
              this.lastTransferLine = Date.now();
              this.line(`${prefix} \u203A ${text}`);
            }
            break;
          }
          case "output":
            this.clearStatus();
            (event.stream === "stdout" ? this.streams.stdout : this.streams.stderr).write(event.chunk);
            break;
          case "note":
            this.line(`${prefix} \u203A ${event.message}`);
            break;
          case "warning":
            this.line(`${prefix} ! ${event.message}`);
            break;
        }
      };
      /** The run's last line; `passedAs` names success for a run without a command (`ready`). */
      summary(result, passedAs2 = "passed") {
        this.stopTicker();
        this.clearStatus();
        const parts = result.phases.map((p) => `${p.phase} ${formatDuration(p.ms)}`);
        const total = result.phases.reduce((sum, p) => sum + p.ms, 0);
        const what = {
          passed: passedAs2,
          failed: `failed with exit code ${result.exitCode}`,
          timeout: "timed out",
          error: "could not complete",
          interrupted: "interrupted"
        }[result.outcome];
        this.line(
          `${prefix} ${result.outcome === "passed" ? "\u2713" : "\u2717"} ${what} in ${formatDuration(total)}${result.accel ? ` (${result.accel.name})` : ""}${parts.length ? `: ${parts.join(", ")}` : ""}`
        );
        if (result.error) this.error(result.error);
      }
      error(error) {
        this.line(`${prefix}: error: ${error.message}`);
        for (const detail of error.details) this.line(`  ${detail}`);
        if (error.code === "internal" && error.cause !== void 0)
          this.line(
            `  cause: ${error.cause instanceof Error ? error.cause.stack ?? error.cause.message : JSON.stringify(error.cause)}`
          );
        if (error.hint) this.line(`${prefix}: hint: ${error.hint}`);
      }
      line(text) {
        this.clearStatus();
        this.streams.stderr.write(`${redactUrlCredentials(text)}
`);
        this.renderStatus();
      }
      startTicker() {
        this.stopTicker();
        this.ticker = setInterval(() => this.renderStatus(), 1e3);
        this.ticker.unref();
      }
      stopTicker() {
        if (this.ticker) clearInterval(this.ticker);
        this.ticker = void 0;
      }
      renderStatus() {
        if (!this.tty || !this.status || this.status.phase === "command") return;
        const elapsed = formatDuration(Date.now() - this.status.since);
        this.streams.stderr.write(
          redactUrlCredentials(
            `\r\x1B[K${prefix} \u2026 ${this.status.phase} ${elapsed}${this.status.message ? `: ${this.status.message}` : ""}`
          )
        );
      }
      clearStatus() {
        if (this.tty && this.status && this.status.phase !== "command")
          this.streams.stderr.write("\r\x1B[K");
      }
    };
  }
});

// src/units/similar-names.ts
function closestNames(name, known) {
  return known.map((k) => ({ k, d: editDistance(name, k) })).filter(({ k, d }) => d <= Math.max(2, Math.floor(k.length / 3))).sort((a, b) => a.d - b.d).slice(0, 3).map(({ k }) => k);
}
function didYouMean(name, known, show = (k) => k) {
  const close = closestNames(name, known);
  return close.length ? `did you mean ${close.map(show).join(" or ")}?` : void 0;
}
function editDistance(a, b) {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}
var init_similar_names = __esm({
  "src/units/similar-names.ts"() {
    "use strict";
  }
});

// src/cli/help.ts
function helpWidth(stdout) {
  return stdout?.isTTY && stdout.columns ? stdout.columns : 100;
}
function renderHelp(blocks, width) {
  return blocks.map(
    (block) => typeof block === "string" ? wrapText(block, width).join("\n") : [...wrapText(block.heading, width), ...formatColumns(block.rows, width)].join("\n")
  ).join("\n\n");
}
var init_help = __esm({
  "src/cli/help.ts"() {
    "use strict";
    init_text();
  }
});

// src/cloud-init/trust.ts
function trustCloudConfig(certificates) {
  if (certificates.length === 0) return void 0;
  const files = certificates.flatMap((pem, i) => [
    { path: `/usr/local/share/ca-certificates/kvmci-host-${i + 1}.crt`, content: `${pem}
` },
    { path: `/etc/pki/ca-trust/source/anchors/kvmci-host-${i + 1}.crt`, content: `${pem}
` }
  ]);
  return {
    write_files: [
      ...files.map((f) => ({ ...f, permissions: "0644" })),
      {
        path: guestCertificateBundle,
        content: `${certificates.join("\n")}
`,
        permissions: "0644"
      }
    ],
    runcmd: [
      [
        "sh",
        "-c",
        `for b in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do if [ -f "$b" ]; then cat ${guestCertificateBundle} >> "$b"; fi; done`
      ]
    ]
  };
}
var guestCertificateBundle;
var init_trust = __esm({
  "src/cloud-init/trust.ts"() {
    "use strict";
    guestCertificateBundle = "/etc/kvmci/host-ca.pem";
  }
});

// src/guest/command-env.ts
function baseCommandEnv(o) {
  const env2 = { PATH: guestPath };
  if (o.locale) env2.LANG = o.locale;
  env2.TERM = o.hostEnv.TERM || "dumb";
  if (o.ciEnv) {
    for (const name of ciVariables) {
      const value = o.hostEnv[name];
      if (value !== void 0) env2[name] = value;
    }
  }
  Object.assign(env2, o.proxy);
  if (o.certificates) env2.NODE_EXTRA_CA_CERTS = guestCertificateBundle;
  return env2;
}
var ciVariables, guestPath;
var init_command_env = __esm({
  "src/guest/command-env.ts"() {
    "use strict";
    init_trust();
    ciVariables = [
      "CI",
      "CONTINUOUS_INTEGRATION",
      "BUILD_NUMBER",
      "BUILD_ID",
      "GITHUB_ACTIONS",
      "GITHUB_SHA",
      "GITHUB_REF",
      "GITHUB_REF_NAME",
      "GITHUB_REF_TYPE",
      "GITHUB_BASE_REF",
      "GITHUB_HEAD_REF",
      "GITHUB_REPOSITORY",
      "GITHUB_REPOSITORY_OWNER",
      "GITHUB_RUN_ID",
      "GITHUB_RUN_NUMBER",
      "GITHUB_RUN_ATTEMPT",
      "GITHUB_JOB",
      "GITHUB_WORKFLOW",
      "GITHUB_EVENT_NAME",
      "GITHUB_ACTOR",
      "GITHUB_SERVER_URL",
      "GITHUB_API_URL",
      "RUNNER_OS",
      "RUNNER_ARCH",
      "GITLAB_CI",
      "CI_COMMIT_SHA",
      "CI_COMMIT_REF_NAME",
      "CI_PIPELINE_ID",
      "CI_JOB_ID",
      "CI_PROJECT_PATH",
      "CI_SERVER_URL",
      "BUILDKITE",
      "CIRCLECI",
      "TRAVIS",
      "TF_BUILD",
      "JENKINS_URL"
    ];
    guestPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  }
});

// src/host/node-install.ts
import { constants } from "node:fs";
import { access, lstat, open, readFile, realpath } from "node:fs/promises";
import { delimiter, dirname, join } from "node:path";
import { execa as execa2 } from "execa";
async function findHostNode(env2, fallback) {
  for (const dir of (env2.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, "node");
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
    }
  }
  return fallback;
}
async function readNodeInstall(path) {
  const binary = await realpath(path);
  const prefix2 = dirname(dirname(binary));
  const { stdout } = await execa2(binary, ["--version"], { timeout: 3e4 });
  const entries = ["bin/node"];
  let npmVersion;
  const npmPackage = join(prefix2, "lib", "node_modules", "npm", "package.json");
  try {
    npmVersion = JSON.parse(await readFile(npmPackage, "utf8")).version;
    entries.push("lib/node_modules/npm");
    for (const link2 of ["bin/npm", "bin/npx"])
      if (await isLink(join(prefix2, link2))) entries.push(link2);
  } catch {
  }
  if (await isLink(join(prefix2, "bin", "corepack")))
    entries.push("lib/node_modules/corepack", "bin/corepack");
  return {
    binary,
    prefix: prefix2,
    version: stdout.trim(),
    npmVersion,
    arch: await elfArch(binary),
    sizeBytes: (await lstat(binary)).size,
    entries
  };
}
async function isLink(path) {
  return (await lstat(path).catch(() => void 0))?.isSymbolicLink() ?? false;
}
async function elfArch(path) {
  const handle = await open(path, "r");
  try {
    const header = Buffer.alloc(20);
    await handle.read(header, 0, 20, 0);
    if (header.readUInt32BE(0) !== 2135247942) return "other";
    const machine = header.readUInt16LE(18);
    return machine === 62 ? "x86_64" : machine === 183 ? "aarch64" : "other";
  } finally {
    await handle.close();
  }
}
var init_node_install = __esm({
  "src/host/node-install.ts"() {
    "use strict";
  }
});

// src/host/trust.ts
import { X509Certificate } from "node:crypto";
import { readdir, readFile as readFile2, stat } from "node:fs/promises";
import { join as join2 } from "node:path";
async function readHostTrust(env2, folders = localCertificateFolders) {
  const files = [];
  for (const folder of folders) files.push(...await certificateFiles(folder));
  for (const name of certificateVariables) {
    const path = env2[name];
    if (path && !systemBundles.has(path)) files.push(path);
  }
  const certificates = /* @__PURE__ */ new Map();
  const sources = [];
  for (const file of [...new Set(files)]) {
    const text = await readFile2(file, "utf8").catch(() => "");
    const found = parseCertificates(text);
    if (found.length === 0 || found.length > maxCertificates) continue;
    sources.push(file);
    for (const { fingerprint, pem } of found) certificates.set(fingerprint, pem);
  }
  return { certificates: [...certificates.values()], sources, proxy: guestProxy(env2) };
}
async function certificateFiles(folder) {
  const entries = await readdir(folder, { recursive: true }).catch(() => []);
  const files = [];
  for (const entry of entries.map(String)) {
    if (!/\.(crt|pem)$/.test(entry)) continue;
    const path = join2(folder, entry);
    if ((await stat(path).catch(() => void 0))?.isFile()) files.push(path);
  }
  return files.sort();
}
function parseCertificates(text) {
  const out = [];
  for (const match of text.matchAll(
    /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g
  )) {
    try {
      const certificate = new X509Certificate(match[0]);
      out.push({ fingerprint: certificate.fingerprint256, pem: certificate.toString().trim() });
    } catch {
    }
  }
  return out;
}
function guestProxy(env2) {
  const out = {};
  for (const name of proxyVariables) {
    const value = env2[name] ?? env2[name.toLowerCase()];
    if (!value) continue;
    const guestValue = name === "NO_PROXY" ? value : throughHost(value);
    out[name] = guestValue;
    out[name.toLowerCase()] = guestValue;
  }
  return out;
}
function throughHost(value) {
  return value.replace(
    /^((?:[a-z][a-z0-9+.-]*:\/\/)?(?:[^@/]*@)?)(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?=[:/]|$)/i,
    `$1${hostFromGuest}`
  );
}
var localCertificateFolders, systemBundles, certificateVariables, proxyVariables, hostFromGuest, maxCertificates;
var init_trust2 = __esm({
  "src/host/trust.ts"() {
    "use strict";
    localCertificateFolders = [
      "/usr/local/share/ca-certificates",
      "/etc/pki/ca-trust/source/anchors"
    ];
    systemBundles = /* @__PURE__ */ new Set([
      "/etc/ssl/certs/ca-certificates.crt",
      "/etc/pki/tls/certs/ca-bundle.crt",
      "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
      "/etc/ssl/cert.pem",
      "/etc/ssl/ca-bundle.pem"
    ]);
    certificateVariables = [
      "NODE_EXTRA_CA_CERTS",
      "SSL_CERT_FILE",
      "REQUESTS_CA_BUNDLE",
      "CURL_CA_BUNDLE"
    ];
    proxyVariables = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"];
    hostFromGuest = "10.0.2.2";
    maxCertificates = 500;
  }
});

// src/units/error-message.ts
function errorMessage(error) {
  return error instanceof Error ? error.message : String(error);
}
var init_error_message = __esm({
  "src/units/error-message.ts"() {
    "use strict";
  }
});

// src/units/issues.ts
function formatIssue(issue) {
  const path = formatPath(issue.path);
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => `${path ? `${path}.` : ""}${key}: unknown setting`).join("; ");
  }
  const message = issue.message.replace(/^Invalid input: /, "").replace(/, received /, ", got ");
  return `${path || "(top level)"}: ${message}`;
}
function formatPath(path) {
  return path.reduce(
    (out, part) => typeof part === "number" ? `${out}[${part}]` : out ? `${out}.${String(part)}` : String(part),
    ""
  );
}
var init_issues = __esm({
  "src/units/issues.ts"() {
    "use strict";
  }
});

// src/image/digest.ts
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open as open2 } from "node:fs/promises";
function formatDigest(d) {
  return `${d.algorithm}:${d.hex}`;
}
function parseDigest(text) {
  const match = /^(sha256|sha512)[:=]([0-9a-fA-F]+)$/.exec(text.trim());
  if (!match) return void 0;
  const algorithm = match[1];
  const hex = match[2].toLowerCase();
  return hex.length === hexLength[algorithm] ? { algorithm, hex } : void 0;
}
function algorithmForHex(hex) {
  if (!/^[0-9a-fA-F]+$/.test(hex)) return void 0;
  return hex.length === 64 ? "sha256" : hex.length === 128 ? "sha512" : void 0;
}
async function digestZeroBlocks(path, signal) {
  return copyZeroBlocks(path, void 0, signal);
}
async function copyZeroBlocks(source, target, signal) {
  const hash = createHash("sha256");
  const zeros = Buffer.alloc(zeroBlock);
  const buffer = Buffer.allocUnsafe(zeroBlock);
  const input = await open2(source, "r");
  const output = target === void 0 ? void 0 : await open2(target, "w", 384).catch(async (error) => {
    await input.close();
    throw error;
  });
  try {
    let position = 0;
    for (; ; ) {
      signal?.throwIfAborted();
      const { bytesRead } = await input.read(buffer, 0, zeroBlock, position);
      if (bytesRead === 0) break;
      const data = buffer.subarray(0, bytesRead);
      if (bytesRead === zeroBlock && data.equals(zeros)) hash.update("Z");
      else {
        hash.update("D").update(data);
        for (let done = 0; output && done < bytesRead; )
          done += (await output.write(data, done, bytesRead - done, position + done)).bytesWritten;
      }
      position += bytesRead;
    }
    await output?.truncate(position);
  } finally {
    await output?.close();
    await input.close();
  }
  return hash.digest("hex");
}
function createDigestHash(algorithm) {
  return createHash(algorithm);
}
async function digestFile(path, algorithm, signal) {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20, signal }))
    hash.update(chunk);
  return { algorithm, hex: hash.digest("hex") };
}
var hexLength, zeroBlock;
var init_digest = __esm({
  "src/image/digest.ts"() {
    "use strict";
    hexLength = { sha256: 64, sha512: 128 };
    zeroBlock = 1 << 20;
  }
});

// src/image/reference.ts
import { isAbsolute, resolve } from "node:path";
function parseImageReference(text, cwd, home) {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();
  if (scheme) {
    if (scheme !== "http" && scheme !== "https")
      return {
        problem: `${text}: only http:// and https:// URLs can be downloaded`,
        hint: "For a file on this machine, give its path instead."
      };
    const hash = text.indexOf("#");
    const url = hash === -1 ? text : text.slice(0, hash);
    const fragment = hash === -1 ? "" : text.slice(hash + 1);
    if (!fragment)
      return {
        problem: `${text}: a URL needs a pinned digest, as in ${url}#sha256=<hex>, so that kvmci can verify the download before booting it`,
        hint: pinHint
      };
    const digest = parseDigest(fragment);
    if (!digest)
      return {
        problem: `${text}: expected #sha256=<64 hex digits> or #sha512=<128 hex digits> after the URL, got #${fragment}`,
        hint: pinHint
      };
    return { kind: "url", url, digest };
  }
  if (text.startsWith("~/")) return { kind: "file", path: resolve(home, text.slice(2)) };
  if (text.includes("/") || text.startsWith(".") || isAbsolute(text))
    return { kind: "file", path: resolve(cwd, text) };
  return { kind: "name", name: text };
}
function urlEntryName(url, digest) {
  const file = decodeURIComponent(new URL(url).pathname.split("/").pop() ?? "") || "image";
  const safe = file.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 60);
  return `url-${safe}-${digest.hex.slice(0, 16)}`;
}
var pinHint;
var init_reference = __esm({
  "src/image/reference.ts"() {
    "use strict";
    init_digest();
    pinHint = "kvmci verifies every download before it boots it, and a URL alone gives it nothing to verify against: a changed or tampered file would run your tests. Pin the digest of a copy you trust (`sha256sum disk.qcow2`) as https://\u2026/disk.qcow2#sha256=<hex>, or use a catalog name (`kvmci image ls --available`), which is checked against the distribution's checksum file.";
  }
});

// src/run/schedule.ts
function selectShard(entries, index, total) {
  const m = entries.length;
  const s = index - 1;
  if (m === 0) return [];
  if (total <= m) {
    return entries.filter((_, e2) => e2 % total === s).map((entry) => ({ entry, part: { index: 1, total: 1 } }));
  }
  const e = s % m;
  return [
    {
      entry: entries[e],
      part: { index: Math.floor(s / m) + 1, total: Math.ceil((total - e) / m) }
    }
  ];
}
function parseShard(text) {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(match?.[1]);
  const total = Number(match?.[2]);
  if (!match || total < 1 || index < 1 || index > total)
    return { problem: `expected I/N with 1 <= I <= N, like 1/4, got ${JSON.stringify(text)}` };
  return { index, total };
}
function memoryBudget(host, reservedBytes) {
  return Math.max(
    0,
    Math.min(
      host.totalBytes - hostReserveBytes,
      host.availableBytes - 512 * 1024 ** 2 + reservedBytes
    )
  );
}
function largestGuestBytes(totalBytes2) {
  return Math.max(0, totalBytes2 - hostReserveBytes);
}
function mayStart(next, running, limits) {
  return mayStartTogether([next], running, limits);
}
function mayStartTogether(next, running, limits) {
  if (running.length === 0) return true;
  if (running.length + next.length > limits.maxGuests) return false;
  const used = running.reduce((sum, g) => sum + g.memoryBytes, 0);
  const more = next.reduce((sum, g) => sum + g.memoryBytes, 0);
  return used + more <= limits.memoryBytes;
}
var hostReserveBytes;
var init_schedule = __esm({
  "src/run/schedule.ts"() {
    "use strict";
    hostReserveBytes = 1024 ** 3;
  }
});

// src/units/arch.ts
function isArch(value) {
  return arches.includes(value);
}
function archOfNode(nodeArch) {
  return nodeArch === "x64" ? "x86_64" : nodeArch === "arm64" ? "aarch64" : void 0;
}
function debianArch(arch2) {
  return arch2 === "x86_64" ? "amd64" : "arm64";
}
var arches;
var init_arch = __esm({
  "src/units/arch.ts"() {
    "use strict";
    arches = ["x86_64", "aarch64"];
  }
});

// src/config/schema.ts
import { z } from "zod";
function size(min = 1, what = "") {
  return z.union([z.string(), z.number()], { error: "expected a size like 2G or 512M" }).transform((value, ctx) => {
    const bytes = parseSize(String(value));
    if (bytes === void 0 || !Number.isSafeInteger(bytes)) {
      ctx.addIssue({
        code: "custom",
        message: `expected a size like 2G or 512M (a bare number is MiB), got ${JSON.stringify(value)}`
      });
      return z.NEVER;
    }
    if (bytes < min) {
      ctx.addIssue({
        code: "custom",
        message: `expected at least ${formatSize(min)}${what}, got ${JSON.stringify(value)}`
      });
      return z.NEVER;
    }
    return bytes;
  });
}
function wholeNumber(max) {
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
function choice(values) {
  return z.enum(values, {
    error: (issue) => `expected one of ${values.join(", ")}, got ${JSON.stringify(issue.input)}`
  });
}
function checkArch(value, ctx) {
  if (isArch(value)) return value;
  const meant = archAliases[value.toLowerCase()];
  ctx.addIssue({
    code: "custom",
    message: `expected ${arches.join(" or ")}, got ${JSON.stringify(value)}${meant ? ` (that is ${meant} here)` : ""}`
  });
  return z.NEVER;
}
var minMemoryBytes, memory, duration, count, artifactGlobs, envName, env, stringList, absolutePath, imageName, archAliases, arch, archList, packageName, provision, guestName, probe, commandSetting, topologyGuest, runSettingsSchema;
var init_schema = __esm({
  "src/config/schema.ts"() {
    "use strict";
    init_reference();
    init_duration();
    init_schedule();
    init_size();
    init_arch();
    minMemoryBytes = 256 * 1024 ** 2;
    memory = size(minMemoryBytes, " (a guest needs that much to boot)");
    duration = z.union([z.string(), z.number()], { error: "expected a duration like 90s, 10m or 1h" }).transform((value, ctx) => {
      const ms = typeof value === "number" ? value * 1e3 : parseDuration(value);
      if (ms === void 0 || !Number.isFinite(ms) || ms <= 0) {
        ctx.addIssue({
          code: "custom",
          message: `expected a duration like 90s, 10m or 1h, got ${JSON.stringify(value)}`
        });
        return z.NEVER;
      }
      if (ms > maxDurationMs) {
        ctx.addIssue({
          code: "custom",
          message: `expected a duration of at most 7d, got ${JSON.stringify(value)}`
        });
        return z.NEVER;
      }
      return ms;
    });
    count = z.union([z.string(), z.number()], { error: "expected a whole number from 1 to 64" }).transform((value, ctx) => {
      const n = typeof value === "number" ? value : Number(value);
      if (!Number.isInteger(n) || n < 1 || n > 64) {
        ctx.addIssue({
          code: "custom",
          message: `expected a whole number from 1 to 64, got ${JSON.stringify(value)}`
        });
        return z.NEVER;
      }
      return n;
    });
    artifactGlobs = z.union([z.string(), z.array(z.string())], { error: "expected a glob or a list of globs" }).transform((v) => Array.isArray(v) ? v : [v]).superRefine((globs, ctx) => {
      for (const glob of globs) {
        if (glob.trim() === "" || glob.startsWith("/") || glob.split("/").includes(".."))
          ctx.addIssue({
            code: "custom",
            message: `expected a glob relative to the workdir (like out/** or report.xml), got ${JSON.stringify(glob)}`
          });
      }
    });
    envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
    env = z.union(
      [
        z.array(z.string()),
        z.record(
          z.string(),
          z.union([z.string(), z.number(), z.boolean()], {
            error: "expected a string, a number or true/false"
          })
        )
      ],
      { error: "expected KEY=VALUE strings, or a mapping of names to values" }
    ).transform((value, ctx) => {
      const entries = [];
      if (Array.isArray(value)) {
        for (const item of value) {
          const at = item.indexOf("=");
          if (at === 0) {
            ctx.addIssue({
              code: "custom",
              message: `expected KEY=VALUE or KEY, got ${JSON.stringify(item)}`
            });
            continue;
          }
          entries.push(at < 0 ? [item, void 0] : [item.slice(0, at), item.slice(at + 1)]);
        }
      } else {
        for (const [key, item] of Object.entries(value)) entries.push([key, String(item)]);
      }
      for (const [key] of entries) {
        if (!envName.test(key)) {
          ctx.addIssue({
            code: "custom",
            message: `${JSON.stringify(key)} is not a valid environment variable name`
          });
        }
      }
      return Object.fromEntries(entries);
    });
    stringList = z.union([z.string(), z.array(z.string())], { error: "expected a string or a list of strings" }).transform((v) => Array.isArray(v) ? v : [v]);
    absolutePath = z.string().refine((p) => p.startsWith("/") && !p.includes("\0") && !/[\n']/.test(p), {
      message: "expected an absolute path in the guest, like /work"
    });
    imageName = z.string().min(1, "expected a non-empty value").superRefine((value, ctx) => {
      const reference = parseImageReference(value, "/", "/");
      if ("problem" in reference) ctx.addIssue({ code: "custom", message: reference.problem });
    });
    archAliases = { amd64: "x86_64", x64: "x86_64", arm64: "aarch64" };
    arch = z.string({ error: `expected ${arches.join(" or ")}` }).transform((value, ctx) => checkArch(value, ctx));
    archList = z.union([z.string(), z.array(z.string()).min(1, "expected at least one architecture")], {
      error: `expected ${arches.join(" or ")}, or a list of them`
    }).transform(
      (value, ctx) => Array.isArray(value) ? value.map((v) => checkArch(v, ctx)) : checkArch(value, ctx)
    );
    packageName = z.string().regex(/^[a-z0-9][a-z0-9+.:~=_-]*$/, "expected a package name like curl or python3-pytest");
    provision = z.object({
      packages: z.union([packageName, z.array(packageName)]).transform((v) => Array.isArray(v) ? v : [v]),
      /** A shell script, run as root. */
      script: z.string().min(1, "expected a non-empty value"),
      /** The same, from a file (relative to kvmci.yml). */
      "script-file": z.string().min(1, "expected a non-empty value"),
      /** Extra cloud-config for the provisioning boot only. */
      "cloud-config": z.record(z.string(), z.unknown())
    }).partial().strict().refine((p) => !(p.script && p["script-file"]), {
      message: "give script or script-file, not both"
    });
    guestName = /^[a-z][a-z0-9-]{0,30}$/;
    probe = z.string().superRefine((value, ctx) => {
      if (/^tcp:/.test(value)) {
        const port = Number(value.slice(4));
        if (!Number.isInteger(port) || port < 1 || port > 65535)
          ctx.addIssue({
            code: "custom",
            message: `expected tcp:PORT with a port from 1 to 65535, got ${JSON.stringify(value)}`
          });
      } else if (value.trim() === "")
        ctx.addIssue({ code: "custom", message: "expected tcp:PORT or a command" });
    });
    commandSetting = z.union(
      [
        z.string().min(1, "expected a non-empty value"),
        z.array(z.string()).min(1, "expected a non-empty value")
      ],
      { error: "expected a command (a string, run with bash -c) or an argv list" }
    );
    topologyGuest = z.object({
      image: imageName,
      cpus: count,
      memory,
      disk: size(),
      network: choice(["user", "none"]),
      provision,
      env,
      artifact: artifactGlobs,
      /** Started in the background, in order, before any guest's run: (its output is logged). */
      service: z.union([z.string().min(1), z.array(z.string().min(1))], {
        error: "expected a command or a list of commands"
      }).transform((v) => Array.isArray(v) ? v : [v]),
      /** What must answer before any run: starts: tcp:PORT, or a command that exits 0. */
      ready: z.union([probe, z.array(probe)], { error: "expected tcp:PORT, a command, or a list of them" }).transform((v) => Array.isArray(v) ? v : [v]),
      run: commandSetting
    }).partial().strict();
    runSettingsSchema = z.object({
      image: z.union([imageName, z.array(imageName).min(1, "expected at least one image")], {
        error: "expected an image name, or a list of them"
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
      "artifacts-max-files": wholeNumber(1e7),
      "console-log": z.string().min(1, "expected a non-empty value"),
      "user-data": z.string().min(1, "expected a non-empty value"),
      json: z.string().min(1, "expected a non-empty value"),
      run: commandSetting,
      mirror: z.string().url(),
      provision,
      /** Guests that differ in more than the image: each entry may set these. */
      matrix: z.array(
        z.object({
          name: z.string().regex(/^[A-Za-z0-9._-]+$/, "expected a short name: letters, digits, . _ -"),
          image: imageName,
          arch,
          cpus: count,
          memory,
          env
        }).partial().strict()
      ).min(1, "expected at least one entry"),
      /** Machines of one run on a private network of their own (see config/load.ts). */
      guests: z.record(
        z.string().regex(
          guestName,
          "expected a guest name: lower-case letters, digits and -, starting with a letter (it is the guest's host name)"
        ),
        topologyGuest
      ).refine((g) => Object.keys(g).length >= 1 && Object.keys(g).length <= 16, {
        message: "expected from 1 to 16 guests"
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
          z.string().regex(
            /^\//,
            "expected auto, none, host, package, or the absolute path of a node binary"
          )
        ],
        { error: "expected auto, none, host, package, or the absolute path of a node binary" }
      ),
      "host-trust": z.boolean(),
      locale: z.string().regex(/^(none|[A-Za-z0-9_.@-]+)$/, "expected a locale name like C.UTF-8, or none"),
      "ci-env": z.boolean(),
      install: z.boolean(),
      "shell-on-failure": z.boolean(),
      tty: z.boolean()
    }).partial().strict();
  }
});

// src/config/settings.ts
var settingsInfo;
var init_settings = __esm({
  "src/config/settings.ts"() {
    "use strict";
    settingsInfo = {
      image: {
        flag: { kind: "value", value: "NAME", multiple: true },
        help: "image to boot: a catalog name (default debian-12; `kvmci image ls --available`), a qcow2/raw file, or https://\u2026#sha256=DIGEST; repeat it for one guest per image, in parallel",
        input: { form: "list" }
      },
      arch: {
        flag: { kind: "value", value: "x86_64|aarch64", multiple: true },
        help: "the guest's architecture (default the host's); another than the host's is emulated (TCG), and images are picked or built for it; repeat it for one guest per architecture (and image)",
        input: { form: "list" }
      },
      run: {
        flag: { kind: "none" },
        help: "the command, run with bash -c in the workdir (on the command line: after `--`)",
        input: { form: "text" }
      },
      provision: {
        flag: { kind: "none" },
        help: "provisioning applied once and cached as a prepared image: packages, script (or script-file), cloud-config",
        input: { form: "yaml" }
      },
      matrix: {
        flag: { kind: "none" },
        help: "guests that differ in more than the image: a list of {name, image, arch, cpus, memory, env}"
      },
      cpus: {
        flag: { kind: "value", value: "N" },
        help: "virtual CPUs (default 2, or fewer if the host has fewer)",
        input: { form: "text" }
      },
      memory: {
        flag: { kind: "value", value: "SIZE" },
        help: "guest memory, e.g. 2G or 2048 (MiB); at least 256M (default 2G)",
        input: { form: "text" }
      },
      disk: {
        flag: { kind: "value", value: "SIZE" },
        help: "disk size, at least the image's; the root file system grows to it (default the image's)",
        input: { form: "text" }
      },
      accel: {
        flag: { kind: "value", value: "auto|kvm|tcg" },
        help: "auto (default) uses KVM only after proving it works; kvm fails without it; tcg emulates",
        input: { form: "text" }
      },
      boot: {
        flag: { kind: "value", value: "auto|firmware|kernel" },
        help: "firmware: BIOS and the image's bootloader; kernel: direct kernel boot (auto: kernel when the image has one)"
      },
      network: {
        flag: { kind: "value", value: "user|none" },
        help: "user (default): the guest reaches what the host can; none: nothing in or out but kvmci's SSH",
        input: { form: "text" }
      },
      "boot-timeout": {
        flag: { kind: "value", value: "DURATION" },
        help: "give up if the guest is not ready by then (default 3m with KVM, 10m without)",
        input: { form: "text" }
      },
      timeout: {
        flag: { kind: "value", value: "DURATION" },
        help: "stop the command after this long and exit 124; copying artifacts back counts too (default none)",
        input: { form: "text" }
      },
      "idle-timeout": {
        flag: { kind: "value", value: "DURATION" },
        help: "stop the command when it prints nothing for this long and exit 124 (default none)"
      },
      workdir: {
        flag: { kind: "value", value: "PATH" },
        help: "folder in the guest the workspace goes to and the command runs in (default /work)"
      },
      sync: {
        flag: { kind: "negated", flag: "no-sync" },
        help: "copy the workspace into the guest (default true; --no-sync: do not)"
      },
      snapshot: {
        flag: { kind: "negated", flag: "no-snapshot" },
        help: "start from a warm snapshot and save one when none matches (default true; --no-snapshot: boot cold)",
        input: { form: "boolean" }
      },
      exclude: {
        flag: { kind: "value", value: "PATTERN", multiple: true },
        help: "leave matching paths out of the sync (tar pattern; repeatable)"
      },
      env: {
        flag: { kind: "value", value: "KEY=VALUE|KEY", multiple: true },
        help: "set a variable for the command; KEY alone takes its value from kvmci's environment (use that for secrets: it stays off the command line); repeatable",
        input: { form: "list" }
      },
      artifact: {
        flag: { kind: "value", value: "GLOB", multiple: true },
        help: "copy matching files (relative to the workdir, ** allowed) back after the command (repeatable)",
        input: { name: "artifacts", form: "list" }
      },
      "artifacts-dir": {
        flag: { kind: "value", value: "DIR" },
        help: "where artifacts go (default ./kvmci-artifacts); each run's replace the last's"
      },
      "artifacts-max-size": {
        flag: { kind: "value", value: "SIZE" },
        help: "stop copying artifacts back past this size in all, with a warning (default 1G)",
        input: { form: "text" }
      },
      "artifacts-max-files": {
        flag: { kind: "value", value: "N" },
        help: "stop copying artifacts back past this many files, with a warning (default 100000)",
        input: { form: "text" }
      },
      "console-log": {
        flag: { kind: "value", value: "FILE" },
        help: "keep a copy of the guest's serial console"
      },
      "user-data": {
        flag: { kind: "value", value: "FILE" },
        help: "extra cloud-config merged into kvmci's"
      },
      json: {
        flag: { kind: "value", value: "FILE" },
        help: "write a machine-readable report"
      },
      mirror: {
        flag: { kind: "value", value: "URL" },
        help: "Debian mirror for building the image (default: the host's)"
      },
      "provision-script": {
        flag: { kind: "value", value: "FILE" },
        help: "shell script run once as root; the result is cached as a prepared image (see provision: in kvmci.yml)",
        flagOnly: { inFile: "provision: {script-file: FILE}" }
      },
      "provision-package": {
        flag: { kind: "value", value: "NAME", multiple: true },
        help: "package installed in the prepared image (repeatable)",
        flagOnly: { inFile: "provision: {packages: [NAME, \u2026]}" }
      },
      node: {
        flag: { kind: "value", value: "auto|none|host|package|PATH" },
        help: "Node.js in the guest: host copies the node (and npm) found on the host's PATH, baked once into a prepared image; package installs the distribution's nodejs and npm; a PATH copies that node; auto (default): host when the workspace has a package.json, else none",
        input: { form: "text" }
      },
      "host-trust": {
        flag: { kind: "negated", flag: "no-host-trust" },
        help: "carry the host's extra CA certificates and proxy settings into the guest (default true; --no-host-trust: do not)",
        input: { form: "boolean" }
      },
      locale: {
        flag: { kind: "value", value: "NAME|none" },
        help: "LANG for the command (default C.UTF-8; none leaves the guest's)"
      },
      "ci-env": {
        flag: { kind: "negated", flag: "no-ci-env" },
        help: "under a CI system, give the command its variables (CI, GITHUB_ACTIONS, GITHUB_SHA, \u2026; never paths or tokens) (default true)"
      },
      "shell-on-failure": {
        flag: { kind: "switch" },
        help: "when the command fails or times out (or the sync, with the guest up), open a shell in the guest on this terminal; the guest is torn down when it exits, and the exit code is still the command's"
      },
      install: {
        flag: { kind: "negated", flag: "no-install" },
        help: "install what the host lacks (QEMU, mmdebstrap, uidmap\u2026) with apt-get when root or with passwordless sudo, asking first on a terminal (default true; also KVMCI_NO_INSTALL=1)"
      },
      tty: {
        flag: { kind: "negated", flag: "no-tty" },
        help: "run the command in a pseudo-terminal when kvmci's own output is a terminal, so colours and progress bars work (default true)"
      },
      parallel: {
        flag: { kind: "value", value: "N" },
        help: "guests at once with several images (default: as many as the host's CPUs and free memory allow; the rest wait)"
      },
      output: {
        flag: { kind: "value", value: "prefixed|grouped" },
        help: "several guests: each line prefixed with [guest] as it comes (default), or each guest's lines together when it ends"
      },
      "fail-fast": {
        flag: { kind: "switch" },
        help: "several guests: stop the others when one fails"
      },
      shard: {
        flag: { kind: "value", value: "I/N" },
        help: "run the I-th of N parts of the matrix; guests get KVMCI_SHARD_INDEX and KVMCI_SHARD_TOTAL"
      },
      guests: {
        flag: { kind: "none" },
        help: "machines of one run on a private network of their own, each by its name: a mapping of names to {image, cpus, memory, disk, network, provision, env, artifact, service, ready, run}"
      },
      "ready-timeout": {
        flag: { kind: "value", value: "DURATION" },
        help: "with guests: how long every ready: probe may take, together, before the run fails (default 5m)"
      }
    };
  }
});

// src/config/load.ts
import { readFile as readFile3 } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { dirname as dirname2, extname, join as join3, resolve as resolve2 } from "node:path";
import yaml from "js-yaml";
async function loadRunConfig(input) {
  const problems = [...input.problems ?? []];
  const flagPrefix = input.flagPrefix ?? "--";
  const configPath = input.configPath ? resolve2(input.cwd, input.configPath) : resolve2(input.cwd, defaultConfigFile);
  let fileSettings = {};
  const fileText = await readOptional(configPath);
  if (fileText === void 0 && input.configPath) {
    problems.push(`--config: cannot read ${configPath}`);
  } else if (fileText !== void 0) {
    fileSettings = parseSettings(
      parseYaml(fileText, configPath, problems),
      `${relativeName(configPath, input.cwd)}: `,
      problems,
      {},
      "file"
    );
  }
  const flagSettings = parseSettings(input.flags, flagPrefix, problems, input.flagNames);
  const merged = { ...fileSettings, ...dropUndefined(flagSettings) };
  let command;
  if (merged.guests && (input.argv.length > 0 || merged.run !== void 0)) {
    problems.push(
      "with guests:, each guest says its own run: (a command after `--`, or run: at the top, would not say which guest runs it)"
    );
    command = { argv: ["true"] };
  } else if (input.argv.length > 0) command = { argv: input.argv };
  else if (merged.run !== void 0) command = toCommand(merged.run);
  else if (input.commandOptional || merged.guests) command = { argv: ["true"] };
  else
    problems.push(
      input.wording?.noCommand ?? `no command: give one after \`--\` (kvmci run -- npm test) or set \`run:\` in ${defaultConfigFile}`
    );
  let userData;
  if (merged["user-data"]) {
    const path = resolve2(input.cwd, merged["user-data"]);
    const where = flagSettings["user-data"] ? `${flagPrefix}user-data` : `${relativeName(configPath, input.cwd)}: user-data`;
    const text = await readOptional(path);
    if (text === void 0) problems.push(`${where}: cannot read ${path}`);
    else {
      const parsed = parseYaml(text, path, problems);
      if (parsed !== void 0 && (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))) {
        problems.push(
          `${where}: ${path} must be a cloud-config mapping (#cloud-config followed by keys)`
        );
      } else userData = parsed;
    }
  }
  const hostEnv = input.hostEnv ?? {};
  const node = await loadNode(merged.node ?? "auto", input, `${flagPrefix}node`, problems);
  const provision2 = await loadProvision(
    merged.provision,
    flagSettings,
    { configPath, cwd: input.cwd, flagPrefix },
    problems,
    node
  );
  const network = merged.network ?? "user";
  const hostTrust = merged["host-trust"] !== false && network === "user" ? await (input.readTrust ?? readHostTrust)(hostEnv) : void 0;
  const locale = merged.locale ?? "C.UTF-8";
  const fromHost = (values, where) => resolveEnv(values, input.hostEnv ?? {}, where, problems);
  const env2 = fromHost(merged.env, `${flagPrefix}env`);
  const matrix = buildMatrix(merged, input.hostArch ?? "x86_64", problems).map((entry) => ({
    ...entry,
    env: entry.env && fromHost(entry.env, `matrix ${entry.name}: env`)
  }));
  if (merged.guests && (merged.matrix || Array.isArray(merged.image)))
    problems.push("give guests: or several images (image: [A, B], matrix:), not both");
  if (merged.guests && Array.isArray(merged.arch) && merged.arch.length > 1)
    problems.push("with guests:, every guest has the run's one architecture (arch: A, not a list)");
  const topologySettings = merged.guests ? await loadTopology(merged.guests, { input, configPath, node, flagPrefix }, problems) : void 0;
  if (problems.length > 0 || !command) {
    throw problemsError(
      "configuration",
      problems,
      input.wording?.hint ?? "Run `kvmci run --help` for every option."
    );
  }
  const config = Object.freeze({
    image: matrix[0]?.image ?? "debian-12",
    arch: matrix[0]?.arch ?? input.hostArch ?? "x86_64",
    matrix,
    parallel: merged.parallel,
    output: merged.output ?? "prefixed",
    failFast: merged["fail-fast"] ?? false,
    shard: merged.shard,
    cpus: merged.cpus ?? Math.min(2, availableParallelism()),
    memoryBytes: merged.memory ?? 2 * 1024 ** 3,
    diskBytes: merged.disk,
    accel: merged.accel ?? "auto",
    boot: merged.boot ?? "auto",
    network,
    bootTimeoutMs: merged["boot-timeout"],
    timeoutMs: merged.timeout,
    idleTimeoutMs: merged["idle-timeout"],
    workdir: merged.workdir ?? "/work",
    sync: merged.sync ?? true,
    snapshot: merged.snapshot ?? true,
    exclude: merged.exclude ?? [],
    env: env2 ?? {},
    baseEnv: baseCommandEnv({
      hostEnv,
      locale: locale === "none" ? void 0 : locale,
      ciEnv: merged["ci-env"] ?? true,
      certificates: (hostTrust?.certificates.length ?? 0) > 0,
      proxy: hostTrust?.proxy ?? {}
    }),
    hostTrust,
    tty: (merged.tty ?? true) && (input.terminal ?? false),
    install: merged.install ?? true,
    shellOnFailure: merged["shell-on-failure"] ?? false,
    artifacts: merged.artifact ?? [],
    artifactsDir: resolve2(input.cwd, merged["artifacts-dir"] ?? "kvmci-artifacts"),
    artifactsLimits: {
      maxBytes: merged["artifacts-max-size"] ?? 1024 ** 3,
      maxEntries: merged["artifacts-max-files"] ?? 1e5
    },
    consoleLog: merged["console-log"] ? resolve2(input.cwd, merged["console-log"]) : void 0,
    userData,
    json: merged.json ? resolve2(input.cwd, merged.json) : void 0,
    mirror: merged.mirror,
    provision: provision2,
    command,
    cwd: input.cwd,
    topology: void 0,
    readyTimeoutMs: merged["ready-timeout"] ?? 5 * 6e4
  });
  if (!topologySettings) return config;
  return Object.freeze({
    ...config,
    topology: topologySettings.map((t) => ({
      name: t.name,
      services: t.services,
      probes: t.probes,
      command: t.command,
      config: Object.freeze({
        ...config,
        image: t.image ?? config.image,
        matrix: [{ name: t.name, image: t.image ?? config.image, arch: config.arch }],
        cpus: t.cpus ?? config.cpus,
        memoryBytes: t.memoryBytes ?? config.memoryBytes,
        diskBytes: t.diskBytes ?? config.diskBytes,
        network: t.network ?? config.network,
        provision: t.provision ?? config.provision,
        env: { ...config.env, ...t.env },
        artifacts: t.artifacts ?? config.artifacts,
        artifactsDir: join3(config.artifactsDir, t.name),
        consoleLog: config.consoleLog && withName(config.consoleLog, t.name),
        command: t.command ?? { argv: ["true"] }
      })
    }))
  });
}
function toCommand(run2) {
  return typeof run2 === "string" ? { script: run2 } : { argv: run2 };
}
function withName(path, name) {
  const ext = extname(path);
  return `${path.slice(0, path.length - ext.length)}.${name}${ext}`;
}
async function loadTopology(guests, o, problems) {
  const out = [];
  for (const [name, g] of Object.entries(guests)) {
    const where = `guests.${name}`;
    const provision2 = g.provision ? await loadProvision(
      g.provision,
      {},
      { configPath: o.configPath, cwd: o.input.cwd, flagPrefix: o.flagPrefix },
      problems,
      o.node
    ) : void 0;
    out.push({
      name,
      image: g.image,
      cpus: g.cpus,
      memoryBytes: g.memory,
      diskBytes: g.disk,
      network: g.network,
      provision: provision2,
      env: resolveEnv(g.env, o.input.hostEnv ?? {}, `${where}.env`, problems) ?? {},
      artifacts: g.artifact,
      services: g.service ?? [],
      probes: (g.ready ?? []).map(
        (p) => p.startsWith("tcp:") ? { kind: "tcp", port: Number(p.slice(4)) } : { kind: "command", command: p }
      ),
      command: g.run === void 0 ? void 0 : toCommand(g.run)
    });
  }
  if (!out.some((g) => g.command))
    problems.push("guests: no guest has a run: command, so there is nothing to run");
  return out;
}
function buildMatrix(merged, hostArch, problems) {
  const images = merged.image === void 0 ? [] : Array.isArray(merged.image) ? merged.image : [merged.image];
  const arches2 = merged.arch === void 0 ? [] : Array.isArray(merged.arch) ? merged.arch : [merged.arch];
  if (merged.matrix && images.length > 1) {
    problems.push("give several images with image: [A, B] or with matrix:, not both");
    return [];
  }
  if (merged.matrix && arches2.length > 1) {
    problems.push("give several architectures with arch: [A, B] or with matrix:, not both");
    return [];
  }
  const fallbackImage = images[0] ?? "debian-12";
  const fallbackArch = arches2[0] ?? hostArch;
  const entries = merged.matrix ? merged.matrix.map((m) => ({
    name: m.name,
    image: m.image ?? fallbackImage,
    arch: m.arch ?? fallbackArch,
    cpus: m.cpus,
    memoryBytes: m.memory,
    env: m.env
  })) : (images.length ? images : [fallbackImage]).flatMap(
    (image) => [...new Set(arches2.length ? arches2 : [fallbackArch])].map((arch2) => ({ image, arch: arch2 }))
  );
  const severalArches = new Set(entries.map((e) => e.arch)).size > 1;
  const seen = /* @__PURE__ */ new Map();
  return entries.map((entry) => {
    const base = entry.name ?? (severalArches ? `${shortImageName(entry.image)}-${entry.arch}` : shortImageName(entry.image));
    const count2 = (seen.get(base) ?? 0) + 1;
    seen.set(base, count2);
    return { ...entry, name: count2 === 1 ? base : `${base}-${count2}` };
  });
}
function shortImageName(image) {
  const last = image.replace(/#.*$/, "").split("/").pop() ?? image;
  return image.includes("/") ? last.replace(/\.(qcow2|img|raw)$/, "") : image;
}
async function loadProvision(settings, flags, where, problems, node) {
  const packages = [
    ...settings?.packages ?? [],
    ...flags["provision-package"] ?? [],
    ...node === "package" ? ["nodejs", "npm"] : []
  ];
  let script = settings?.script;
  let scriptSource = script ? `${relativeName(where.configPath, where.cwd)}: provision.script` : void 0;
  const scriptFile = flags["provision-script"] ? {
    path: resolve2(where.cwd, flags["provision-script"]),
    setting: `${where.flagPrefix}provision-script`
  } : settings?.["script-file"] ? {
    path: resolve2(dirname2(where.configPath), settings["script-file"]),
    setting: `${relativeName(where.configPath, where.cwd)}: provision.script-file`
  } : void 0;
  if (scriptFile) {
    script = await readOptional(scriptFile.path);
    scriptSource = scriptFile.path;
    if (script === void 0)
      problems.push(`${scriptFile.setting}: cannot read ${scriptFile.path}`);
  }
  const cloudConfig = settings?.["cloud-config"];
  const copy = typeof node === "object" ? node : void 0;
  if (packages.length === 0 && !script && !cloudConfig && !copy) return void 0;
  return { packages: [...new Set(packages)], script, scriptSource, cloudConfig, node: copy };
}
async function loadNode(setting, input, where, problems) {
  if (setting === "none" || setting === "package") return setting;
  if (setting === "auto" && await readOptional(resolve2(input.cwd, "package.json")) === void 0)
    return "none";
  const path = setting === "auto" || setting === "host" ? await findHostNode(input.hostEnv ?? {}, input.nodeFallback ?? process.execPath) : setting;
  try {
    return await readNodeInstall(path);
  } catch (error) {
    problems.push(
      `${where}: cannot use ${path} as the guest's Node.js (${errorMessage(error).split("\n")[0]}); give node: package for the distribution's, or node: none`
    );
    return "none";
  }
}
function resolveEnv(values, hostEnv, where, problems) {
  if (!values) return void 0;
  const resolved = {};
  for (const [name, value] of Object.entries(values)) {
    const actual = value ?? hostEnv[name];
    if (actual === void 0)
      problems.push(
        `${where}: ${name} is not set in kvmci's environment (export it first, or give ${name}=VALUE)`
      );
    else resolved[name] = actual;
  }
  return resolved;
}
function parseSettings(raw, prefix2, problems, names = {}, from = "flags") {
  if (raw === void 0 || raw === null) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    problems.push(`${prefix2.replace(/: $/, "")}: expected settings as key: value lines`);
    return {};
  }
  const shape = runSettingsSchema.shape;
  const parsed = {};
  for (const [key, value] of Object.entries(raw)) {
    const schema = shape[key];
    if (!schema) {
      problems.push(`${prefix2}${key}: unknown setting`);
      continue;
    }
    const flagOnly = from === "file" ? fileRefusal(key) : void 0;
    if (flagOnly) {
      problems.push(`${prefix2}${flagOnly}`);
      continue;
    }
    const result = schema.safeParse(value);
    if (result.success) parsed[key] = result.data;
    else
      for (const issue of result.error.issues)
        problems.push(
          `${prefix2}${formatIssue({ ...issue, path: [names[key] ?? key, ...issue.path] })}`
        );
  }
  return parsed;
}
function fileRefusal(key) {
  const info = Object.hasOwn(settingsInfo, key) ? settingsInfo[key] : void 0;
  if (!info?.flagOnly) return void 0;
  return `${key}: only a flag (--${key}); in kvmci.yml write ${info.flagOnly.inFile}`;
}
function parseYaml(text, path, problems) {
  try {
    return yaml.load(text, { filename: path });
  } catch (error) {
    problems.push(
      `${path}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`
    );
    return void 0;
  }
}
async function readOptional(path) {
  try {
    return await readFile3(path, "utf8");
  } catch {
    return void 0;
  }
}
function relativeName(path, cwd) {
  return path.startsWith(`${cwd}/`) ? path.slice(cwd.length + 1) : path;
}
function dropUndefined(value) {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== void 0));
}
var defaultConfigFile;
var init_load = __esm({
  "src/config/load.ts"() {
    "use strict";
    init_errors();
    init_command_env();
    init_node_install();
    init_trust2();
    init_error_message();
    init_issues();
    init_schema();
    init_settings();
    defaultConfigFile = "kvmci.yml";
  }
});

// src/host/http.ts
function createHttpGet() {
  let client;
  const load = async () => {
    const { EnvHttpProxyAgent, interceptors, request } = await import("undici");
    const dispatcher = new EnvHttpProxyAgent({
      headersTimeout: 6e4,
      bodyTimeout: 6e4,
      // http:// through an http proxy as a plain forward request, as curl does; many proxies
      // allow CONNECT only to port 443. https:// still tunnels.
      proxyTunnel: false
    }).compose(interceptors.redirect({ maxRedirections: 10 }));
    return { request, dispatcher };
  };
  return async (url, options) => {
    client ??= load();
    const { request, dispatcher } = await client;
    const response = await request(url, {
      method: "GET",
      dispatcher,
      headers: { "user-agent": "kvmci", ...options.headers },
      signal: options.signal
    });
    const headers = {};
    for (const [name, value] of Object.entries(response.headers))
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
    return { status: response.statusCode, headers, body: response.body };
  };
}
var init_http = __esm({
  "src/host/http.ts"() {
    "use strict";
  }
});

// src/cache/layout.ts
import { constants as constants2 } from "node:fs";
import { access as access2, mkdir } from "node:fs/promises";
import { join as join4 } from "node:path";
function cachePath(cacheDir, folder, name = "") {
  return join4(cacheDir, CacheFolders[folder], name);
}
async function requireWritableCache(cacheDir) {
  try {
    await mkdir(cacheDir, { recursive: true, mode: 448 });
    await access2(cacheDir, constants2.W_OK | constants2.X_OK);
  } catch (error) {
    const code = error.code;
    const why = code === "ENOTDIR" || code === "EEXIST" ? "a file is in the way (it or a folder above it is not a folder)" : code === "EACCES" || code === "EPERM" ? "permission denied" : code === "EROFS" ? "it is on a read-only file system" : String(error.message);
    throw new KvmciError("hostRequirement", `Cannot use the cache folder ${cacheDir}: ${why}`, {
      hint: "Set KVMCI_CACHE_DIR to a folder you can write to (by default kvmci uses $XDG_CACHE_HOME/kvmci or ~/.cache/kvmci).",
      cause: error
    });
  }
}
var CacheFolders;
var init_layout = __esm({
  "src/cache/layout.ts"() {
    "use strict";
    init_errors();
    CacheFolders = {
      /** Complete images: one folder each, built, downloaded or prepared. */
      images: "images",
      /** Saved ready guests: memory state, the disk saved with it, and what they were made from. */
      snapshots: "snapshots",
      /** Downloads in progress or interrupted, resumable: `<entry>.part` and `<entry>.part.json`. */
      downloads: "downloads",
      /** One lock file per entry being built or downloaded. */
      locks: "locks",
      /** One record per image a running guest uses; `gc` and `image rm` leave those alone. */
      inUse: "in-use",
      /** One record per guest running on this host: every kvmci's guests share its CPUs and memory. */
      guests: "guests",
      /** One record per guest kept after its run (`kvmci run --keep`), by name. */
      kept: "kept",
      /** Digests of local image files, remembered by path, size and modification time. */
      fileDigests: "file-digests"
    };
  }
});

// src/image/integrity.ts
import { readFile as readFile4, rename, stat as stat2, writeFile } from "node:fs/promises";
import { join as join5 } from "node:path";
import { z as z2 } from "zod";
function bootFiles(info, diskFile) {
  return [diskFile, info.boot.kernel, info.boot.initrd].filter((f) => !!f);
}
async function stampEntry(dir, info, diskFile) {
  const stamp = {};
  for (const file of bootFiles(info, diskFile)) {
    const path = join5(dir, file);
    const digest = file === diskFile ? info.digest : formatDigest(await digestFile(path, "sha256"));
    stamp[file] = { ...await sizeAndTime(path), digest };
  }
  await writeStamp(dir, stamp);
}
async function findDamage(dir, info, diskFile, o = {}) {
  const stamp = await readStamp(dir);
  let changed = false;
  for (const file of bootFiles(info, diskFile)) {
    const path = join5(dir, file);
    const now = await sizeAndTime(path).catch(() => void 0);
    if (!now) return `${file} is missing`;
    const known = stamp[file];
    if (known && known.size === now.size && sameTime(known.mtimeMs, now.mtimeMs)) continue;
    const expected = file === diskFile ? info.digest : known?.digest;
    const algorithm = parseDigest(expected ?? "")?.algorithm ?? "sha256";
    o.onStep?.(
      known ? `checking ${file} against its digest (its size or time changed since the last check)` : `checking ${file} against its digest (first check by this kvmci)`
    );
    const actual = formatDigest(await digestFile(path, algorithm, o.signal));
    if (expected && actual !== expected)
      return `${file} changed after it was cached: its digest no longer matches the one recorded then`;
    stamp[file] = { ...now, digest: actual };
    changed = true;
  }
  if (changed) await writeStamp(dir, stamp).catch(() => void 0);
  return void 0;
}
async function sizeAndTime(path) {
  const s = await stat2(path);
  return { size: s.size, mtimeMs: s.mtimeMs };
}
function sameTime(recordedMs, nowMs) {
  if (recordedMs === nowMs) return true;
  return nowMs % 1e3 === 0 && Math.floor(recordedMs / 1e3) * 1e3 === nowMs;
}
async function readStamp(dir) {
  try {
    const parsed = entryStampSchema.safeParse(
      JSON.parse(await readFile4(join5(dir, stampFileName), "utf8"))
    );
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}
async function writeStamp(dir, stamp) {
  const temporary = join5(dir, `.${stampFileName}.${process.pid}`);
  await writeFile(temporary, `${JSON.stringify(stamp, null, 2)}
`);
  await rename(temporary, join5(dir, stampFileName));
}
var stampFileName, fileStampSchema, entryStampSchema;
var init_integrity = __esm({
  "src/image/integrity.ts"() {
    "use strict";
    init_digest();
    stampFileName = "verified.json";
    fileStampSchema = z2.object({
      size: z2.number(),
      mtimeMs: z2.number(),
      digest: z2.string()
    });
    entryStampSchema = z2.record(z2.string(), fileStampSchema);
  }
});

// src/image/cache.ts
import { mkdir as mkdir2, readdir as readdir2, readFile as readFile5, rename as rename2, rm, stat as stat3, utimes, writeFile as writeFile2 } from "node:fs/promises";
import { homedir } from "node:os";
import { join as join6 } from "node:path";
import { z as z3 } from "zod";
function diskFileName(format) {
  return format === "raw" ? "disk.raw" : ImageFiles.disk;
}
function firmwareFor(arch2) {
  return arch2 === "x86_64" ? "bios" : "uefi";
}
function resolveCacheDir(env2, home = homedir()) {
  if (env2.KVMCI_CACHE_DIR) return env2.KVMCI_CACHE_DIR;
  const xdg = env2.XDG_CACHE_HOME && env2.XDG_CACHE_HOME.startsWith("/") ? env2.XDG_CACHE_HOME : join6(home, ".cache");
  return join6(xdg, "kvmci");
}
function imagesDir(cacheDir) {
  return cachePath(cacheDir, "images");
}
function imageEntryName(name, keyOrDigest) {
  const hex = keyOrDigest.replace(/^sha(256|512):/, "");
  return `${name}-${hex.slice(0, 16)}`;
}
async function readCachedImage(dir) {
  let text;
  try {
    text = await readFile5(join6(dir, ImageFiles.info), "utf8");
  } catch {
    return void 0;
  }
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    return void 0;
  }
  const parsed = imageInfoSchema.safeParse(data);
  if (!parsed.success) return void 0;
  const diskPath = join6(dir, diskFileName(parsed.data.format));
  try {
    await stat3(diskPath);
  } catch {
    return void 0;
  }
  const lastUsed = await stat3(join6(dir, ImageFiles.lastUsed)).then(
    (s) => s.mtime,
    () => new Date(parsed.data.createdAt)
  );
  return {
    info: parsed.data,
    dir,
    diskPath,
    entry: dir.split("/").pop(),
    sizeOnDisk: await folderSize(dir),
    lastUsed
  };
}
async function findCachedEntry(cacheDir, entry) {
  return readCachedImage(join6(imagesDir(cacheDir), entry));
}
async function findIntactEntry(cacheDir, entry, o) {
  const dir = join6(imagesDir(cacheDir), entry);
  const image = await readCachedImage(dir);
  let damage;
  if (image) {
    damage = await findDamage(dir, image.info, diskFileName(image.info.format), o);
    if (!damage) return image;
  } else {
    const exists = await stat3(dir).then(
      () => true,
      () => false
    );
    if (!exists) return void 0;
    damage = `${ImageFiles.info} or the disk is missing or unreadable`;
  }
  await rm(dir, { recursive: true, force: true });
  o.onNote?.(`the cached image ${entry} was damaged (${damage}); removed it, it is made again`);
  return void 0;
}
async function scanCache(cacheDir) {
  const { entries, broken, partial } = await scanEntries(imagesDir(cacheDir), readCachedImage);
  return { images: entries, broken, partial };
}
async function scanEntries(dir, read) {
  const found = [];
  const broken = [];
  const partial = [];
  const names = await readdir2(dir).catch(() => []);
  for (const name of names.sort()) {
    if (name.startsWith(partialPrefix)) {
      partial.push(name);
      continue;
    }
    const entry = await read(join6(dir, name));
    if (entry) found.push(entry);
    else broken.push(name);
  }
  return { entries: found, broken, partial };
}
async function listCachedImages(cacheDir) {
  return (await scanCache(cacheDir)).images;
}
async function touchLastUsed(image) {
  if (image.entry) await touchFolder(image.dir);
}
async function createPartialEntry(cacheDir, entryName) {
  return createPartialFolder(imagesDir(cacheDir), entryName);
}
async function createPartialFolder(parent, entryName) {
  const dir = join6(parent, `${partialPrefix}${entryName}-${process.pid}-${Date.now()}`);
  await mkdir2(dir, { recursive: true, mode: 448 });
  return dir;
}
function partialOwnerPid(folder) {
  const match = /-(\d+)-\d+$/.exec(folder);
  return folder.startsWith(partialPrefix) && match ? Number(match[1]) : void 0;
}
async function commitEntry(partialDir, cacheDir, entryName, info) {
  await stampEntry(partialDir, info, diskFileName(info.format));
  await writeFile2(join6(partialDir, ImageFiles.info), `${JSON.stringify(info, null, 2)}
`);
  return publishEntry(partialDir, join6(imagesDir(cacheDir), entryName), readCachedImage);
}
async function publishEntry(partialDir, finalDir, readBack) {
  if (!await readBack(finalDir)) await rm(finalDir, { recursive: true, force: true });
  try {
    await rename2(partialDir, finalDir);
  } catch (error) {
    const code = error.code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST") throw error;
    await rm(partialDir, { recursive: true, force: true });
  }
  const entry = await readBack(finalDir);
  if (!entry) throw new Error(`The cache entry ${finalDir} could not be read back`);
  return entry;
}
async function touchFolder(dir) {
  const path = join6(dir, ImageFiles.lastUsed);
  const now = /* @__PURE__ */ new Date();
  await utimes(path, now, now).catch(() => writeFile2(path, "")).catch(() => void 0);
}
async function folderSize(dir) {
  let total = 0;
  for (const entry of await readdir2(dir)) {
    const s = await stat3(join6(dir, entry));
    total += s.blocks * 512;
  }
  return total;
}
var ImageFiles, partialPrefix, digestText, imageInfoSchema;
var init_cache = __esm({
  "src/image/cache.ts"() {
    "use strict";
    init_layout();
    init_arch();
    init_integrity();
    ImageFiles = {
      disk: "disk.qcow2",
      kernel: "vmlinuz",
      initrd: "initrd.img",
      /** Touched each time a run uses the image: `gc` removes the least recently used first. */
      lastUsed: "last-used",
      /** Written last: a folder without it is an incomplete entry. */
      info: "image.json"
    };
    partialPrefix = ".partial-";
    digestText = z3.string().regex(/^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/);
    imageInfoSchema = z3.object({
      name: z3.string(),
      arch: z3.enum(arches),
      /** Of the disk file as stored: for downloads, the published (or pinned) digest it matched. */
      digest: digestText,
      format: z3.enum(["qcow2", "raw"]),
      user: z3.string(),
      virtualSize: z3.number(),
      source: z3.discriminatedUnion("kind", [
        z3.object({ kind: z3.literal("recipe"), key: z3.string() }),
        z3.object({ kind: z3.literal("catalog"), url: z3.string(), checksums: z3.string() }),
        z3.object({ kind: z3.literal("url"), url: z3.string() }),
        z3.object({ kind: z3.literal("file"), path: z3.string() }),
        /** An image with a project's provisioning applied; its disk is a qcow2 over `base`. */
        z3.object({
          kind: z3.literal("prepared"),
          key: z3.string(),
          base: z3.string(),
          baseDigest: z3.string(),
          packages: z3.array(z3.string())
        })
      ]),
      boot: z3.object({
        /** `none`: no bootloader in the disk; it boots only with its kernel (the arm64 recipes). */
        firmware: z3.enum(["bios", "uefi", "none"]),
        kernel: z3.string().optional(),
        initrd: z3.string().optional(),
        cmdline: z3.string().optional()
      }),
      createdAt: z3.string()
    });
  }
});

// src/image/recipe.ts
import { createHash as createHash2 } from "node:crypto";
import yaml2 from "js-yaml";
import { z as z4 } from "zod";
function recipeHookPaths(text) {
  const data = yaml2.load(text);
  const named = (key) => {
    const value = data?.[key];
    return typeof value === "string" && hookPath.safeParse(value).success ? value : void 0;
  };
  return {
    customize: named("customize-hook") ?? `${String(data?.name)}/customize.sh`,
    essential: named("essential-hook")
  };
}
function parseRecipe(text, hooks) {
  const parsed = recipeSchema.safeParse(yaml2.load(text));
  if (!parsed.success) return { problems: parsed.error.issues.map(formatIssue) };
  const r = parsed.data;
  const key = createHash2("sha256").update(buildFormat).update("\0").update(text).update("\0").update(hooks.customize.text).update("\0").update(hooks.essential?.text ?? "").digest("hex");
  return {
    kind: "recipe",
    name: r.name,
    description: r.description,
    arch: r.arch,
    suite: r.suite,
    variant: r.variant,
    components: r.components,
    user: r.user,
    sizeBytes: parseSize(r.size) ?? 0,
    packages: r.packages,
    kernelCmdline: r["kernel-cmdline"],
    customizeScript: hooks.customize.path,
    essentialScript: hooks.essential?.path,
    key
  };
}
var buildFormat, hookPath, recipeSchema;
var init_recipe = __esm({
  "src/image/recipe.ts"() {
    "use strict";
    init_arch();
    init_size();
    init_issues();
    buildFormat = "kvmci-recipe-build-2";
    hookPath = z4.string().refine(
      (p) => /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(p) && !p.split("/").includes(".."),
      "expected a path inside the catalog folder, like debian/customize.sh"
    );
    recipeSchema = z4.object({
      kind: z4.literal("recipe"),
      name: z4.string().regex(/^[a-z0-9][a-z0-9.-]*$/),
      description: z4.string(),
      arch: z4.enum(arches),
      suite: z4.string().min(1),
      variant: z4.enum(["apt", "minbase", "important", "required", "standard"]),
      components: z4.array(z4.string()).min(1),
      user: z4.string().regex(/^[a-z_][a-z0-9_-]*$/),
      size: z4.string().refine((s) => parseSize(s) !== void 0, "expected a size like 3G"),
      packages: z4.array(z4.string().min(1)).min(1),
      "kernel-cmdline": z4.string(),
      /** mmdebstrap's --customize-hook (default `<name>/customize.sh`). */
      "customize-hook": hookPath.optional(),
      /** mmdebstrap's --essential-hook, run before the packages beyond the essential set. */
      "essential-hook": hookPath.optional()
    }).strict();
  }
});

// src/image/catalog.ts
import { existsSync } from "node:fs";
import { readdir as readdir3, readFile as readFile6 } from "node:fs/promises";
import { basename, join as join7 } from "node:path";
import { fileURLToPath } from "node:url";
import yaml3 from "js-yaml";
import { z as z5 } from "zod";
function catalogDirs(env2) {
  const extra = (env2.KVMCI_CATALOG ?? "").split(":").filter((d) => d !== "");
  return [...extra, builtinCatalogDir];
}
async function loadCatalogEntry(name, arch2, dirs) {
  return (await loadCatalogEntries(name, dirs)).find((e) => e.arch === arch2);
}
async function loadCatalogEntries(name, dirs) {
  if (!namePattern.test(name)) return [];
  const found = /* @__PURE__ */ new Map();
  for (const dir of dirs) {
    for (const file of [`${name}.yml`, ...arches.map((a) => `${name}.${a}.yml`)]) {
      const path = join7(dir, file);
      let text;
      try {
        text = await readFile6(path, "utf8");
      } catch {
        continue;
      }
      const entry = await parseCatalogEntry(text, path, dir);
      if (!found.has(entry.arch)) found.set(entry.arch, entry);
    }
  }
  return [...found.values()];
}
function entryNameOfFile(file) {
  if (!file.endsWith(".yml")) return void 0;
  const stem = file.slice(0, -4);
  const arch2 = arches.find((a) => stem.endsWith(`.${a}`));
  return arch2 ? stem.slice(0, -arch2.length - 1) : stem;
}
async function listCatalog(dirs) {
  const seen = /* @__PURE__ */ new Map();
  for (const name of await listCatalogNames(dirs)) {
    for (const entry of await loadCatalogEntries(name, dirs))
      seen.set(`${name}/${entry.arch}`, entry);
  }
  return [...seen.values()].sort(
    (a, b) => a.name.localeCompare(b.name) || arches.indexOf(a.arch) - arches.indexOf(b.arch)
  );
}
async function listCatalogNames(dirs) {
  const names = /* @__PURE__ */ new Set();
  for (const dir of dirs) {
    try {
      for (const f of await readdir3(dir)) {
        const name = entryNameOfFile(f);
        if (name !== void 0 && namePattern.test(name)) names.add(name);
      }
    } catch {
    }
  }
  return [...names].sort();
}
async function parseCatalogEntry(text, file, dir) {
  const usersOwn = dir !== builtinCatalogDir;
  let problems;
  let data;
  try {
    data = yaml3.load(text, { filename: file });
  } catch (error) {
    data = void 0;
    problems = [error.message.split("\n")[0] ?? String(error)];
  }
  const kind = data?.kind;
  if (kind === "recipe") {
    const paths = recipeHookPaths(text);
    const read = async (path) => {
      const full = join7(dir, path);
      const hookText = await readFile6(full, "utf8").catch(() => void 0);
      return hookText === void 0 ? void 0 : { path: full, text: hookText };
    };
    const customize = await read(paths.customize);
    const essential = paths.essential ? await read(paths.essential) : void 0;
    problems = [
      ...customize ? [] : [`${join7(dir, paths.customize)}: missing (the recipe's customize hook)`],
      ...paths.essential && !essential ? [`${join7(dir, paths.essential)}: missing (the recipe's essential hook)`] : []
    ];
    if (customize && problems.length === 0) {
      const recipe = parseRecipe(text, { customize, essential });
      if (!("problems" in recipe)) return checkName(recipe, file);
      problems = recipe.problems;
    }
  } else if (kind === "download") {
    const parsed = downloadSchema.safeParse(data);
    if (parsed.success) return checkName({ ...parsed.data, file }, file);
    problems = parsed.error.issues.map(formatIssue);
  } else {
    problems ??= [`kind: expected "download" or "recipe", got ${JSON.stringify(kind)}`];
  }
  throw new KvmciError(usersOwn ? "usage" : "internal", `Invalid catalog entry ${file}`, {
    details: problems,
    hint: usersOwn ? "Fix the entry (see images/ in kvmci for examples), or remove its folder from KVMCI_CATALOG." : void 0
  });
}
function checkName(entry, file) {
  const base = basename(file);
  if (base !== `${entry.name}.yml` && base !== `${entry.name}.${entry.arch}.yml`) {
    throw new KvmciError("usage", `Invalid catalog entry ${file}`, {
      details: [
        `name: ${JSON.stringify(entry.name)} and arch: ${entry.arch} must match the file name (${entry.name}.yml or ${entry.name}.${entry.arch}.yml)`
      ]
    });
  }
  return entry;
}
var builtinCatalogDir, namePattern, httpUrl, downloadSchema;
var init_catalog = __esm({
  "src/image/catalog.ts"() {
    "use strict";
    init_issues();
    init_errors();
    init_arch();
    init_recipe();
    builtinCatalogDir = ["../images/", "../../images/"].map((relative5) => fileURLToPath(new URL(relative5, import.meta.url))).find((dir) => existsSync(join7(dir, "debian-12.yml"))) ?? fileURLToPath(new URL("../images/", import.meta.url));
    namePattern = /^[a-z0-9][a-z0-9.-]*$/;
    httpUrl = z5.string().refine((s) => /^https?:\/\/[^/\s]+\/\S+$/.test(s), "expected an http:// or https:// URL");
    downloadSchema = z5.object({
      kind: z5.literal("download"),
      name: z5.string().regex(namePattern),
      description: z5.string().min(1),
      arch: z5.enum(arches),
      /** The disk image itself. */
      url: httpUrl,
      /** The distribution's published checksum list (SHA256SUMS, SHA512SUMS or CHECKSUM). */
      checksums: httpUrl,
      format: z5.enum(["qcow2", "raw"]),
      /** The account cloud-init configures by default; kvmci logs in as this user. */
      user: z5.string().regex(/^[a-z_][a-z0-9_-]*$/),
      /**
       * How the image boots: `bios` (SeaBIOS and the image's own bootloader) on x86_64, `uefi`
       * (UEFI firmware and the image's own EFI bootloader) on aarch64.
       */
      boot: z5.enum(["bios", "uefi"])
    }).strict().refine((e) => e.boot === (e.arch === "x86_64" ? "bios" : "uefi"), {
      message: "expected boot: bios for x86_64 and boot: uefi for aarch64 (how kvmci boots each)",
      path: ["boot"]
    });
  }
});

// src/ssh/shell-quote.ts
function shellQuote(word) {
  if (word !== "" && /^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
function shellJoin(words) {
  return words.map(shellQuote).join(" ");
}
var init_shell_quote = __esm({
  "src/ssh/shell-quote.ts"() {
    "use strict";
  }
});

// src/guest/command-line.ts
function buildGuestCommandLine(command, context) {
  const exports = Object.entries(context.env).map(
    ([key, value]) => `export ${key}=${shellQuote(value)}`
  );
  const run2 = "argv" in command ? `exec ${shellJoin(command.argv)}` : `exec bash -c ${shellQuote(command.script)}`;
  return [`cd ${shellQuote(context.workdir)}`, ...exports, run2].join(" && ");
}
function describeCommand(command) {
  return "argv" in command ? shellJoin(command.argv) : command.script;
}
var init_command_line = __esm({
  "src/guest/command-line.ts"() {
    "use strict";
    init_shell_quote();
  }
});

// src/report/junit.ts
import { XMLParser } from "fast-xml-parser";
var parser;
var init_junit = __esm({
  "src/report/junit.ts"() {
    "use strict";
    parser = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: "@",
      textNodeName: "#text",
      isArray: (name) => ["testsuite", "testcase", "failure", "error", "skipped"].includes(name),
      parseAttributeValue: false,
      trimValues: false,
      // pytest writes newlines in attributes as &#10;.
      htmlEntities: true
    });
  }
});

// src/report/junit-file.ts
import { XMLValidator } from "fast-xml-parser";
function junitSummary(read) {
  if (!read) return void 0;
  if ("problem" in read) return { path: read.path, problem: read.problem };
  return { path: read.path, ...read.report.totals };
}
var maxJunitBytes;
var init_junit_file = __esm({
  "src/report/junit-file.ts"() {
    "use strict";
    init_size();
    init_junit();
    maxJunitBytes = 32 * 1024 ** 2;
  }
});

// src/run/events.ts
var phases;
var init_events = __esm({
  "src/run/events.ts"() {
    "use strict";
    phases = [
      "image",
      "queue",
      "prepare",
      "overlay",
      "seed",
      "boot",
      "ready",
      "restore",
      "snapshot",
      "network",
      "sync",
      "services",
      "command",
      "artifacts",
      "teardown"
    ];
  }
});

// src/report/table.ts
function formatTable(rows) {
  const widths = (rows[0] ?? []).map(
    (_, col) => Math.max(...rows.map((r) => (r[col] ?? "").length))
  );
  return rows.map(
    (row) => row.map((cell, col) => cell.padEnd(widths[col] ?? 0)).join("  ").trimEnd()
  ).map((line) => `${line}
`).join("");
}
var init_table = __esm({
  "src/report/table.ts"() {
    "use strict";
  }
});

// src/report/matrix.ts
function formatMatrixTable(outcomes) {
  const used = phases.filter(
    (phase) => outcomes.some((o) => o.result?.phases.some((p) => p.phase === phase))
  );
  const arches2 = new Set(outcomes.map((o) => o.config.arch)).size > 1;
  const rows = outcomes.map((o) => {
    const r = o.result;
    const phaseCells = used.map((phase) => {
      const record = r?.phases.find((p) => p.phase === phase);
      return record ? `${record.ok ? "" : "\u2717"}${formatDuration(record.ms)}` : "-";
    });
    return [
      o.name,
      r?.image?.name ?? o.config.image,
      ...arches2 ? [o.config.arch] : [],
      r?.accel?.name ?? "-",
      guestVerdict(o),
      r && o.stoppedBy === void 0 ? String(r.exitCode) : "-",
      ...phaseCells
    ];
  });
  return formatTable([
    // Phase columns keep their lower-case names: "image" the phase is not "IMAGE" the name.
    ["GUEST", "IMAGE", ...arches2 ? ["ARCH"] : [], "ACCEL", "RESULT", "EXIT", ...used],
    ...rows
  ]);
}
function guestVerdict(o) {
  if (o.stoppedBy === "fail-fast") return o.result ? "stopped (fail-fast)" : "not run (fail-fast)";
  if (o.stoppedBy === "another guest") return "stopped (another guest failed)";
  if (!o.result) return "not run";
  if (o.serves && o.result.outcome === "passed") return "served";
  return {
    passed: "passed",
    failed: "failed",
    timeout: "timed out",
    error: "error",
    interrupted: "interrupted"
  }[o.result.outcome];
}
var init_matrix = __esm({
  "src/report/matrix.ts"() {
    "use strict";
    init_duration();
    init_events();
    init_table();
  }
});

// src/report/json.ts
import { writeFile as writeFile3 } from "node:fs/promises";
function buildJsonReport(config, result, startedAt) {
  return {
    version: 1,
    startedAt: startedAt.toISOString(),
    outcome: result.outcome,
    exitCode: result.exitCode,
    command: describeCommand(config.command),
    image: result.image ?? { name: config.image },
    accel: result.accel,
    boot: result.boot,
    guest: {
      arch: config.arch,
      cpus: config.cpus,
      memoryBytes: config.memoryBytes,
      diskBytes: config.diskBytes,
      workdir: config.workdir
    },
    env: Object.keys(config.env),
    phases: result.phases,
    artifacts: result.artifacts,
    cloudInitErrors: result.cloudInitErrors,
    warnings: result.warnings,
    prepared: result.prepared,
    snapshot: result.snapshot,
    error: result.error ? {
      code: result.error.code,
      message: result.error.message,
      hint: result.error.hint,
      details: result.error.details
    } : void 0
  };
}
function buildMatrixReport(outcomes, startedAt, junit = /* @__PURE__ */ new Map()) {
  const passed = outcomes.every((o) => o.result?.outcome === "passed");
  return {
    version: 1,
    startedAt: startedAt.toISOString(),
    outcome: passed ? "passed" : "failed",
    guests: outcomes.map((o) => ({
      name: o.name,
      verdict: guestVerdict(o),
      ...o.result ? {
        ...buildJsonReport(o.config, o.result, startedAt),
        junit: junitSummary(junit.get(o.name))
      } : { image: { name: o.config.image } }
    }))
  };
}
async function writeJsonReport(path, report) {
  await writeFile3(path, `${redactUrlCredentials(JSON.stringify(report, null, 2))}
`);
}
var init_json = __esm({
  "src/report/json.ts"() {
    "use strict";
    init_command_line();
    init_redact();
    init_junit_file();
    init_matrix();
  }
});

// src/host/meminfo.ts
import { readFile as readFile7 } from "node:fs/promises";
import { freemem, totalmem } from "node:os";
function parseMemInfo(text) {
  const kib = (field) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
    return match ? Number(match[1]) * 1024 : void 0;
  };
  const totalBytes2 = kib("MemTotal");
  const availableBytes = kib("MemAvailable");
  return totalBytes2 !== void 0 && availableBytes !== void 0 ? { totalBytes: totalBytes2, availableBytes } : void 0;
}
async function readMemInfo() {
  const text = await readFile7("/proc/meminfo", "utf8").catch(() => "");
  return parseMemInfo(text) ?? { totalBytes: totalmem(), availableBytes: freemem() };
}
var init_meminfo = __esm({
  "src/host/meminfo.ts"() {
    "use strict";
  }
});

// src/host/which.ts
import { constants as constants3 } from "node:fs";
import { access as access3 } from "node:fs/promises";
import { delimiter as delimiter2, join as join8 } from "node:path";
async function which(command, path = process.env.PATH ?? "") {
  const dirs = [...path.split(delimiter2), "/usr/sbin", "/sbin"].filter(Boolean);
  for (const dir of dirs) {
    const candidate = join8(dir, command);
    try {
      await access3(candidate, constants3.X_OK);
      return candidate;
    } catch {
    }
  }
  return void 0;
}
var init_which = __esm({
  "src/host/which.ts"() {
    "use strict";
  }
});

// src/host/packages.ts
import { constants as constants4 } from "node:fs";
import { access as access4 } from "node:fs/promises";
import { execa as execa3 } from "execa";
async function missingTools(tools, path) {
  const missing = [];
  for (const tool of tools) if (!await present(tool, path)) missing.push(tool);
  return { missing, packages: [...new Set(missing.map((t) => packageOf[t] ?? t))] };
}
async function present(tool, path) {
  if (!tool.startsWith("/")) return await which(tool, path) !== void 0;
  return access4(tool, constants4.R_OK).then(
    () => true,
    () => false
  );
}
function toolInstaller(policy) {
  return async (tools, purpose) => {
    const { missing, packages } = await missingTools(tools, policy.path);
    if (missing.length === 0) return;
    const command = `sudo apt-get install -y ${packages.join(" ")}`;
    const refuse = (why) => new KvmciError(
      "hostRequirement",
      `${missing.join(" and ")} ${missing.length === 1 ? "is" : "are"} needed ${purpose} but not installed${why}`,
      { hint: `Install with: ${command}  (then \`kvmci doctor\` checks the rest)` }
    );
    if (policy.mode === "never") throw refuse(" (--no-install: kvmci installs nothing)");
    if (!await which("apt-get", policy.path))
      throw refuse(" (this host has no apt-get for kvmci to install them with)");
    const root = policy.isRoot ? [] : await sudoWithoutPassword(policy.signal) ? ["sudo", "-n"] : void 0;
    if (!root) throw refuse(" (kvmci installs them only as root or with passwordless sudo)");
    const what = `${packages.join(" ")} with apt-get (${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} needed ${purpose})`;
    if (policy.ask) {
      if (!await policy.ask(`kvmci: install ${what}? [y/N] `))
        throw refuse(" (you chose not to install them)");
    } else policy.log(`installing ${what}; --no-install turns this off`);
    const started = Date.now();
    const options = {
      env: { DEBIAN_FRONTEND: "noninteractive" },
      signal: policy.signal,
      failureCode: "hostRequirement",
      hint: `Install them yourself: ${command}`
    };
    await runCommand([...root, "apt-get", "update", "-q"], options);
    await runCommand(
      [...root, "apt-get", "install", "-y", "-q", "--no-install-recommends", ...packages],
      options
    );
    const after = await missingTools(
      tools,
      `${policy.path ?? process.env.PATH ?? ""}:${systemPath}`
    );
    if (after.missing.length === 0 && (await missingTools(tools, policy.path)).missing.length > 0)
      policy.extendPath?.(systemPath);
    if (after.missing.length > 0)
      throw new KvmciError(
        "hostRequirement",
        `apt-get installed ${packages.join(" ")}, but ${after.missing.join(" and ")} still cannot be found`,
        { hint: `Check the packages' contents (dpkg -L ${after.packages.join(" ")}).` }
      );
    policy.log(`installed ${packages.join(" ")} in ${formatDuration(Date.now() - started)}`);
  };
}
async function sudoWithoutPassword(signal) {
  if (!await which("sudo")) return false;
  const result = await execa3("sudo", ["-n", "true"], {
    reject: false,
    stdin: "ignore",
    timeout: 1e4,
    cancelSignal: signal
  });
  return result.exitCode === 0;
}
var packageOf, systemPath;
var init_packages = __esm({
  "src/host/packages.ts"() {
    "use strict";
    init_errors();
    init_duration();
    init_command();
    init_which();
    packageOf = {
      "qemu-system-x86_64": "qemu-system-x86",
      "qemu-system-aarch64": "qemu-system-arm",
      "qemu-img": "qemu-utils",
      "qemu-aarch64-static": "qemu-user-static",
      "qemu-x86_64-static": "qemu-user-static",
      "arch-test": "arch-test",
      "/usr/share/AAVMF/AAVMF_CODE.fd": "qemu-efi-aarch64",
      "update-binfmts": "binfmt-support",
      mmdebstrap: "mmdebstrap",
      newuidmap: "uidmap",
      newgidmap: "uidmap",
      tar: "tar",
      mksquashfs: "squashfs-tools",
      unsquashfs: "squashfs-tools",
      git: "git",
      isoinfo: "genisoimage",
      sfdisk: "fdisk",
      sudo: "sudo",
      ssh: "openssh-client"
    };
    systemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  }
});

// src/cli/install-policy.ts
import { createInterface } from "node:readline/promises";
function cliToolInstaller(proc, o) {
  const terminal = Boolean(proc.stdin?.isTTY && proc.stderr.isTTY);
  return toolInstaller({
    mode: o.install && !/^(1|true|yes)$/i.test(proc.env.KVMCI_NO_INSTALL ?? "") ? "auto" : "never",
    isRoot: proc.getuid?.() === 0,
    signal: o.signal,
    log: o.log,
    path: proc.env.PATH,
    extendPath: (dirs) => {
      proc.env.PATH = proc.env.PATH ? `${proc.env.PATH}:${dirs}` : dirs;
    },
    ask: terminal ? async (question) => {
      const rl = createInterface({ input: proc.stdin, output: proc.stderr });
      try {
        return /^y(es)?$/i.test((await rl.question(question)).trim());
      } finally {
        rl.close();
      }
    } : void 0
  });
}
var init_install_policy = __esm({
  "src/cli/install-policy.ts"() {
    "use strict";
    init_packages();
  }
});

// src/cli/terminal.ts
function terminalOf(proc) {
  const input = proc.stdin;
  const output = proc.stdout;
  if (!input?.isTTY || !output.isTTY) return void 0;
  let queue = Promise.resolve();
  return {
    input,
    output,
    term: proc.env.TERM || "xterm-256color",
    size: () => ({ columns: output.columns ?? 80, rows: output.rows ?? 24 }),
    onResize: (listener) => {
      output.on("resize", listener);
      return () => output.off("resize", listener);
    },
    exclusive: (use) => {
      const turn = queue.then(use, use);
      queue = turn.catch(() => void 0);
      return turn;
    }
  };
}
var init_terminal2 = __esm({
  "src/cli/terminal.ts"() {
    "use strict";
  }
});

// src/sync/receive-tree.ts
import { constants as constants5, createWriteStream } from "node:fs";
import {
  chmod,
  copyFile,
  lstat as lstat2,
  mkdir as mkdir3,
  open as open3,
  readlink,
  realpath as realpath2,
  rm as rm2,
  symlink,
  utimes as utimes2
} from "node:fs/promises";
import { isAbsolute as isAbsolute2, join as join9, posix, relative, sep } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Parser } from "tar";
function receiveTree(dir, o) {
  const received = {
    files: [],
    links: [],
    bytes: 0,
    refused: [],
    stopped: void 0,
    hostError: void 0
  };
  const written = /* @__PURE__ */ new Set();
  const pendingLinks = [];
  let entries = 0;
  let current;
  let work = Promise.resolve();
  let firstChunk = true;
  const folderMode = 511 & ~o.umask;
  const parser2 = new Parser({
    strict: false,
    // Compressed streams are not accepted (see the sink); these keep the parser from guessing.
    zstd: false,
    brotli: false,
    maxMetaEntrySize,
    onwarn: (code, message) => {
      if (received.stopped) return;
      if (code === "TAR_BAD_ARCHIVE" || code === "TAR_ABORT" || code === "TAR_ENTRY_INVALID")
        stop(`the archive from the guest is malformed (${message})`);
    }
  });
  parser2.on("entry", (entry) => {
    if (received.stopped) {
      entry.resume();
      return;
    }
    work = work.then(() => take(entry)).catch((error) => {
      received.hostError ??= error instanceof Error ? error : new Error(String(error));
      stop(`writing on the host failed: ${received.hostError.message}`);
    });
  });
  const parsed = new Promise((resolve4) => {
    parser2.on("end", resolve4);
    parser2.on("close", resolve4);
    parser2.on("error", (error) => {
      stop(`the archive from the guest is malformed (${error.message})`);
      resolve4();
    });
  });
  let stopped;
  const stopSignal = new Promise((resolve4) => stopped = resolve4);
  function stop(reason) {
    if (received.stopped) return;
    received.stopped = reason;
    current?.abort();
    parser2.abort(new Error(reason));
    stopped();
  }
  async function take(entry) {
    if (received.stopped) {
      entry.resume();
      return;
    }
    const name = normalizeName(entry.path);
    if ("why" in name) {
      received.refused.push({ path: entry.path, why: name.why });
      entry.resume();
      return;
    }
    const path = name.path;
    if (path === "") {
      entry.resume();
      return;
    }
    const kind = kindOf(entry.type);
    if (kind === void 0) {
      received.refused.push({ path, why: describeType(entry.type) });
      entry.resume();
      return;
    }
    if (++entries > o.limits.maxEntries) {
      entry.resume();
      stop(`more than ${o.limits.maxEntries} files`);
      return;
    }
    if (kind === "link") {
      pendingLinks.push({ path, target: entry.linkpath ?? "" });
      entry.resume();
      return;
    }
    if (kind === "hardlink") {
      entry.resume();
      await copyHardLink(path, entry.linkpath ?? "");
      return;
    }
    const parent = await makeParents(dir, path, folderMode);
    if (parent !== void 0) {
      received.refused.push({ path, why: parent });
      entry.resume();
      return;
    }
    const target = join9(dir, path);
    if (kind === "directory") {
      entry.resume();
      await makeDirectory(target, folderMode).catch((error) => {
        received.refused.push({ path, why: whyNot(error) });
      });
      return;
    }
    if (received.bytes + entry.size > o.limits.maxBytes) {
      entry.resume();
      stop(`more than ${formatSize(o.limits.maxBytes)} in all`);
      return;
    }
    received.bytes += entry.size;
    await writeFile18(entry, path, target);
  }
  async function copyHardLink(path, linkpath) {
    const source = normalizeName(linkpath);
    if ("why" in source || !written.has(source.path)) {
      received.refused.push({
        path,
        why: `a hard link to ${linkpath}, which is not a file of these artifacts`
      });
      return;
    }
    const parent = await makeParents(dir, path, folderMode);
    if (parent !== void 0) {
      received.refused.push({ path, why: parent });
      return;
    }
    const { size: size2, mode } = await lstat2(join9(dir, source.path));
    if (received.bytes + size2 > o.limits.maxBytes) {
      stop(`more than ${formatSize(o.limits.maxBytes)} in all`);
      return;
    }
    try {
      await copyFile(join9(dir, source.path), join9(dir, path), constants5.COPYFILE_EXCL);
      await chmod(join9(dir, path), mode & 511);
    } catch (error) {
      received.refused.push({ path, why: whyNot(error) });
      return;
    }
    received.bytes += size2;
    written.add(path);
    received.files.push(path);
  }
  async function writeFile18(entry, path, target) {
    const executable = ((entry.mode ?? 0) & 73) !== 0;
    let handle;
    try {
      handle = await open3(
        target,
        constants5.O_WRONLY | constants5.O_CREAT | constants5.O_TRUNC | constants5.O_NOFOLLOW,
        executable ? 511 : 438
      );
      await handle.chmod((executable ? 511 : 438) & ~o.umask);
    } catch (error) {
      await handle?.close();
      received.refused.push({ path, why: whyNot(error) });
      entry.resume();
      return;
    }
    const file = createWriteStream("", { fd: handle, flush: false });
    const aborted = new AbortController();
    current = { path, abort: () => aborted.abort() };
    try {
      await pipeline(entry, file, { signal: aborted.signal });
    } catch (error) {
      current = void 0;
      await rm2(target, { force: true });
      if (aborted.signal.aborted) return;
      throw error;
    }
    current = void 0;
    if (entry.mtime && Number.isFinite(entry.mtime.getTime()))
      await utimes2(target, entry.mtime, entry.mtime).catch(() => void 0);
    if (!written.has(path)) {
      written.add(path);
      received.files.push(path);
    }
  }
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      if (received.stopped) return callback();
      if (firstChunk) {
        firstChunk = false;
        if (chunk[0] === 31 && chunk[1] === 139) {
          stop("the archive from the guest is compressed; kvmci expects a plain tar stream");
          return callback();
        }
      }
      if (parser2.write(chunk)) callback();
      else parser2.once("drain", () => callback());
    },
    final(callback) {
      parser2.end();
      callback();
    }
  });
  const done = (async () => {
    await Promise.race([parsed, stopSignal]);
    for (let before; before !== work; ) {
      before = work;
      await work;
    }
    await makeLinks(dir, pendingLinks, received, folderMode);
    return received;
  })();
  return { sink, done, stop };
}
function kindOf(type) {
  switch (type) {
    case "File":
    case "OldFile":
    case "ContiguousFile":
      return "file";
    case "Directory":
      return "directory";
    case "SymbolicLink":
      return "link";
    case "Link":
      return "hardlink";
    default:
      return void 0;
  }
}
function describeType(type) {
  switch (type) {
    case "CharacterDevice":
    case "BlockDevice":
      return "a device node (never made)";
    case "FIFO":
      return "a FIFO (never made)";
    default:
      return `an entry of type ${type} (only files, folders and links are made)`;
  }
}
function normalizeName(name) {
  if (name.includes("\0")) return { why: "its name holds a NUL byte" };
  if (name.startsWith("/")) return { why: "its name is absolute" };
  const parts = name.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) return { why: "its name leaves the tree (..)" };
  const path = parts.join("/");
  if (Buffer.byteLength(path) > maxPathBytes) return { why: "its name is too long" };
  if (parts.some((part) => Buffer.byteLength(part) > maxNameBytes))
    return { why: "a part of its name is too long" };
  return { path };
}
async function makeParents(root, path, mode) {
  const parts = path.split("/").slice(0, -1);
  let at = root;
  for (const part of parts) {
    at = join9(at, part);
    try {
      const stat11 = await lstat2(at);
      if (!stat11.isDirectory()) return `${relative(root, at)} is not a folder`;
    } catch {
      await makeDirectory(at, mode);
    }
  }
  return void 0;
}
async function makeDirectory(path, mode) {
  try {
    await mkdir3(path, { mode });
  } catch (error) {
    if (error.code !== "EEXIST") throw error;
    if (!(await lstat2(path)).isDirectory()) throw error;
    return;
  }
  await chmod(path, mode);
}
async function makeLinks(root, links, received, folderMode) {
  const made = [];
  for (const { path, target } of links) {
    if (target === "" || isAbsolute2(target)) {
      received.refused.push({
        path,
        why: `a link to ${target || "nothing"} (absolute links are not kept)`
      });
      continue;
    }
    const lexical = posix.normalize(posix.join(posix.dirname(path), target));
    if (lexical === ".." || lexical.startsWith("../")) {
      received.refused.push({ path, why: `a link to ${target}, outside the tree` });
      continue;
    }
    if (await makeParents(root, path, folderMode) !== void 0 || await linkParentIsLink(root, path)) {
      received.refused.push({ path, why: `a link inside another link or a file` });
      continue;
    }
    try {
      await symlink(target, join9(root, path));
      made.push(path);
    } catch (error) {
      received.refused.push({ path, why: whyNot(error) });
    }
  }
  const realRoot = await realpath2(root);
  for (let changed = true; changed; ) {
    changed = false;
    for (const path of [...made]) {
      const resolved = await realpath2(join9(root, path)).catch(() => void 0);
      if (resolved !== void 0 && (resolved === realRoot || resolved.startsWith(realRoot + sep)))
        continue;
      const target = await readlink(join9(root, path)).catch(() => "?");
      await rm2(join9(root, path), { force: true });
      made.splice(made.indexOf(path), 1);
      received.refused.push({
        path,
        why: resolved === void 0 ? `a link to ${target}, which is not in the tree` : `a link to ${target}, which leads outside the tree`
      });
      changed = true;
    }
  }
  received.links.push(...made);
}
async function linkParentIsLink(root, path) {
  let at = root;
  for (const part of path.split("/").slice(0, -1)) {
    at = join9(at, part);
    if ((await lstat2(at)).isSymbolicLink()) return true;
  }
  return false;
}
function whyNot(error) {
  switch (error.code) {
    case "EEXIST":
    case "EISDIR":
      return "another entry of the same name is a folder";
    case "ENOTDIR":
      return "a file of the same name is in the way";
    case "ENAMETOOLONG":
      return "its name is too long";
    case "ELOOP":
      return "a link is in the way";
    default:
      throw error;
  }
}
var maxPathBytes, maxNameBytes, maxMetaEntrySize;
var init_receive_tree = __esm({
  "src/sync/receive-tree.ts"() {
    "use strict";
    init_size();
    maxPathBytes = 4096;
    maxNameBytes = 255;
    maxMetaEntrySize = 64 * 1024;
  }
});

// src/sync/tar-args.ts
function buildPackArgs(o) {
  const args = ["tar", "-c", "-f", "-", "-C", o.dir];
  for (const pattern of o.excludes) args.push(`--exclude=${pattern}`);
  if (o.fromList) args.push("--null", "--no-recursion", "-T", "-");
  else args.push(".");
  return args;
}
function buildWorkdirCommand(workdir) {
  const w = shellQuote(workdir);
  return `{ [ -d ${w} ] && [ -w ${w} ]; } || sudo install -d -o "$(id -u)" -g "$(id -g)" ${w} </dev/null`;
}
function buildUnpackCommand(workdir) {
  const w = shellQuote(workdir);
  return `${buildWorkdirCommand(workdir)} && tar -x -f - -C ${w} --no-same-owner --warning=no-timestamp`;
}
function buildArtifactPackCommand(workdir, globs) {
  const patterns = globs.map(quoteGlob).join(" ");
  const script = [
    `cd ${shellQuote(workdir)} 2>/dev/null || exit 0`,
    "shopt -s globstar nullglob dotglob",
    "set -o pipefail",
    `files=(${patterns})`,
    `[ \${#files[@]} -eq 0 ] && exit 0`,
    // ./ in front: a name starting with - is not taken for an option by find.
    `find "\${files[@]/#/./}" -print0 | LC_ALL=C sort -zu | tar -c -f - --null --no-recursion -T -`
  ].join("\n");
  return `bash -c ${shellQuote(script)}`;
}
function quoteGlob(glob) {
  return glob.split(/([*?]|\[[^\]]*\])/).filter((part) => part !== "").map((part) => /^([*?]|\[[^\]]*\])$/.test(part) ? part : shellQuote(part)).join("");
}
var init_tar_args = __esm({
  "src/sync/tar-args.ts"() {
    "use strict";
    init_shell_quote();
  }
});

// src/sync/artifacts.ts
import { chmod as chmod2, lstat as lstat3, mkdir as mkdir4, mkdtemp, readdir as readdir4, rename as rename3, rm as rm3, writeFile as writeFile4 } from "node:fs/promises";
import { basename as basename2, dirname as dirname3, join as join10 } from "node:path";
async function collectArtifacts(guest, o, signal) {
  const parent = dirname3(o.dir);
  await mkdir4(parent, { recursive: true });
  const staging = await mkdtemp(join10(parent, `.${basename2(o.dir)}.receiving-`));
  try {
    const receiver = receiveTree(staging, { limits: o.limits, umask: o.umask });
    const ranOut = AbortSignal.timeout(Math.max(0, o.deadline - Date.now()));
    const stopped = new AbortController();
    void receiver.done.then(() => stopped.abort());
    const stderr = [];
    let result;
    try {
      result = await guest.exec(buildArtifactPackCommand(o.workdir, o.globs), {
        stdout: receiver.sink,
        onStderr: (chunk) => stderr.push(chunk),
        signal: AbortSignal.any([signal, ranOut, stopped.signal])
      });
    } finally {
      signal.throwIfAborted();
      if (ranOut.aborted) receiver.stop("the time for artifacts ran out");
      if (!receiver.sink.writableEnded) receiver.sink.end();
    }
    const tree = await receiver.done;
    if (tree.hostError) throw hostWriteError(o.dir, tree.hostError);
    await rm3(join10(staging, artifactsMarker), { recursive: true, force: true });
    await writeFile4(join10(staging, artifactsMarker), "Made by kvmci: replaced on every run.\n", {
      flag: "wx"
    });
    await chmod2(staging, 511 & ~o.umask);
    await putInPlace(staging, o.dir);
    return {
      files: tree.files,
      links: tree.links,
      bytes: tree.bytes,
      refused: tree.refused,
      incomplete: tree.stopped,
      packProblem: !tree.stopped && result && result.code !== 0 ? [`exit code ${result.code}`, ...tailLines(Buffer.concat(stderr).toString(), 5)].join(
        "; "
      ) : void 0
    };
  } finally {
    await rm3(staging, { recursive: true, force: true });
  }
}
async function putInPlace(fresh, dir) {
  const old = `${fresh}.old`;
  let moved = false;
  try {
    await rename3(dir, old);
    moved = true;
  } catch (error) {
    if (error.code !== "ENOENT") throw hostWriteError(dir, error);
  }
  try {
    await rename3(fresh, dir);
  } catch (error) {
    if (moved) await rename3(old, dir).catch(() => void 0);
    throw hostWriteError(dir, error);
  }
  if (moved) await rm3(old, { recursive: true, force: true });
}
function hostWriteError(dir, cause) {
  return new KvmciError(
    "hostWrite",
    `Writing the artifacts into ${dir} failed: ${errorMessage(cause)}`,
    {
      hint: "Make room on that file system, or give another --artifacts-dir.",
      cause
    }
  );
}
async function checkArtifactsDir(dir) {
  let stat11;
  try {
    stat11 = await lstat3(dir);
  } catch {
    return void 0;
  }
  if (stat11.isSymbolicLink())
    return `${dir} is a symbolic link; kvmci replaces the artifacts folder on every run, so it must be a real folder (or absent)`;
  if (!stat11.isDirectory()) return `${dir} is not a folder`;
  if (await madeByKvmci(dir)) return void 0;
  return `${dir} holds files kvmci did not put there, and kvmci replaces the artifacts folder on every run: remove it or choose another --artifacts-dir`;
}
async function madeByKvmci(dir) {
  const entries = await readdir4(dir, { withFileTypes: true });
  if (entries.some((e) => e.name === artifactsMarker && e.isFile())) return true;
  for (const entry of entries) {
    if (!entry.isDirectory() || !await madeByKvmci(join10(dir, entry.name))) return false;
  }
  return true;
}
var artifactsMarker;
var init_artifacts = __esm({
  "src/sync/artifacts.ts"() {
    "use strict";
    init_errors();
    init_error_message();
    init_text();
    init_receive_tree();
    init_tar_args();
    artifactsMarker = ".kvmci-artifacts";
  }
});

// src/cloud-init/user-data.ts
import yaml4 from "js-yaml";
function buildCloudConfig(spec) {
  return {
    users: [
      {
        name: spec.user,
        shell: "/bin/bash",
        sudo: "ALL=(ALL) NOPASSWD:ALL",
        lock_passwd: true,
        ssh_authorized_keys: [spec.authorizedKey]
      }
    ],
    disable_root: true,
    ssh_pwauth: false,
    ssh_deletekeys: true,
    // Only the type whose key is given: cloud-init generates a type only when its key file is
    // missing, so nothing is generated (an empty list does the same, but fails cloud-init's
    // schema and puts "Invalid cloud-config provided" on every console).
    ssh_genkeytypes: ["ed25519"],
    ssh_keys: {
      ed25519_private: spec.hostKey.privateKey,
      ed25519_public: spec.hostKey.publicKey
    },
    // Before sshd starts: no message of the day for SSH sessions. pam_motd runs every script in
    // /etc/update-motd.d at each session kvmci opens (a quarter of a second of an emulated
    // Debian guest's time on every command, more on Ubuntu's), for a text nobody reads.
    bootcmd: [
      [
        "sed",
        "-i",
        "-E",
        String.raw`s/^session\s+optional\s+pam_motd\.so/# kvmci: &/`,
        "/etc/pam.d/sshd"
      ]
    ]
  };
}
function mergeCloudConfig(ours, extra) {
  if (!extra) return ours;
  const merged = { ...extra };
  for (const [key, value] of Object.entries(ours)) {
    const theirs = extra[key];
    if (ownedKeys.has(key) || theirs === void 0) merged[key] = value;
    else if (Array.isArray(value) && Array.isArray(theirs))
      merged[key] = [...value, ...theirs];
    else if (isMap(value) && isMap(theirs)) merged[key] = mergeCloudConfig(value, theirs);
    else merged[key] = value;
  }
  return merged;
}
function isMap(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
function renderUserData(spec) {
  const config = mergeCloudConfig(buildCloudConfig(spec), spec.extra);
  return `#cloud-config
${yaml4.dump(config, { lineWidth: -1, noRefs: true })}`;
}
function renderMetaData(spec) {
  return yaml4.dump({ "instance-id": spec.instanceId, "local-hostname": spec.hostname });
}
function renderNetworkConfig() {
  return yaml4.dump({
    version: 2,
    ethernets: {
      predictable: { match: { name: "en*" }, dhcp4: true, dhcp6: false },
      legacy: { match: { name: "eth*" }, dhcp4: true, dhcp6: false }
    }
  });
}
var ownedKeys;
var init_user_data = __esm({
  "src/cloud-init/user-data.ts"() {
    "use strict";
    ownedKeys = /* @__PURE__ */ new Set([
      "disable_root",
      "ssh_pwauth",
      "ssh_deletekeys",
      "ssh_genkeytypes",
      "ssh_keys"
    ]);
  }
});

// src/disk/overlay.ts
function buildOverlayArgs(o) {
  const args = [
    "qemu-img",
    "create",
    "-q",
    "-f",
    "qcow2",
    "-F",
    o.backingFormat,
    "-b",
    o.backingFile,
    o.overlayPath
  ];
  if (o.sizeBytes !== void 0) args.push(String(o.sizeBytes));
  return args;
}
async function createOverlay(o, signal) {
  await runCommand(buildOverlayArgs(o), {
    signal,
    failureCode: "image",
    hint: "The image may be missing or damaged: `kvmci image ls` shows the cache; `kvmci image rm NAME` and a new run fetch or build it again."
  });
}
function buildRebaseArgs(o) {
  return [
    "qemu-img",
    "rebase",
    "-u",
    "-f",
    "qcow2",
    "-F",
    o.backingFormat,
    "-b",
    o.backingFile,
    o.path
  ];
}
async function rebaseOverlay(o, signal) {
  await runCommand(buildRebaseArgs(o), { signal, failureCode: "image" });
}
var init_overlay = __esm({
  "src/disk/overlay.ts"() {
    "use strict";
    init_command();
  }
});

// src/cloud-init/iso9660.ts
function buildIso9660(options) {
  const names = /* @__PURE__ */ new Set();
  for (const file of options.files) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(file.name) || names.has(file.name)) {
      throw new Error(`Invalid or duplicate ISO file name ${JSON.stringify(file.name)}`);
    }
    names.add(file.name);
  }
  const pathTables = { primaryL: 19, primaryM: 20, jolietL: 21, jolietM: 22 };
  const primaryRoot = 23;
  const jolietRoot = 24;
  let next = 25;
  const placed = [...options.files].sort((a, b) => a.name < b.name ? -1 : 1).map((file) => {
    const extent = next;
    next += Math.max(1, Math.ceil(file.data.length / sector));
    return { file, extent };
  });
  const totalSectors = next;
  const image = Buffer.alloc(totalSectors * sector);
  const primaryNames = shortNames(placed.map((p) => p.file.name));
  const primaryDir = directory(
    primaryRoot,
    placed,
    (p, i) => Buffer.from(`${primaryNames[i]};1`, "ascii"),
    options.date
  );
  const jolietDir = directory(jolietRoot, placed, (p) => ucs2(p.file.name), options.date);
  primaryDir.copy(image, primaryRoot * sector);
  jolietDir.copy(image, jolietRoot * sector);
  const common = { totalSectors, date: options.date, volumeId: options.volumeId };
  volumeDescriptor({
    ...common,
    type: 1,
    rootExtent: primaryRoot,
    rootSize: primaryDir.length,
    tables: [pathTables.primaryL, pathTables.primaryM]
  }).copy(image, 16 * sector);
  volumeDescriptor({
    ...common,
    type: 2,
    rootExtent: jolietRoot,
    rootSize: jolietDir.length,
    tables: [pathTables.jolietL, pathTables.jolietM]
  }).copy(image, 17 * sector);
  const terminator = image.subarray(18 * sector);
  terminator[0] = 255;
  terminator.write("CD001", 1, "ascii");
  terminator[6] = 1;
  pathTable(primaryRoot, "le").copy(image, pathTables.primaryL * sector);
  pathTable(primaryRoot, "be").copy(image, pathTables.primaryM * sector);
  pathTable(jolietRoot, "le").copy(image, pathTables.jolietL * sector);
  pathTable(jolietRoot, "be").copy(image, pathTables.jolietM * sector);
  for (const { file, extent } of placed) file.data.copy(image, extent * sector);
  return image;
}
function shortNames(names) {
  const used = /* @__PURE__ */ new Set();
  return names.map((name) => {
    const dot = name.lastIndexOf(".");
    const clean = (s) => s.toUpperCase().replace(/[^A-Z0-9_]/g, "_");
    const base = clean(dot > 0 ? name.slice(0, dot) : name).slice(0, 8);
    const ext = dot > 0 ? clean(name.slice(dot + 1)).slice(0, 3) : "";
    let candidate = `${base}.${ext}`;
    for (let n = 1; used.has(candidate); n++)
      candidate = `${base.slice(0, 8 - String(n).length)}${n}.${ext}`;
    used.add(candidate);
    return candidate;
  });
}
function ucs2(text) {
  const out = Buffer.alloc(text.length * 2);
  for (let i = 0; i < text.length; i++) out.writeUInt16BE(text.charCodeAt(i), i * 2);
  return out;
}
function bothEndian32(buf, offset, value) {
  buf.writeUInt32LE(value, offset);
  buf.writeUInt32BE(value, offset + 4);
}
function bothEndian16(buf, offset, value) {
  buf.writeUInt16LE(value, offset);
  buf.writeUInt16BE(value, offset + 2);
}
function directoryRecord(id, extent, size2, isDir, date) {
  const length = 33 + id.length + (id.length % 2 === 0 ? 1 : 0);
  const rec = Buffer.alloc(length);
  rec[0] = length;
  bothEndian32(rec, 2, extent);
  bothEndian32(rec, 10, size2);
  rec[18] = date.getUTCFullYear() - 1900;
  rec[19] = date.getUTCMonth() + 1;
  rec[20] = date.getUTCDate();
  rec[21] = date.getUTCHours();
  rec[22] = date.getUTCMinutes();
  rec[23] = date.getUTCSeconds();
  rec[24] = 0;
  rec[25] = isDir ? 2 : 0;
  bothEndian16(rec, 28, 1);
  rec[32] = id.length;
  id.copy(rec, 33);
  return rec;
}
function directory(self, placed, idOf, date) {
  const records = [
    directoryRecord(Buffer.from([0]), self, sector, true, date),
    directoryRecord(Buffer.from([1]), self, sector, true, date),
    ...placed.map((p, i) => directoryRecord(idOf(p, i), p.extent, p.file.data.length, false, date))
  ];
  const body = Buffer.concat(records);
  if (body.length > sector) throw new Error("Too many files for a one-sector ISO directory");
  const out = Buffer.alloc(sector);
  body.copy(out);
  return out;
}
function pathTable(rootExtent, endian) {
  const entry = Buffer.alloc(10);
  entry[0] = 1;
  if (endian === "le") {
    entry.writeUInt32LE(rootExtent, 2);
    entry.writeUInt16LE(1, 6);
  } else {
    entry.writeUInt32BE(rootExtent, 2);
    entry.writeUInt16BE(1, 6);
  }
  return entry;
}
function longDate(date) {
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return pad(date.getUTCFullYear(), 4) + pad(date.getUTCMonth() + 1) + pad(date.getUTCDate()) + pad(date.getUTCHours()) + pad(date.getUTCMinutes()) + pad(date.getUTCSeconds()) + "00";
}
function volumeDescriptor(d) {
  const joliet = d.type === 2;
  const vd = Buffer.alloc(sector);
  vd[0] = d.type;
  vd.write("CD001", 1, "ascii");
  vd[6] = 1;
  const text = (offset, length, value) => {
    if (joliet) {
      const encoded = ucs2(value.padEnd(length / 2, " ").slice(0, length / 2));
      encoded.copy(vd, offset);
    } else {
      vd.write(value.padEnd(length, " ").slice(0, length), offset, "ascii");
    }
  };
  text(8, 32, "LINUX");
  text(40, 32, d.volumeId);
  bothEndian32(vd, 80, d.totalSectors);
  if (joliet) vd.write("%/E", 88, "ascii");
  bothEndian16(vd, 120, 1);
  bothEndian16(vd, 124, 1);
  bothEndian16(vd, 128, sector);
  bothEndian32(vd, 132, 10);
  vd.writeUInt32LE(d.tables[0], 140);
  vd.writeUInt32BE(d.tables[1], 148);
  directoryRecord(Buffer.from([0]), d.rootExtent, d.rootSize, true, d.date).copy(vd, 156);
  text(190, 128, "");
  text(318, 128, "");
  text(446, 128, "");
  text(574, 128, "KVMCI");
  vd.fill(32, 702, 813);
  const stamp = longDate(d.date);
  vd.write(stamp, 813, "ascii");
  vd.write(stamp, 830, "ascii");
  vd.write("0".repeat(16), 847, "ascii");
  vd.write(stamp, 864, "ascii");
  vd[881] = 1;
  return vd;
}
var sector;
var init_iso9660 = __esm({
  "src/cloud-init/iso9660.ts"() {
    "use strict";
    sector = 2048;
  }
});

// src/cloud-init/seed.ts
import { writeFile as writeFile5 } from "node:fs/promises";
function buildSeedImage(spec, date) {
  return buildIso9660({
    volumeId: seedLabel,
    date,
    files: [
      { name: "user-data", data: Buffer.from(renderUserData(spec)) },
      { name: "meta-data", data: Buffer.from(renderMetaData(spec)) },
      { name: "network-config", data: Buffer.from(renderNetworkConfig()) }
    ]
  });
}
async function writeSeed(path, spec, date) {
  await writeFile5(path, buildSeedImage(spec, date), { mode: 384 });
}
var seedLabel;
var init_seed = __esm({
  "src/cloud-init/seed.ts"() {
    "use strict";
    init_iso9660();
    init_user_data();
    seedLabel = "cidata";
  }
});

// src/host/port.ts
import { createServer } from "node:net";
function findFreePort() {
  return new Promise((resolve4, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(
        () => typeof address === "object" && address ? resolve4(address.port) : reject(new Error("no port"))
      );
    });
  });
}
var init_port = __esm({
  "src/host/port.ts"() {
    "use strict";
  }
});

// src/host/process-identity.ts
import { readFile as readFile8, readlink as readlink2 } from "node:fs/promises";
import { hostname } from "node:os";
async function identifyProcess(pid = process.pid) {
  const [startTicks, bootId, pidNamespace] = await Promise.all([
    readStartTicks(pid),
    readFile8("/proc/sys/kernel/random/boot_id", "utf8").then((s) => s.trim()),
    readlink2("/proc/self/ns/pid").catch(() => "unknown")
  ]);
  return { pid, startTicks: startTicks ?? 0, bootId, pidNamespace, host: hostname() };
}
async function isProcessRunning(owner, self) {
  if (owner.bootId !== self.bootId || owner.pidNamespace !== self.pidNamespace || owner.host !== self.host)
    return void 0;
  const stat11 = await readStat(owner.pid);
  return stat11 !== void 0 && stat11.startTicks === owner.startTicks && !/^[ZX]$/.test(stat11.state);
}
function parseStartTicks(stat11) {
  const afterName = stat11.slice(stat11.lastIndexOf(")") + 2).split(" ");
  const value = Number(afterName[22 - 3]);
  return Number.isFinite(value) ? value : void 0;
}
async function readStartTicks(pid) {
  return (await readStat(pid))?.startTicks;
}
async function readStat(pid) {
  try {
    const stat11 = await readFile8(`/proc/${pid}/stat`, "utf8");
    const startTicks = parseStartTicks(stat11);
    const state = stat11.slice(stat11.lastIndexOf(")") + 2).split(" ")[0] ?? "";
    return startTicks === void 0 ? void 0 : { state, startTicks };
  } catch {
    return void 0;
  }
}
var init_process_identity = __esm({
  "src/host/process-identity.ts"() {
    "use strict";
  }
});

// src/sync/host-tar.ts
import { PassThrough } from "node:stream";
import { execa as execa4 } from "execa";
import { Parser as Parser2 } from "tar";
function startHostTar(argv, o) {
  const [file, ...args] = argv;
  const tar = execa4(file ?? "tar", args, {
    input: o.input,
    stdin: o.input === void 0 ? "ignore" : "pipe",
    stdout: "pipe",
    stderr: "pipe",
    reject: false,
    buffer: { stdout: false },
    cancelSignal: o.signal
  });
  const archive = new PassThrough();
  let bytes = 0;
  tar.stdout?.pipe(archive);
  const counter = countFiles();
  tar.stdout?.on("data", (chunk) => {
    bytes += chunk.length;
    counter.write(chunk);
  });
  tar.stdout?.on("end", () => counter.end());
  tar.stdout?.on("error", () => counter.end());
  return {
    archive,
    bytes: () => bytes,
    files: counter.files,
    done: tar.then((r) => ({ exitCode: r.exitCode, stderr: String(r.stderr ?? "") }))
  };
}
function countFiles() {
  let count2 = 0;
  const parser2 = new Parser2({ strict: false });
  parser2.on("entry", (entry) => {
    if (entry.type !== "Directory") count2++;
    entry.resume();
  });
  const files = new Promise((resolve4) => {
    parser2.on("end", () => resolve4(count2));
    parser2.on("close", () => resolve4(count2));
    parser2.on("error", () => resolve4(count2));
  });
  let ended = false;
  return {
    write: (chunk) => void parser2.write(chunk),
    end: () => {
      if (!ended) parser2.end();
      ended = true;
    },
    files
  };
}
var init_host_tar = __esm({
  "src/sync/host-tar.ts"() {
    "use strict";
  }
});

// src/sync/workspace.ts
import { lstat as lstat4 } from "node:fs/promises";
import { dirname as dirname4, join as join11, resolve as resolve3 } from "node:path";
import { execa as execa5 } from "execa";
async function listWorkspace(dir) {
  const inside = await execa5("git", ["rev-parse", "--is-inside-work-tree"], {
    cwd: dir,
    reject: false,
    stdin: "ignore"
  });
  if (inside.exitCode !== 0 || inside.stdout.trim() !== "true")
    return { mode: "folder", files: [] };
  const listed = await execa5(
    "git",
    ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    { cwd: dir, stdin: "ignore" }
  );
  const unique = [...new Set(listed.stdout.split("\0").filter(Boolean))];
  const present2 = [];
  for (const file of unique) {
    try {
      await lstat4(join11(dir, file));
      present2.push(file);
    } catch {
    }
  }
  return { mode: "git", files: present2 };
}
async function inGitWorkTree(dir) {
  for (let at = resolve3(dir); ; at = dirname4(at)) {
    if (await lstat4(join11(at, ".git")).then(
      () => true,
      () => false
    ))
      return true;
    if (dirname4(at) === at) return false;
  }
}
var init_workspace = __esm({
  "src/sync/workspace.ts"() {
    "use strict";
  }
});

// src/sync/transfer.ts
import { relative as relative2, isAbsolute as isAbsolute3 } from "node:path";
async function packWorkspace(o, signal) {
  const listing = await listWorkspace(o.cwd);
  const excludes = [...o.excludes];
  const artifactsRel = relative2(o.cwd, o.artifactsDir);
  if (artifactsRel && !artifactsRel.startsWith("..") && !isAbsolute3(artifactsRel))
    excludes.push(`./${artifactsRel}`, artifactsRel);
  const tar = startHostTar(
    buildPackArgs({ dir: o.cwd, fromList: listing.mode === "git", excludes }),
    { input: listing.mode === "git" ? listing.files.join("\0") : void 0, signal }
  );
  return { mode: listing.mode, tar };
}
function packingFailed(local) {
  return new KvmciError(
    "usage",
    `Packing the workspace failed: tar exited with code ${local.exitCode}`,
    {
      details: tailLines(local.stderr, 10),
      hint: "Check that every file in the workspace is readable, or leave unreadable ones out with --exclude."
    }
  );
}
async function syncWorkspace(guest, o, signal) {
  const { mode, tar } = await packWorkspace(o, signal);
  const stderr = [];
  const remote = await guest.exec(buildUnpackCommand(o.workdir), {
    stdin: tar.archive,
    onStderr: (chunk) => stderr.push(chunk),
    signal
  });
  const local = await tar.done;
  const bytes = tar.bytes();
  if (local.exitCode !== 0) throw packingFailed(local);
  if (remote.code !== 0) {
    throw new KvmciError(
      "guestLost",
      `Unpacking the workspace in the guest failed (exit code ${remote.code})`,
      {
        details: tailLines(Buffer.concat(stderr).toString(), 10),
        hint: "The guest's disk may be full: use --disk to give it more room."
      }
    );
  }
  return { mode, files: await tar.files, bytes };
}
var init_transfer2 = __esm({
  "src/sync/transfer.ts"() {
    "use strict";
    init_errors();
    init_host_tar();
    init_tar_args();
    init_workspace();
    init_text();
  }
});

// src/sync/workspace-disk.ts
import { open as open4, stat as stat4 } from "node:fs/promises";
import { execa as execa6 } from "execa";
async function makeEmptyWorkspaceDisk(path) {
  const file = await open4(path, "w", 384);
  try {
    await file.truncate(workspaceDiskBytes);
  } finally {
    await file.close();
  }
}
async function workspaceDiskUnavailable() {
  return await which("mksquashfs") ? void 0 : noMksquashfs;
}
async function buildWorkspaceDisk(path, source, owner, signal) {
  const mksquashfs = await which("mksquashfs");
  if (!mksquashfs) return { kind: "unavailable", why: noMksquashfs };
  const stop = new AbortController();
  const both = AbortSignal.any([signal, stop.signal]);
  const { mode, tar } = await packWorkspace(source, both);
  const squash = execa6(mksquashfs, buildMksquashfsArgs(path, owner), {
    stdin: "pipe",
    stdout: "ignore",
    stderr: "pipe",
    reject: false,
    cancelSignal: both,
    // mksquashfs clamps every file's time to SOURCE_DATE_EPOCH when it is set (a reproducible
    // build's environment): the workspace keeps its own times, as over SSH.
    env: { SOURCE_DATE_EPOCH: void 0 }
  });
  tar.archive.pipe(squash.stdin);
  squash.stdin.on("error", () => stop.abort());
  const made = await squash;
  if (made.exitCode !== 0) stop.abort();
  const packed = await tar.done;
  signal.throwIfAborted();
  if (packed.exitCode !== 0 && packed.exitCode !== void 0) throw packingFailed(packed);
  if (made.exitCode !== 0) {
    await makeEmptyWorkspaceDisk(path);
    const why = tailLines(String(made.stderr ?? ""), 3).join(" ") || made.shortMessage;
    return { kind: "unavailable", why: `mksquashfs failed: ${why}` };
  }
  const { size: size2 } = await stat4(path);
  if (size2 > workspaceDiskBytes) {
    await makeEmptyWorkspaceDisk(path);
    return { kind: "unavailable", why: "the workspace is bigger than the workspace disk" };
  }
  const file = await open4(path, "r+");
  try {
    await file.truncate(workspaceDiskBytes);
  } finally {
    await file.close();
  }
  return { kind: "built", sync: { mode, files: await tar.files, bytes: tar.bytes() } };
}
function buildMksquashfsArgs(path, owner) {
  return [
    "-",
    path,
    "-tar",
    "-noappend",
    "-force-uid",
    String(owner.uid),
    "-force-gid",
    String(owner.gid),
    "-noI",
    "-noD",
    "-noF",
    "-noX",
    "-no-xattrs",
    // Anything it would skip with a warning fails instead: the SSH path then sends it all.
    "-exit-on-error",
    "-quiet",
    "-no-progress"
  ];
}
var workspaceDiskBytes, workspaceDiskSerial, noMksquashfs;
var init_workspace_disk = __esm({
  "src/sync/workspace-disk.ts"() {
    "use strict";
    init_which();
    init_text();
    init_transfer2();
    workspaceDiskBytes = 64 * 1024 ** 3;
    workspaceDiskSerial = "kvmci-workspace";
    noMksquashfs = "mksquashfs is not installed (package squashfs-tools)";
  }
});

// src/qemu/args.ts
function parseQemuVersion(text) {
  const match = /version (\d+)\.(\d+)/.exec(text);
  return match ? [Number(match[1]), Number(match[2])] : void 0;
}
function cpuModel(arch2, accel, qemuVersion2 = "") {
  if (accel === "kvm") return "host";
  if (arch2 === "x86_64") return tcgCpuModel;
  const [major] = parseQemuVersion(qemuVersion2) ?? [Infinity];
  return major >= 6 ? tcgArmCpuModel : tcgArmCpuModelOldQemu;
}
function qemuBinary(arch2) {
  return arch2 === "x86_64" ? "qemu-system-x86_64" : "qemu-system-aarch64";
}
function machineType(arch2, accel) {
  if (arch2 === "x86_64") return "q35";
  return accel === "kvm" ? "virt,gic-version=host" : "virt";
}
function buildQemuArgs(spec) {
  const x86 = spec.arch === "x86_64";
  const args = [
    qemuBinary(spec.arch),
    "-name",
    spec.name,
    "-machine",
    spec.memoryFile ? `${machineType(spec.arch, spec.accel)},memory-backend=ram` : machineType(spec.arch, spec.accel),
    // Multi-threaded TCG uses every host core; a bigger translation cache avoids re-translating.
    "-accel",
    spec.accel === "kvm" ? "kvm" : "tcg,thread=multi,tb-size=256",
    "-cpu",
    spec.cpu,
    "-smp",
    String(spec.cpus),
    "-m",
    `${spec.memoryMiB}M`,
    ...spec.memoryFile ? [
      "-object",
      `memory-backend-file,id=ram,size=${spec.memoryMiB}M,mem-path=${spec.memoryFile.path},share=${spec.memoryFile.shared ? "on" : "off"}`
    ] : [],
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-chardev",
    `file,id=console,path=${spec.consolePath}`,
    "-serial",
    "chardev:console",
    // The disks in this order on the PCI bus, so the guest names them vda, vdb, vdc: the root
    // disk first, which is also the one the firmware boots (a BIOS boots only its first disk;
    // boot index 0 is the direct kernel boot's own when there is one).
    // The overlay is thrown away after the run, so host-side flushes buy nothing.
    "-drive",
    `file=${spec.overlayPath},if=none,id=root,format=qcow2,cache=unsafe,discard=unmap`,
    "-device",
    "virtio-blk-pci,drive=root,bootindex=1",
    "-drive",
    `file=${spec.seedPath},if=none,id=seed,format=raw,readonly=on`,
    "-device",
    "virtio-blk-pci,drive=seed",
    "-drive",
    `file=${spec.workspaceDiskPath},if=none,id=workspace,format=raw,readonly=on`,
    "-device",
    `virtio-blk-pci,drive=workspace,serial=${workspaceDiskSerial}`,
    "-netdev",
    `user,id=net0${spec.network === "none" ? ",restrict=on" : ""},hostfwd=tcp:127.0.0.1:${spec.sshPort}-:22`,
    "-device",
    "virtio-net-pci,netdev=net0",
    ...spec.lan ? [
      "-netdev",
      `stream,id=lan,server=off,addr.type=unix,addr.path=${spec.lan.socketPath}`,
      "-device",
      `virtio-net-pci,netdev=lan,mac=${spec.lan.mac}`
    ] : [],
    // Entropy early in boot: without it, services that need randomness wait.
    "-device",
    "virtio-rng-pci",
    // A kernel panic reaches QEMU through pvpanic and ends it at once, so a crashed guest is
    // reported as such within a moment instead of when SSH keepalives give up. The ISA device
    // on x86_64; the arm64 board has no ISA bus.
    "-device",
    x86 ? "pvpanic" : "pvpanic-pci",
    "-action",
    // exit-failure would say more, but needs QEMU 7.1; Ubuntu 22.04 has 6.2.
    "panic=shutdown",
    // A new generation id on every QEMU start: a guest restored from a snapshot reseeds its
    // random number generator instead of repeating the saved guest's sequence. QEMU has no
    // vmgenid for arm64: there the wake agent reseeds it (see guest/wake.ts).
    ...x86 ? ["-device", "vmgenid,guid=auto"] : [],
    // The wake channel: a restored guest learns its key, name and clock through it.
    "-device",
    "virtio-serial-pci,id=serial0",
    "-chardev",
    `socket,id=wake,path=${spec.wakePath},server=on,wait=off`,
    "-device",
    `virtserialport,bus=serial0.0,chardev=wake,name=${wakePortName}`,
    "-qmp",
    `unix:${spec.qmpPath},server=on,wait=off`,
    "-pidfile",
    spec.pidPath
  ];
  if (spec.incoming) args.push("-incoming", "defer");
  if (spec.boot.kind === "uefi") {
    args.push(
      "-drive",
      `if=pflash,format=raw,unit=0,readonly=on,file=${spec.boot.code}`,
      "-drive",
      `if=pflash,format=raw,unit=1,file=${spec.boot.vars}`
    );
  }
  if (spec.boot.kind === "kernel") {
    args.push(
      "-kernel",
      spec.boot.kernel,
      "-initrd",
      spec.boot.initrd,
      "-append",
      spec.boot.cmdline
    );
  }
  return args;
}
var wakePortName, tcgCpuModel, tcgArmCpuModel, tcgArmCpuModelOldQemu;
var init_args = __esm({
  "src/qemu/args.ts"() {
    "use strict";
    init_workspace_disk();
    wakePortName = "org.kvmci.wake";
    tcgCpuModel = "qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,+cx16";
    tcgArmCpuModel = "max,pauth-impdef=on";
    tcgArmCpuModelOldQemu = "cortex-a57";
  }
});

// src/qemu/firmware.ts
var aarch64Uefi;
var init_firmware = __esm({
  "src/qemu/firmware.ts"() {
    "use strict";
    aarch64Uefi = {
      code: "/usr/share/AAVMF/AAVMF_CODE.fd",
      varsTemplate: "/usr/share/AAVMF/AAVMF_VARS.fd"
    };
  }
});

// src/qemu/keeper.ts
function keepLine(untilMs) {
  return `keep ${Math.ceil(untilMs / 1e3)}
`;
}
var keeperScript;
var init_keeper = __esm({
  "src/qemu/keeper.ts"() {
    "use strict";
    keeperScript = `#!/bin/sh
set -u
if command -v setpriv >/dev/null 2>&1; then setpriv --pdeathsig KILL -- "$@" & else "$@" & fi
qemu=$!
stop() {
  kill -TERM "$qemu" 2>/dev/null
  i=0
  while kill -0 "$qemu" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  kill -KILL "$qemu" 2>/dev/null
}
trap 'stop; wait "$qemu"; exit 143' TERM INT HUP
until=""
# The run ends, or kvmci dies: either way stdin ends.
while read -r word value; do
  if [ "$word" = keep ]; then until=$value; fi
done
if [ -z "$until" ]; then stop; wait "$qemu"; exit $?; fi
while kill -0 "$qemu" 2>/dev/null && [ "$(date +%s)" -lt "$until" ]; do sleep 2; done
stop
wait "$qemu"
`;
  }
});

// src/qemu/process.ts
import { spawn } from "node:child_process";
import { access as access5, open as open5, writeFile as writeFile6 } from "node:fs/promises";
import { execa as execa7 } from "execa";
async function withParentDeathSignal(argv) {
  for (const path of ["/usr/bin/setpriv", "/bin/setpriv"]) {
    try {
      await access5(path);
      return [path, "--pdeathsig", "KILL", "--", ...argv];
    } catch {
    }
  }
  return [...argv];
}
async function readTail(path) {
  try {
    const handle = await open5(path, "r");
    try {
      const { size: size2 } = await handle.stat();
      const length = Math.min(size2, 4e3);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size2 - length);
      return buffer.toString();
    } finally {
      await handle.close();
    }
  } catch {
    return "";
  }
}
var QemuProcess;
var init_process = __esm({
  "src/qemu/process.ts"() {
    "use strict";
    init_keeper();
    QemuProcess = class _QemuProcess {
      constructor(child, pid, ended, logPath) {
        this.child = child;
        this.pid = pid;
        this.logPath = logPath;
        this.exited = ended.then((exit) => {
          this.exit = exit;
          return exit;
        });
      }
      child;
      pid;
      logPath;
      exited;
      exit;
      kept = false;
      /** Starts QEMU from its argv. When `setpriv` exists, QEMU is killed if kvmci itself dies. */
      static async start(argv) {
        const [file, ...args] = await withParentDeathSignal(argv);
        const child = execa7(file ?? "qemu-system-x86_64", args, {
          stdin: "ignore",
          stdout: "ignore",
          stderr: "pipe",
          reject: false,
          cleanup: true
        });
        if (child.pid === void 0) {
          const result = await child;
          throw new Error(`Could not start ${file}: ${result.shortMessage ?? "unknown error"}`);
        }
        const ended = child.then((result) => ({
          code: result.exitCode,
          signal: result.signal,
          stderr: typeof result.stderr === "string" ? result.stderr.slice(-4e3) : ""
        }));
        return new _QemuProcess(child, child.pid, ended);
      }
      /**
       * Starts QEMU under a keeper (see keeper.ts), in a session of its own, so that `keep()` can
       * leave it running after kvmci ends. `script` and `log` are files of the guest's private run
       * folder: the keeper itself, and where QEMU's stderr goes.
       */
      static async startKeepable(argv, { script, log }) {
        await writeFile6(script, keeperScript, { mode: 448 });
        const stderr = await open5(log, "w", 384);
        try {
          const child = spawn("sh", [script, ...argv], {
            stdio: ["pipe", "ignore", stderr.fd],
            detached: true
          });
          const ended = new Promise((resolve4) => {
            child.on(
              "error",
              () => resolve4({ code: 127, signal: void 0, stderr: "the keeper could not be started" })
            );
            child.on("exit", (code, signal) => {
              void readTail(log).then(
                (text) => resolve4({ code: code ?? void 0, signal: signal ?? void 0, stderr: text })
              );
            });
          });
          if (child.pid === void 0) throw new Error((await ended).stderr);
          return new _QemuProcess(child, child.pid, ended, log);
        } finally {
          await stderr.close();
        }
      }
      /**
       * Leaves QEMU running after kvmci ends, until `untilMs`: its keeper stops it then. Only for
       * a QEMU started with startKeepable.
       */
      keep(untilMs) {
        if (!this.logPath) throw new Error("This QEMU was not started to be kept");
        this.kept = true;
        this.child.stdin?.end(keepLine(untilMs));
        this.child.unref();
      }
      get hasExited() {
        return this.exit !== void 0;
      }
      async stop(graceMs = 5e3) {
        if (this.exit) return this.exit;
        if (this.kept) throw new Error("A kept guest is stopped with kvmci stop");
        this.child.stdin?.end();
        this.child.kill("SIGTERM");
        const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
        try {
          return await this.exited;
        } finally {
          clearTimeout(timer);
        }
      }
    };
  }
});

// src/host/unix-socket.ts
import { createConnection } from "node:net";
function openUnixSocket(path) {
  return new Promise((resolve4, reject) => {
    const socket = createConnection(path);
    socket.once("connect", () => {
      socket.removeListener("error", reject);
      resolve4(socket);
    });
    socket.once("error", reject);
  });
}
var init_unix_socket = __esm({
  "src/host/unix-socket.ts"() {
    "use strict";
  }
});

// src/qemu/qmp.ts
import { setTimeout as sleep } from "node:timers/promises";
var QmpError, QmpClient;
var init_qmp = __esm({
  "src/qemu/qmp.ts"() {
    "use strict";
    init_unix_socket();
    QmpError = class extends Error {
      constructor(command, errorClass, description) {
        super(`QMP ${command}: ${description}`);
        this.command = command;
        this.errorClass = errorClass;
      }
      command;
      errorClass;
    };
    QmpClient = class _QmpClient {
      constructor(socket) {
        this.socket = socket;
        socket.setEncoding("utf8");
        socket.on("data", (text) => this.receive(text));
        socket.on("error", (error) => this.fail(error));
        socket.on("close", () => this.fail(new Error("QEMU closed the QMP connection")));
      }
      socket;
      pending = /* @__PURE__ */ new Map();
      nextId = 1;
      buffered = "";
      closed;
      /**
       * Connects once QEMU has made the socket (retrying until `timeoutMs`), reads the greeting and
       * leaves capabilities negotiation mode.
       */
      static async connect(path, options) {
        const deadline = Date.now() + options.timeoutMs;
        for (; ; ) {
          options.signal?.throwIfAborted();
          try {
            const socket = await openUnixSocket(path);
            const client = new _QmpClient(socket);
            const drop = () => socket.destroy();
            options.signal?.addEventListener("abort", drop, { once: true });
            try {
              await client.greeting();
              await client.execute("qmp_capabilities");
            } finally {
              options.signal?.removeEventListener("abort", drop);
            }
            if (options.signal?.aborted) {
              socket.destroy();
              options.signal.throwIfAborted();
            }
            return client;
          } catch (error) {
            options.signal?.throwIfAborted();
            if (Date.now() >= deadline) throw error;
            await sleep(20, void 0, { signal: options.signal });
          }
        }
      }
      /** Runs one command and resolves with its `return` value. */
      execute(command, args) {
        if (this.closed) return Promise.reject(this.closed);
        const id = this.nextId++;
        return new Promise((resolve4, reject) => {
          this.pending.set(id, {
            command,
            resolve: resolve4,
            reject: (error) => reject(error)
          });
          this.socket.write(`${JSON.stringify({ execute: command, arguments: args, id })}
`);
        }).catch((error) => {
          if (error instanceof QmpError) throw error;
          throw new QmpError(command, "Disconnected", error.message);
        });
      }
      async [Symbol.asyncDispose]() {
        this.socket.destroy();
        await Promise.resolve();
      }
      greetingWaiter;
      greeting() {
        return new Promise((resolve4, reject) => {
          this.greetingWaiter = { resolve: resolve4, reject };
        });
      }
      receive(text) {
        this.buffered += text;
        for (let end = this.buffered.indexOf("\n"); end !== -1; end = this.buffered.indexOf("\n")) {
          const line = this.buffered.slice(0, end).trim();
          this.buffered = this.buffered.slice(end + 1);
          if (line) this.handle(JSON.parse(line));
        }
      }
      handle(message) {
        if (message.QMP) {
          this.greetingWaiter?.resolve(message.QMP);
          this.greetingWaiter = void 0;
          return;
        }
        if (typeof message.id !== "number") return;
        const waiter = this.pending.get(message.id);
        if (!waiter) return;
        this.pending.delete(message.id);
        if (message.error) {
          waiter.reject(new QmpError(waiter.command, message.error.class, message.error.desc));
        } else waiter.resolve(message.return);
      }
      fail(error) {
        if (this.closed) return;
        this.closed = error;
        this.greetingWaiter?.reject(error);
        for (const waiter of this.pending.values()) waiter.reject(error);
        this.pending.clear();
      }
    };
  }
});

// src/ssh/keys.ts
import ssh2 from "ssh2";
function generateKeyPair(comment, generate = ssh2Generate) {
  for (let attempt = 0; attempt < 16; attempt++) {
    const pair = generate(comment);
    const publicKey = pair.public.trim();
    if (publicKeyBlob(publicKey).length === ed25519BlobBytes)
      return { privateKey: pair.private, publicKey };
  }
  throw new Error("ssh2 kept generating malformed ed25519 keys");
}
function publicKeyBlob(publicKey) {
  const [, base64] = publicKey.trim().split(/\s+/);
  if (!base64) throw new Error(`Not an OpenSSH public key line: ${publicKey.slice(0, 40)}`);
  return Buffer.from(base64, "base64");
}
var utils, ssh2Generate, ed25519BlobBytes;
var init_keys = __esm({
  "src/ssh/keys.ts"() {
    "use strict";
    ({ utils } = ssh2);
    ssh2Generate = (comment) => utils.generateKeyPairSync("ed25519", { comment });
    ed25519BlobBytes = 51;
  }
});

// src/ssh/banner.ts
import { connect } from "node:net";
function sshBannerSeen(port, timeoutMs, signal) {
  return new Promise((resolve4) => {
    const socket = connect({ host: "127.0.0.1", port });
    let received = "";
    const finish = (ok, reason) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve4({ ok, reason });
    };
    const onAbort = () => finish(false, "aborted");
    const timer = setTimeout(
      () => finish(
        false,
        received ? `unexpected answer ${JSON.stringify(received.slice(0, 40))}` : "connected, but no SSH banner yet"
      ),
      timeoutMs
    );
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1");
      if (received.startsWith("SSH-")) finish(true, "banner");
      else if (received.length >= 4)
        finish(false, `not an SSH server: ${JSON.stringify(received.slice(0, 40))}`);
    });
    socket.on("error", (error) => finish(false, error.message));
    socket.on(
      "close",
      () => finish(
        false,
        received ? "closed after a partial answer" : "connection closed without a banner"
      )
    );
  });
}
var init_banner = __esm({
  "src/ssh/banner.ts"() {
    "use strict";
  }
});

// src/ssh/session.ts
import ssh22 from "ssh2";
function attach(channel, io, resolve4, reject) {
  let code;
  let signalName;
  let settled = false;
  const unfollow = io.window?.(({ rows, cols }) => channel.setWindow(rows, cols, 0, 0));
  const settle = (outcome) => {
    if (settled) return;
    settled = true;
    unfollow?.();
    io.stdin?.unpipe(channel);
    io.signal?.removeEventListener("abort", onAbort);
    outcome();
  };
  channel.on("exit", (exitCode, name) => {
    if (typeof exitCode === "number") code = exitCode;
    if (name) signalName = name;
  });
  if (io.stdout) channel.pipe(io.stdout);
  else channel.on("data", (chunk) => io.onStdout?.(chunk));
  channel.stderr.on("data", (chunk) => io.onStderr?.(chunk));
  function onAbort() {
    channel.signal("KILL");
    channel.close();
    settle(() => resolve4({ code: 137, signal: "KILL" }));
  }
  if (io.signal?.aborted) return onAbort();
  io.signal?.addEventListener("abort", onAbort, { once: true });
  channel.on(
    "close",
    () => settle(() => {
      if (code !== void 0) return resolve4({ code });
      if (signalName)
        return resolve4({ code: 128 + (signalNumbers[signalName] ?? 1), signal: signalName });
      reject(new ConnectionLostError("a command's channel closed without an exit status"));
    })
  );
  if (io.stdin) io.stdin.pipe(channel);
  else channel.end();
}
var Client, HostKeyMismatchError, cipherPreference, SshSession, signalNumbers;
var init_session = __esm({
  "src/ssh/session.ts"() {
    "use strict";
    init_errors();
    init_keys();
    ({ Client } = ssh22);
    HostKeyMismatchError = class extends KvmciError {
      constructor(port) {
        super(
          "guestBoot",
          `The SSH server on port ${port} presented a host key other than the one kvmci gave the guest; refusing to connect`,
          {
            hint: "Another process may be listening on that port, or the image ignored cloud-init's ssh_keys. Nothing was sent to it."
          }
        );
      }
    };
    cipherPreference = [
      "chacha20-poly1305@openssh.com",
      "aes128-gcm@openssh.com",
      "aes256-gcm@openssh.com",
      "aes128-ctr",
      "aes256-ctr"
    ];
    SshSession = class _SshSession {
      constructor(client) {
        this.client = client;
      }
      client;
      /** One connection attempt, with the host key pinned. Rejects on any failure. */
      static connect(target, timeoutMs) {
        const expected = publicKeyBlob(target.hostPublicKey);
        let mismatch = false;
        let tried = false;
        return new Promise((resolve4, reject) => {
          const client = new Client();
          const config = {
            host: target.host,
            port: target.port,
            username: target.user,
            privateKey: target.privateKey,
            readyTimeout: timeoutMs,
            keepaliveInterval: 5e3,
            keepaliveCountMax: 3,
            hostVerifier: (key) => {
              mismatch = !key.equals(expected);
              return !mismatch;
            },
            algorithms: { cipher: [...cipherPreference] },
            // Only the key we made; never a password or an agent.
            tryKeyboard: false,
            agent: void 0,
            // One login, with the key we made, once the guest accepts it.
            authHandler: (_left, _partial, next) => {
              const giveUp = () => next(false);
              if (tried) return giveUp();
              tried = true;
              void (target.authorizedWhen ?? Promise.resolve()).then(
                () => next({ type: "publickey", username: target.user, key: target.privateKey }),
                giveUp
              );
            }
          };
          const timer = setTimeout(() => fail2(new Error("SSH handshake timed out")), timeoutMs + 1e3);
          const fail2 = (error) => {
            clearTimeout(timer);
            client.destroy();
            reject(mismatch ? new HostKeyMismatchError(target.port) : error);
          };
          client.once("ready", () => {
            clearTimeout(timer);
            resolve4(new _SshSession(client));
          });
          client.on("error", fail2);
          client.once("close", () => fail2(new Error("the connection closed during the SSH handshake")));
          client.connect(config);
        });
      }
      /** Runs a command; resolves with its exit code (or the signal that ended it, as 128+n). */
      exec(command, io = {}) {
        return new Promise((resolve4, reject) => {
          let abandoned = false;
          const onAbortBeforeOpen = () => {
            abandoned = true;
            resolve4({ code: 137, signal: "KILL" });
          };
          if (io.signal?.aborted) return onAbortBeforeOpen();
          io.signal?.addEventListener("abort", onAbortBeforeOpen, { once: true });
          const opened = (error, channel) => {
            io.signal?.removeEventListener("abort", onAbortBeforeOpen);
            if (abandoned) {
              channel?.close();
              return;
            }
            if (error) return reject(new ConnectionLostError(error.message, error));
            attach(channel, io, resolve4, reject);
          };
          try {
            if (io.pty) this.client.exec(command, { pty: { ...io.pty, width: 0, height: 0 } }, opened);
            else this.client.exec(command, opened);
          } catch (error) {
            io.signal?.removeEventListener("abort", onAbortBeforeOpen);
            reject(new ConnectionLostError(error.message, error));
          }
        });
      }
      /** Runs a command and collects its stdout; rejects when it exits non-zero. */
      async capture(command, signal) {
        const out = [];
        const err = [];
        const result = await this.exec(command, {
          onStdout: (c) => out.push(c),
          onStderr: (c) => err.push(c),
          signal
        });
        if (result.code !== 0) {
          throw new Error(
            `guest command failed with code ${result.code}: ${Buffer.concat(err).toString().trim().slice(-500)}`
          );
        }
        return Buffer.concat(out).toString();
      }
      async [Symbol.asyncDispose]() {
        this.client.end();
        await Promise.resolve();
      }
    };
    signalNumbers = {
      HUP: 1,
      INT: 2,
      QUIT: 3,
      KILL: 9,
      TERM: 15,
      SEGV: 11,
      ABRT: 6,
      PIPE: 13
    };
  }
});

// src/host/file-tail.ts
import { constants as constants6 } from "node:fs";
import { open as open6 } from "node:fs/promises";
async function readFileTail(path, maxBytes) {
  const handle = await open6(path, constants6.O_RDONLY | constants6.O_NOFOLLOW | constants6.O_NONBLOCK);
  try {
    const { size: size2 } = await handle.stat();
    const length = Math.min(size2, maxBytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size2 - length);
    return buffer.toString("utf8");
  } finally {
    await handle.close();
  }
}
var init_file_tail = __esm({
  "src/host/file-tail.ts"() {
    "use strict";
  }
});

// src/guest/console.ts
async function readConsoleTail(path, lines = consoleTailLines) {
  try {
    return tailLines(stripAnsi(await readFileTail(path, lines * 512)), lines);
  } catch {
    return [];
  }
}
function panicLine(lines) {
  return lines.find((l) => l.includes("Kernel panic - not syncing"))?.trim();
}
function failedUnitsOnConsole(lines) {
  const units3 = [];
  for (const line of lines) {
    const match = /Failed to start (.+?)\.?\s*$/.exec(line);
    if (match && !units3.includes(match[1])) units3.push(match[1]);
  }
  return units3;
}
function parseCloudInitErrors(text) {
  try {
    const parsed = JSON.parse(text);
    const errors = parsed.v1?.errors;
    return Array.isArray(errors) ? errors.map(String) : [];
  } catch {
    return [`unreadable /run/cloud-init/result.json: ${text.slice(0, 200)}`];
  }
}
var consoleTailLines;
var init_console = __esm({
  "src/guest/console.ts"() {
    "use strict";
    init_file_tail();
    init_text();
    consoleTailLines = 30;
  }
});

// src/guest/readiness.ts
async function waitForCloudInit(ssh, deadline, signal) {
  const stall = new AbortController();
  let quietTimer = setTimeout(() => stall.abort(), stallAfterMs);
  const heard = () => {
    clearTimeout(quietTimer);
    quietTimer = setTimeout(() => stall.abort(), stallAfterMs);
  };
  const timeout = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
  const out = [];
  try {
    const result = await ssh.exec(
      "n=0; until [ -e /run/cloud-init/result.json ]; do sleep 0.2; n=$((n+1)); [ $((n % 10)) -eq 0 ] && printf .; done; sleep 0.1; printf '\\n'; cat /run/cloud-init/result.json",
      {
        onStdout: (chunk) => {
          heard();
          out.push(chunk);
        },
        onStderr: heard,
        signal: AbortSignal.any([signal, timeout, stall.signal])
      }
    );
    signal.throwIfAborted();
    if (timeout.aborted) return { kind: "timeout" };
    if (stall.signal.aborted) return { kind: "stalled" };
    if (result.code !== 0)
      throw new Error(
        `the wait ended with code ${result.code}${result.signal ? ` (${result.signal})` : ""}`
      );
    const text = Buffer.concat(out).toString();
    return { kind: "done", text: text.slice(text.indexOf("\n") + 1) };
  } finally {
    clearTimeout(quietTimer);
  }
}
var stallAfterMs;
var init_readiness = __esm({
  "src/guest/readiness.ts"() {
    "use strict";
    stallAfterMs = 15e3;
  }
});

// src/guest/run-folder.ts
import { lstat as lstat5, mkdtemp as mkdtemp2, readdir as readdir5, readFile as readFile9, rm as rm4, writeFile as writeFile7 } from "node:fs/promises";
import { tmpdir as osTmpdir } from "node:os";
import { join as join12 } from "node:path";
async function createRunFolder(tmpdir2 = osTmpdir()) {
  const path = await mkdtemp2(join12(tmpdir2, runFolderPrefix));
  const owner = await identifyProcess();
  await writeFile7(join12(path, RunFiles.owner), JSON.stringify(owner), { mode: 384 });
  return {
    path,
    file: (name) => join12(path, name),
    [Symbol.asyncDispose]: () => rm4(path, { recursive: true, force: true })
  };
}
async function removeStaleRunFolders(tmpdir2 = osTmpdir()) {
  let entries;
  try {
    entries = await readdir5(tmpdir2);
  } catch {
    return [];
  }
  const self = await identifyProcess();
  const uid = process.getuid?.();
  const removed = [];
  for (const entry of entries) {
    if (!entry.startsWith(runFolderPrefix)) continue;
    const path = join12(tmpdir2, entry);
    const owner = await readOwner(path, uid);
    if (!owner) continue;
    if (await isProcessRunning(owner, self) !== false) continue;
    await rm4(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}
async function readOwner(path, uid) {
  try {
    const folder = await lstat5(path);
    if (!folder.isDirectory() || (folder.mode & 511) !== 448) return void 0;
    if (uid !== void 0 && folder.uid !== uid) return void 0;
    const file = join12(path, RunFiles.owner);
    const record = await lstat5(file);
    if (!record.isFile() || uid !== void 0 && record.uid !== uid) return void 0;
    return JSON.parse(await readFile9(file, "utf8"));
  } catch {
    return void 0;
  }
}
var RunFiles, runFolderPrefix;
var init_run_folder = __esm({
  "src/guest/run-folder.ts"() {
    "use strict";
    init_process_identity();
    RunFiles = {
      overlay: "overlay.qcow2",
      seed: "seed.iso",
      /** The memory of a guest that may be saved (see Guest.launch). */
      memory: "memory.ram",
      /** This run's workspace as a read-only disk, or an empty one (sync/workspace-disk.ts). */
      workspaceDisk: "workspace.img",
      console: "console.log",
      /** QEMU's machine protocol socket. */
      qmp: "qmp.sock",
      /** The host end of the wake channel. */
      wake: "wake.sock",
      /** The guest's own copy of the UEFI variable store (arm64 firmware boot). */
      uefiVars: "uefi-vars.fd",
      /** QEMU's pid, written by QEMU itself. */
      qemuPid: "qemu.pid",
      /** Who owns the folder: lets a later kvmci recognise folders left by a killed run. */
      owner: "owner.json",
      /** A keepable guest's supervisor (see qemu/keeper.ts) and QEMU's own output under it. */
      keeper: "keeper.sh",
      qemuLog: "qemu.log",
      /** A kept guest's login key (OpenSSH format) for `kvmci ssh`. */
      clientKey: "client-key",
      /** `[127.0.0.1]:PORT ssh-ed25519 …`: exactly the guest's host key, for OpenSSH's ssh. */
      knownHosts: "known_hosts"
    };
    runFolderPrefix = "kvmci-run-";
  }
});

// src/guest/wake.ts
import { setTimeout as sleep2 } from "node:timers/promises";
function buildStartAgentCommand(user) {
  return `sudo sh -c 'cat > ${wakeAgentPath} && setsid -f sh ${wakeAgentPath} ${user} </dev/null >/dev/null 2>&1'`;
}
function mountableWorkdir(workdir) {
  return /^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/.test(workdir) && !workdir.split("/").includes("..");
}
function buildWakeLine(m) {
  const [type, key] = m.authorizedKey.trim().split(/\s+/);
  if (!type || !key) throw new Error("The authorized key is not an OpenSSH public key line");
  for (const word of [m.hostname, m.seed]) {
    if (!/^[A-Za-z0-9.-]+$/.test(word)) throw new Error(`Unsafe word in a wake line: ${word}`);
  }
  const workdir = m.workspaceDir ?? "-";
  if (workdir !== "-" && !mountableWorkdir(workdir))
    throw new Error(`Unsafe workdir in a wake line: ${workdir}`);
  const ms = m.now.getTime();
  const time = `${Math.floor(ms / 1e3)}.${String(ms % 1e3).padStart(3, "0")}`;
  const stamp = m.now.toISOString().replace(/\.\d+Z$/, "Z");
  return `wake ${time} ${stamp} ${m.hostname} ${m.seed} ${workdir} ${type} ${key}
`;
}
var workspaceLower, workspaceLayers, wakeAgentScript, wakeAgentPath, maxLines, maxLineChars, WakeChannel;
var init_wake = __esm({
  "src/guest/wake.ts"() {
    "use strict";
    init_unix_socket();
    init_args();
    init_workspace_disk();
    workspaceLower = "/run/kvmci-workspace";
    workspaceLayers = "/var/lib/kvmci-workspace";
    wakeAgentScript = `#!/bin/sh
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
    if mount -t squashfs -o ro /dev/disk/by-id/virtio-${workspaceDiskSerial} ${workspaceLower} &&
      mount -t overlay -o lowerdir=${workspaceLower},upperdir=${workspaceLayers}/upper,workdir=${workspaceLayers}/work \\
        kvmci-workspace "$workdir"; then
      mounted=" workspace"
    fi 2>/dev/null
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
    wakeAgentPath = "/run/kvmci-wake";
    maxLines = 16;
    maxLineChars = 256;
    WakeChannel = class _WakeChannel {
      constructor(socket) {
        this.socket = socket;
        socket.setEncoding("utf8");
        socket.on("data", (text) => {
          this.buffered += text;
          for (let end = this.buffered.indexOf("\n"); end !== -1; end = this.buffered.indexOf("\n")) {
            this.lines.push(this.buffered.slice(0, end).trim());
            this.buffered = this.buffered.slice(end + 1);
          }
          if (this.lines.length > maxLines) this.lines.splice(0, this.lines.length - maxLines);
          if (this.buffered.length > maxLineChars) this.buffered = "";
          this.notify?.();
        });
        socket.on("error", () => void 0);
        socket.on("close", () => {
          this.closed = true;
          this.notify?.();
        });
      }
      socket;
      buffered = "";
      lines = [];
      notify;
      closed = false;
      static async connect(path, signal) {
        for (let attempt = 0; ; attempt++) {
          signal?.throwIfAborted();
          try {
            return new _WakeChannel(await openUnixSocket(path));
          } catch (error) {
            if (attempt >= 100) throw error;
            await sleep2(20, void 0, { signal });
          }
        }
      }
      send(line) {
        this.socket.write(line);
      }
      /**
       * Waits for a line whose first word is `word` and returns the words after it; rejects at the
       * deadline or when QEMU closes the channel.
       */
      async waitFor(word, timeoutMs, signal) {
        const deadline = Date.now() + timeoutMs;
        for (; ; ) {
          signal?.throwIfAborted();
          const at = this.lines.findIndex((line) => line.split(/\s+/)[0] === word);
          if (at !== -1) {
            const words = this.lines[at].split(/\s+/).slice(1);
            this.lines.splice(0, at + 1);
            return words;
          }
          if (this.closed) throw new Error(`the wake channel closed before the guest said ${word}`);
          const left = deadline - Date.now();
          if (left <= 0) throw new Error(`the guest did not say ${word} within ${timeoutMs / 1e3}s`);
          await new Promise((resolve4) => {
            const timer = setTimeout(done, Math.min(left, 250));
            function done() {
              clearTimeout(timer);
              resolve4();
            }
            this.notify = done;
          });
          this.notify = void 0;
        }
      }
      async [Symbol.asyncDispose]() {
        this.socket.destroy();
        await Promise.resolve();
      }
    };
  }
});

// src/guest/guest.ts
import { randomBytes } from "node:crypto";
import { constants as constants7 } from "node:fs";
import { copyFile as copyFile2, rm as rm5, writeFile as writeFile8 } from "node:fs/promises";
import { Readable } from "node:stream";
import { setTimeout as sleep3 } from "node:timers/promises";
import { join as join13 } from "node:path";
function exitSummary(exit) {
  if (exit.signal) return ` (QEMU ended by ${exit.signal})`;
  return exit.code !== void 0 ? ` (QEMU exit code ${exit.code})` : "";
}
function parseUserIds(words) {
  const [uid, gid] = words.map((word) => /^\d{1,10}$/.test(word) ? Number(word) : NaN);
  if (uid === void 0 || gid === void 0 || !(uid < 2 ** 32 - 1) || !(gid < 2 ** 32 - 1))
    return void 0;
  return { uid, gid };
}
var bannerTimeoutMs, sshHandshakeTimeoutMs, pollMs, qmpConnectTimeoutMs, wakeTimeoutMs, migrationPollMs, ignoreSharedMemory, Guest;
var init_guest = __esm({
  "src/guest/guest.ts"() {
    "use strict";
    init_seed();
    init_overlay();
    init_errors();
    init_port();
    init_process_identity();
    init_digest();
    init_args();
    init_firmware();
    init_process();
    init_qmp();
    init_keys();
    init_banner();
    init_shell_quote();
    init_session();
    init_error_message();
    init_text();
    init_console();
    init_readiness();
    init_run_folder();
    init_wake();
    init_workspace_disk();
    bannerTimeoutMs = 1500;
    sshHandshakeTimeoutMs = 3e4;
    pollMs = 250;
    qmpConnectTimeoutMs = 1e4;
    wakeTimeoutMs = 2e4;
    migrationPollMs = 50;
    ignoreSharedMemory = { capabilities: [{ capability: "x-ignore-shared", state: true }] };
    Guest = class _Guest {
      constructor(spec, folder, host) {
        this.spec = spec;
        this.folder = folder;
        this.host = host;
        this.id = folder.path.slice(-8).replace(/[^a-zA-Z0-9]/g, "x").toLowerCase();
        this.clientKey = generateKeyPair(`kvmci-client-${this.id}`);
        this.hostKey = generateKeyPair(`kvmci-host-${this.id}`);
        this.pinnedHostKey = this.hostKey.publicKey;
      }
      spec;
      folder;
      host;
      qemu;
      ssh;
      qmp;
      wake;
      sshPort = 0;
      kept = false;
      /** What the workspace disk holds: nothing yet (made empty at launch), or this run's workspace. */
      workspaceDisk = "none";
      mountedWorkspace = false;
      /** The host key SSH must present: this run's own, or a restored snapshot's. */
      pinnedHostKey;
      /** Replaced when the guest is saved: the saved state holds only a key nobody has any more. */
      clientKey;
      hostKey;
      id;
      static async create(spec, tmpdir2, host = { findPort: findFreePort }) {
        return new _Guest(spec, await createRunFolder(tmpdir2), host);
      }
      get consolePath() {
        return this.folder.file(RunFiles.console);
      }
      /** Whether QEMU was started (and so there is a console and an exit to report). */
      get launched() {
        return this.qemu !== void 0;
      }
      /** QEMU was started and has not exited. */
      get running() {
        return this.qemu !== void 0 && !this.qemu.hasExited;
      }
      get user() {
        return this.spec.image.info.user;
      }
      /** The public half of the host key this guest presents (for a snapshot's record). */
      get hostPublicKey() {
        return this.pinnedHostKey;
      }
      get overlayPath() {
        return this.folder.file(RunFiles.overlay);
      }
      /** The guest woke with this run's workspace mounted on its workdir (no sync needed). */
      get workspaceMounted() {
        return this.mountedWorkspace;
      }
      /**
       * Packs the workspace into this guest's workspace disk, owned by `owner` (a saved guest's
       * user), before a restore: the restored guest mounts it on the workdir as it wakes.
       */
      async packWorkspaceDisk(source, owner, signal) {
        if (this.launched) throw new Error("The workspace disk is packed before QEMU starts");
        const result = await buildWorkspaceDisk(
          this.folder.file(RunFiles.workspaceDisk),
          source,
          owner,
          signal
        );
        this.workspaceDisk = result.kind === "built" ? "workspace" : "none";
        return result;
      }
      /** The run's overlay, over the image, or over a snapshot's saved disk. */
      async createOverlay(signal, backing = {
        path: this.spec.image.diskPath,
        format: this.spec.image.info.format
      }) {
        await createOverlay(
          {
            backingFile: backing.path,
            backingFormat: backing.format,
            overlayPath: this.folder.file(RunFiles.overlay),
            sizeBytes: this.spec.diskBytes
          },
          signal
        );
      }
      async writeSeed(now) {
        await writeSeed(
          this.folder.file(RunFiles.seed),
          {
            instanceId: `kvmci-${this.id}-${now.getTime()}`,
            hostname: `kvmci-${this.id}`,
            user: this.user,
            authorizedKey: this.clientKey.publicKey,
            hostKey: this.hostKey,
            extra: this.spec.extraUserData
          },
          now
        );
      }
      bootMethod() {
        if (this.spec.boot === "firmware")
          return this.spec.arch === "aarch64" ? { kind: "uefi", code: aarch64Uefi.code, vars: this.folder.file(RunFiles.uefiVars) } : { kind: "firmware" };
        const { info, dir } = this.spec.image;
        if (!info.boot.kernel || !info.boot.initrd || !info.boot.cmdline) {
          throw new Error(`The image ${info.name} has no kernel for direct boot`);
        }
        return {
          kind: "kernel",
          kernel: join13(dir, info.boot.kernel),
          initrd: join13(dir, info.boot.initrd),
          cmdline: info.boot.cmdline
        };
      }
      /** The parts of QEMU's command line that a saved state depends on. */
      machineSpec() {
        return {
          arch: this.spec.arch,
          accel: this.spec.accel,
          cpu: this.spec.cpu,
          cpus: this.spec.cpus,
          memoryMiB: Math.round(this.spec.memoryBytes / (1024 * 1024)),
          boot: this.bootMethod(),
          network: this.spec.network,
          lan: this.spec.lan
        };
      }
      /**
       * Launches QEMU and connects to its QMP socket. A port taken between choosing it and QEMU
       * binding it is retried. `incoming`: start paused, waiting for a saved state. `memory`:
       * `saveable`, the guest's memory is a file in the run folder that a save copies (see
       * saveState); `{ restore }`, a snapshot's memory file mapped copy-on-write.
       */
      async launch(signal, options = {}) {
        const boot = this.bootMethod();
        if (boot.kind === "uefi") await copyFile2(aarch64Uefi.varsTemplate, boot.vars);
        if (this.workspaceDisk === "none") {
          await makeEmptyWorkspaceDisk(this.folder.file(RunFiles.workspaceDisk));
          this.workspaceDisk = "empty";
        }
        for (let attempt = 1; ; attempt++) {
          this.sshPort = await this.host.findPort();
          const argv = buildQemuArgs({
            ...this.machineSpec(),
            name: `kvmci-${this.spec.name}-${this.id}`,
            overlayPath: this.overlayPath,
            seedPath: this.folder.file(RunFiles.seed),
            workspaceDiskPath: this.folder.file(RunFiles.workspaceDisk),
            consolePath: this.consolePath,
            sshPort: this.sshPort,
            qmpPath: this.folder.file(RunFiles.qmp),
            wakePath: this.folder.file(RunFiles.wake),
            pidPath: this.folder.file(RunFiles.qemuPid),
            incoming: options.incoming,
            memoryFile: options.memory === "saveable" ? { path: this.folder.file(RunFiles.memory), shared: true } : options.memory ? { path: options.memory.restore, shared: false } : void 0
          });
          const qemu = this.spec.keepable ? await QemuProcess.startKeepable(argv, {
            script: this.folder.file(RunFiles.keeper),
            log: this.folder.file(RunFiles.qemuLog)
          }) : await QemuProcess.start(argv);
          this.qemu = qemu;
          const givenUp = new AbortController();
          const qmp = await Promise.race([
            QmpClient.connect(this.folder.file(RunFiles.qmp), {
              timeoutMs: qmpConnectTimeoutMs,
              signal: signal ? AbortSignal.any([signal, givenUp.signal]) : givenUp.signal
            }).catch((error) => {
              if (qemu.hasExited) return void 0;
              throw error;
            }),
            qemu.exited.then(() => {
              givenUp.abort();
              return void 0;
            })
          ]);
          if (qmp && !qemu.hasExited) {
            this.qmp = qmp;
            return;
          }
          await qmp?.[Symbol.asyncDispose]();
          const exit = await qemu.exited;
          if (/host forwarding rule/i.test(exit.stderr) && attempt < 5) continue;
          throw await this.failure("guestBoot", `QEMU exited at start-up${exitSummary(exit)}`, {
            exit
          });
        }
      }
      /**
       * Saves the ready guest into `dir` (memory state and a copy of its disk), then lets it go on
       * as before. The SSH session is closed first and the wake agent removes the authorized key;
       * the guest is then woken like a restored one, with a new key for the rest of the run.
       */
      async saveState(dir, deadline, signal) {
        const qmp = this.requireQmp();
        const started = await this.exec(buildStartAgentCommand(this.user), {
          stdin: Readable.from([wakeAgentScript]),
          signal
        });
        if (started.code !== 0)
          throw new Error(`the wake agent did not start (exit code ${started.code})`);
        await this.ssh?.[Symbol.asyncDispose]();
        this.ssh = void 0;
        const wake = await this.wakeChannel(signal);
        const owner = parseUserIds(await wake.waitFor("armed", wakeTimeoutMs, signal));
        await qmp.execute("stop");
        const memoryPath = join13(dir, "memory.bin");
        const ramPath = join13(dir, "memory.ram");
        const diskPath = join13(dir, "disk.qcow2");
        await qmp.execute("migrate-set-parameters", { "max-bandwidth": 64 * 1024 ** 3 });
        await qmp.execute("migrate-set-capabilities", ignoreSharedMemory);
        await qmp.execute("migrate", { uri: `exec:cat > ${shellQuote(memoryPath)}` });
        await this.waitForMigration("save", deadline, signal);
        const ramSha256 = await copyZeroBlocks(
          this.folder.file(RunFiles.memory),
          ramPath,
          signal
        ).catch((error) => {
          signal.throwIfAborted();
          throw new Error(`copying the guest's memory failed: ${errorMessage(error)}`);
        });
        await copyFile2(this.overlayPath, diskPath, constants7.COPYFILE_FICLONE);
        this.clientKey = generateKeyPair(`kvmci-client-${this.id}`);
        await this.resume(deadline, signal);
        return { memoryPath, ramPath, ramSha256, diskPath, owner };
      }
      /**
       * Starts QEMU from a saved state instead of booting: the overlay must already be over the
       * saved disk. Ready when SSH answers; rejects (QEMU stopped) if the state cannot be loaded.
       */
      async restore(state, deadline, signal) {
        await this.launch(signal, {
          incoming: true,
          memory: state.ramPath ? { restore: state.ramPath } : void 0
        });
        const problem = await state.verified;
        if (problem) throw new Error(problem);
        if (state.ramPath)
          await this.requireQmp().execute("migrate-set-capabilities", ignoreSharedMemory);
        await this.requireQmp().execute("migrate-incoming", {
          uri: `exec:cat ${shellQuote(state.memoryPath)}`
        });
        await this.waitForMigration("restore", deadline, signal);
        this.pinnedHostKey = state.hostPublicKey;
        await this.resume(
          deadline,
          signal,
          this.workspaceDisk === "workspace" ? state.workspaceDir : void 0
        );
      }
      /** Powers the guest off from inside (file systems synced) and waits for QEMU to exit. */
      async shutdown(timeoutMs, signal) {
        const qemu = this.requireQemu();
        await this.exec("sudo systemctl poweroff || sudo poweroff", {
          signal: AbortSignal.any([signal, AbortSignal.timeout(5e3)])
        }).catch(() => void 0);
        await this.closeConnections();
        const waited = new AbortController();
        try {
          const exit = await Promise.race([
            qemu.exited,
            sleep3(timeoutMs, void 0, { signal: AbortSignal.any([signal, waited.signal]) })
          ]);
          if (!exit) throw new Error(`the guest did not power off within ${timeoutMs / 1e3}s`);
        } finally {
          waited.abort();
        }
      }
      /** Stops QEMU and starts over with a fresh overlay over the image (after a failed restore). */
      async reset(signal) {
        await this.closeConnections();
        await this.qemu?.stop();
        this.qemu = void 0;
        this.pinnedHostKey = this.hostKey.publicKey;
        await rm5(this.overlayPath, { force: true });
        await rm5(this.folder.file(RunFiles.memory), { force: true });
        await this.createOverlay(signal);
        this.workspaceDisk = "none";
        this.mountedWorkspace = false;
      }
      /**
       * Continues a stopped guest, wakes it with this run's clock, name, randomness and key, and
       * has it mount its workspace disk on `workspaceDir`.
       */
      async resume(deadline, signal, workspaceDir) {
        const wake = await this.wakeChannel(signal);
        await this.requireQmp().execute("cont");
        wake.send(
          buildWakeLine({
            now: /* @__PURE__ */ new Date(),
            hostname: `kvmci-${this.id}`,
            seed: randomBytes(32).toString("hex"),
            authorizedKey: this.clientKey.publicKey,
            workspaceDir: workspaceDir && mountableWorkdir(workspaceDir) ? workspaceDir : void 0
          })
        );
        const awake = wake.waitFor("awake", wakeTimeoutMs, signal);
        const stop = new AbortController();
        const connected = this.connectSsh(
          deadline,
          AbortSignal.any([signal, stop.signal]),
          Date.now(),
          true,
          awake
        );
        connected.catch(() => void 0);
        try {
          this.mountedWorkspace = workspaceDir !== void 0 && (await awake).includes("workspace");
        } catch (error) {
          stop.abort();
          throw error;
        }
        await connected;
      }
      async wakeChannel(signal) {
        this.wake ??= await WakeChannel.connect(this.folder.file(RunFiles.wake), signal);
        return this.wake;
      }
      async waitForMigration(what, deadline, signal) {
        const qmp = this.requireQmp();
        for (; ; ) {
          signal.throwIfAborted();
          if (Date.now() >= deadline)
            throw new Error(`QEMU did not ${what} the guest's state before the boot deadline`);
          const info = await qmp.execute("query-migrate");
          if (info.status === "completed") return;
          if (info.status === "failed" || info.status === "cancelled")
            throw new Error(
              `QEMU could not ${what} the guest's state: ${info["error-desc"] ?? info.status}`
            );
          await sleep3(migrationPollMs, void 0, { signal });
        }
      }
      /**
       * Waits until SSH answers with the pinned host key (`onSsh` is called then) and cloud-init has
       * finished. Gives up at the deadline, or at once if QEMU exits.
       */
      async waitReady(deadline, signal, onSsh) {
        const started = Date.now();
        for (; ; ) {
          await this.connectSsh(deadline, signal, started);
          onSsh?.();
          const result = await this.waitForCloudInit(deadline, signal);
          if (result.kind === "done") return { cloudInitErrors: parseCloudInitErrors(result.text) };
          if (result.kind === "timeout")
            throw await this.timeoutFailure(
              "SSH answered; waiting for cloud-init to finish",
              "cloud-init had not written its result",
              started
            );
          await this.ssh?.[Symbol.asyncDispose]();
          this.ssh = void 0;
        }
      }
      /**
       * Connects SSH with the pinned host key, retrying until the deadline or QEMU's exit. `awake`:
       * sshd is known to run (a restored guest): connect at once, without first waiting for its
       * banner on a connection of its own (each connection costs sshd a fork and exec, a few
       * hundred milliseconds under emulation).
       */
      async connectSsh(deadline, signal, started, awake = false, authorizedWhen) {
        const qemu = this.requireQemu();
        const stage2 = `waiting for SSH on 127.0.0.1:${this.sshPort}`;
        let lastError = "no answer yet";
        let probe2 = !awake;
        while (!this.ssh) {
          signal.throwIfAborted();
          if (qemu.hasExited) throw await this.stoppedFailure("during boot");
          if (Date.now() >= deadline) throw await this.timeoutFailure(stage2, lastError, started);
          const banner = probe2 ? await sshBannerSeen(this.sshPort, bannerTimeoutMs, signal) : { ok: true };
          probe2 = true;
          if (!banner.ok) {
            lastError = banner.reason;
            await sleep3(pollMs, void 0, { signal });
            continue;
          }
          try {
            this.ssh = await SshSession.connect(
              {
                host: "127.0.0.1",
                port: this.sshPort,
                user: this.user,
                privateKey: this.clientKey.privateKey,
                hostPublicKey: this.pinnedHostKey,
                authorizedWhen
              },
              Math.max(1e3, Math.min(sshHandshakeTimeoutMs, deadline - Date.now()))
            );
          } catch (error) {
            if (error instanceof HostKeyMismatchError) throw error;
            lastError = errorMessage(error);
            await sleep3(pollMs, void 0, { signal });
          }
        }
      }
      async waitForCloudInit(deadline, signal) {
        try {
          return await waitForCloudInit(this.ssh, deadline, signal);
        } catch (error) {
          signal.throwIfAborted();
          if (await this.exitedWithin(1e3)) throw await this.stoppedFailure("while cloud-init ran");
          throw await this.failure(
            "guestBoot",
            `Waiting for cloud-init failed: ${errorMessage(error)}`,
            {
              cause: error
            }
          );
        }
      }
      /** Runs a command over the guest's SSH session. */
      exec(command, io = {}) {
        if (!this.ssh) throw new Error("The guest is not ready");
        return this.ssh.exec(command, io);
      }
      /** Explains why the session ended if the guest went away, for errors during exec. */
      async lostFailure(cause) {
        const exit = await this.exitedWithin(1e3);
        const panic = panicLine(await this.consoleTail(200));
        const what = panic ? "The guest's kernel panicked (the console below says why)" : exit ? `The guest stopped${exitSummary(exit)}` : cause instanceof KvmciError ? cause.message : "The SSH connection to the guest was lost";
        return this.failure("guestLost", what, {
          exit,
          cause,
          lead: panic ? [`the panic: ${panic}`] : []
        });
      }
      consoleTail(lines = consoleTailLines) {
        return readConsoleTail(this.consolePath, lines);
      }
      /** QEMU runs and an SSH session is open: commands (and a shell) can run now. */
      get reachable() {
        return this.running && this.ssh !== void 0;
      }
      /** The loopback port the guest's SSH is forwarded to. */
      get port() {
        return this.sshPort;
      }
      /**
       * Leaves the guest running after this run, until `untilMs`: its keeper stops it then. The
       * login key and the pinned host key go into its run folder (0600) for `kvmci ssh`, the folder
       * is handed to the keeper (a later run's clean-up removes it once the keeper is gone), and
       * disposing this Guest no longer stops anything. Returns the keeper's identity.
       */
      async keep(untilMs) {
        const qemu = this.requireQemu();
        await writeFile8(this.folder.file(RunFiles.clientKey), this.clientKey.privateKey, {
          mode: 384
        });
        const [type, key] = this.pinnedHostKey.trim().split(/\s+/);
        await writeFile8(
          this.folder.file(RunFiles.knownHosts),
          `[127.0.0.1]:${this.sshPort} ${type} ${key}
`,
          { mode: 384 }
        );
        const keeper = await identifyProcess(qemu.pid);
        await writeFile8(this.folder.file(RunFiles.owner), JSON.stringify(keeper), { mode: 384 });
        qemu.keep(untilMs);
        this.kept = true;
        await this.closeConnections();
        return keeper;
      }
      async [Symbol.asyncDispose]() {
        if (this.kept) {
          if (this.spec.consoleLogCopy)
            await copyFile2(this.consolePath, this.spec.consoleLogCopy).catch(() => void 0);
          return;
        }
        const problems = [];
        const attempt = async (step) => {
          try {
            await step();
          } catch (error) {
            problems.push(error);
          }
        };
        await attempt(() => this.closeConnections());
        if (this.qemu) await attempt(() => this.qemu.stop());
        if (this.spec.consoleLogCopy)
          await attempt(() => copyFile2(this.consolePath, this.spec.consoleLogCopy));
        await attempt(() => this.folder[Symbol.asyncDispose]());
        if (problems.length > 0) {
          throw new AggregateError(problems, `Teardown of guest ${this.spec.name} was incomplete`);
        }
      }
      async closeConnections() {
        await this.ssh?.[Symbol.asyncDispose]();
        await this.wake?.[Symbol.asyncDispose]();
        await this.qmp?.[Symbol.asyncDispose]();
        this.ssh = void 0;
        this.wake = void 0;
        this.qmp = void 0;
      }
      requireQmp() {
        if (!this.qmp) throw new Error("QEMU was not launched");
        return this.qmp;
      }
      requireQemu() {
        if (!this.qemu) throw new Error("QEMU was not launched");
        return this.qemu;
      }
      async exitedWithin(ms) {
        return Promise.race([this.requireQemu().exited, sleep3(ms).then(() => void 0)]);
      }
      async stoppedFailure(when) {
        const exit = await this.requireQemu().exited;
        return this.failure("guestBoot", `The guest stopped ${when}${exitSummary(exit)}`, { exit });
      }
      /** An error with QEMU's last words, the console tail, and what to do next. */
      async failure(code, message, o = {}) {
        const qemuLines = o.exit ? tailLines(o.exit.stderr, 5).map((l) => `qemu: ${l}`) : [];
        const consoleLines = await this.consoleTail();
        return new KvmciError(code, message, {
          hint: o.hint ?? this.consoleHint(),
          details: [
            ...o.lead ?? [],
            ...qemuLines,
            ...consoleLines.length ? ["last lines of the guest console:", ...consoleLines.map((l) => `  ${l}`)] : ["the guest console is empty"]
          ],
          cause: o.cause
        });
      }
      async timeoutFailure(stage2, lastError, started) {
        const waited = Math.round((Date.now() - started) / 1e3);
        const failedUnits = failedUnitsOnConsole(await this.consoleTail(2e3));
        const hint = this.spec.accel === "tcg" ? "Raise --boot-timeout if this host is slow (software emulation is much slower than KVM)." : "KVM is in use: on some hosts (nested virtualisation) /dev/kvm opens but 64-bit guests hang; if the console below stops early, try --accel tcg, or raise --boot-timeout if this host is just slow.";
        return this.failure(
          "guestBoot",
          `The guest was not ready after ${waited}s: ${stage2} (last attempt: ${lastError})`,
          {
            hint: `${hint} ${this.consoleHint()}`,
            lead: failedUnits.length ? [`systemd in the guest failed to start: ${failedUnits.join(", ")}`] : []
          }
        );
      }
      consoleHint() {
        return this.spec.consoleLogCopy ? `The whole console log is kept at ${this.spec.consoleLogCopy}.` : "Run again with --console-log FILE to keep the whole console log.";
      }
    };
  }
});

// src/snapshot/key.ts
import { createHash as createHash3 } from "node:crypto";
import { readFile as readFile10 } from "node:fs/promises";
function machineArgs(spec) {
  return buildQemuArgs({
    ...spec,
    // Saved and restored guests have their memory in a file (shared when saved, mapped
    // copy-on-write when restored): one machine.
    memoryFile: { path: "MEMORY", shared: false },
    boot: spec.boot.kind === "kernel" ? { ...spec.boot, kernel: "KERNEL", initrd: "INITRD" } : spec.boot.kind === "uefi" ? { ...spec.boot, vars: "VARS" } : spec.boot,
    lan: spec.lan ? { ...spec.lan, socketPath: "LAN" } : void 0,
    name: "NAME",
    overlayPath: "OVERLAY",
    seedPath: "SEED",
    workspaceDiskPath: "WORKSPACE",
    consolePath: "CONSOLE",
    sshPort: 0,
    qmpPath: "QMP",
    wakePath: "WAKE",
    pidPath: "PID"
  });
}
function snapshotKey(parts) {
  const canonical = JSON.stringify([
    snapshotFormat,
    parts.imageDigest,
    parts.qemuVersion,
    parts.machine,
    parts.hostCpu ?? null,
    canonicalJson(parts.userData ?? null),
    parts.diskBytes,
    createHash3("sha256").update(parts.wakeAgent).digest("hex")
  ]);
  return createHash3("sha256").update(canonical).digest("hex");
}
function canonicalJson(value) {
  return JSON.stringify(
    value,
    (_key, v) => v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) : v
  );
}
async function hostCpuIdentity(cpuinfo) {
  const text = cpuinfo ?? await readFile10("/proc/cpuinfo", "utf8");
  return parseCpuIdentity(text);
}
function parseCpuIdentity(cpuinfo) {
  const first = cpuinfo.split(/\n\s*\n/)[0] ?? "";
  const field = (name) => new RegExp(`^${name}\\s*:\\s*(.*)$`, "m").exec(first)?.[1]?.trim() ?? "?";
  if (!/^vendor_id\s*:/m.test(first) && /^CPU implementer\s*:/m.test(first)) {
    const features = field("Features").split(/\s+/).sort().join(" ");
    return [
      `implementer ${field("CPU implementer")}`,
      `part ${field("CPU part")}`,
      `variant ${field("CPU variant")}`,
      `revision ${field("CPU revision")}`,
      `features ${createHash3("sha256").update(features).digest("hex").slice(0, 16)}`
    ].join(", ");
  }
  const flags = field("flags").split(/\s+/).sort().join(" ");
  const flagsHash = createHash3("sha256").update(flags).digest("hex").slice(0, 16);
  return [
    field("vendor_id"),
    `family ${field("cpu family")}`,
    `model ${field("model")}`,
    `stepping ${field("stepping")}`,
    field("model name"),
    `flags ${flagsHash}`
  ].join(", ");
}
var snapshotFormat;
var init_key = __esm({
  "src/snapshot/key.ts"() {
    "use strict";
    init_args();
    snapshotFormat = 9;
  }
});

// src/guest/provision.ts
import { createHash as createHash4 } from "node:crypto";
function prepareKey(baseDigest, p, diskBytes) {
  const canonical = canonicalJson([
    prepareFormat,
    baseDigest,
    [...p.packages].sort(),
    p.script ?? null,
    p.cloudConfig ?? null,
    diskBytes ?? null,
    // The same release for the same CPU is the same build; where it lies on the host is not.
    p.node ? [p.node.version, p.node.npmVersion ?? null, p.node.arch, p.node.sizeBytes] : null
  ]);
  return createHash4("sha256").update(canonical).digest("hex");
}
function buildInstallCommand(packages) {
  const names = shellJoin(packages);
  return [
    "set -e",
    "if command -v apt-get >/dev/null; then",
    "  export DEBIAN_FRONTEND=noninteractive",
    "  sudo -E apt-get update -q",
    `  sudo -E apt-get install -y -q --no-install-recommends ${names}`,
    "elif command -v dnf >/dev/null; then",
    `  sudo dnf install -y -q ${names}`,
    "else",
    "  echo 'kvmci: this image has neither apt-get nor dnf to install packages with' >&2",
    "  exit 127",
    "fi"
  ].join("\n");
}
function buildCleanupCommand(user) {
  const script = [
    "set -u",
    "home=$(getent passwd " + user + " | cut -d: -f6)",
    "if command -v apt-get >/dev/null; then apt-get clean; fi",
    "if command -v dnf >/dev/null; then dnf clean all -q; fi",
    "cloud-init clean --logs >/dev/null 2>&1 || rm -rf /var/lib/cloud/instances /var/lib/cloud/instance /var/log/cloud-init*",
    "rm -f /etc/ssh/ssh_host_*",
    'rm -f "$home/.ssh/authorized_keys" "$home/.bash_history" /root/.bash_history',
    ": > /etc/machine-id",
    "rm -f /var/lib/dbus/machine-id",
    "rm -rf /var/log/journal/* /var/tmp/* /tmp/*",
    "find /var/log -type f -exec truncate -s 0 {} + 2>/dev/null",
    "sync",
    "fstrim -a >/dev/null 2>&1 || true"
  ].join("\n");
  return `sudo sh -c ${shellJoin([script])}`;
}
var prepareFormat, nodeInstallCommand, runScriptCommand;
var init_provision = __esm({
  "src/guest/provision.ts"() {
    "use strict";
    init_key();
    init_shell_quote();
    prepareFormat = 2;
    nodeInstallCommand = "set -e; sudo tar -x -f - -C /usr/local --no-same-owner; /usr/local/bin/node --version; if [ -e /usr/local/bin/npm ]; then /usr/local/bin/npm --version; fi";
    runScriptCommand = "sudo -E sh -c 'f=/root/.kvmci-provision; cat > $f && chmod 700 $f && cd /root && $f; code=$?; rm -f $f; exit $code'";
  }
});

// src/cache/lock.ts
import { randomBytes as randomBytes2 } from "node:crypto";
import { link, mkdir as mkdir5, readFile as readFile11, rename as rename4, rm as rm6, stat as stat5, utimes as utimes3, writeFile as writeFile9 } from "node:fs/promises";
import { dirname as dirname5 } from "node:path";
import { setTimeout as sleep4 } from "node:timers/promises";
async function acquireLock(path, options = {}) {
  const self = await identifyProcess();
  await mkdir5(dirname5(path), { recursive: true, mode: 448 });
  const deadline = Date.now() + (options.timeoutMs ?? 60 * 6e4);
  let waited = false;
  for (; ; ) {
    options.signal?.throwIfAborted();
    if (await tryCreate(path, self)) return held(path, self);
    const holder = await readHolder(path);
    if (holder === "gone") continue;
    if (await isAbandoned(path, holder, self)) {
      await breakLock(path, holder);
      continue;
    }
    if (!waited && holder !== "unreadable") options.onWait?.(holder);
    waited = true;
    if (Date.now() > deadline) {
      throw new KvmciError("image", `Timed out waiting for the cache lock ${path}`, {
        hint: holder === "unreadable" ? "Delete the lock file if no kvmci is running." : `kvmci (pid ${holder.pid} on ${holder.host}) still holds it; wait for it or stop it.`
      });
    }
    await sleep4(options.pollMs ?? 250, void 0, { signal: options.signal });
  }
}
async function tryCreate(path, self) {
  const staging = `${path}.${self.pid}-${randomBytes2(4).toString("hex")}`;
  await writeFile9(staging, JSON.stringify(self), { mode: 384 });
  try {
    await link(staging, path);
    return true;
  } catch (error) {
    if (error.code === "EEXIST") return false;
    throw error;
  } finally {
    await rm6(staging, { force: true });
  }
}
async function readHolder(path) {
  try {
    return JSON.parse(await readFile11(path, "utf8"));
  } catch (error) {
    return error.code === "ENOENT" ? "gone" : "unreadable";
  }
}
async function isAbandoned(path, holder, self) {
  if (holder !== "unreadable") {
    const running = await isProcessRunning(holder, self);
    if (running !== void 0) return !running;
  }
  try {
    return Date.now() - (await stat5(path)).mtimeMs > abandonedAfterMs;
  } catch {
    return false;
  }
}
async function breakLock(path, seen) {
  const aside = `${path}.broken-${process.pid}-${randomBytes2(4).toString("hex")}`;
  try {
    await rename4(path, aside);
  } catch (error) {
    if (error.code === "ENOENT") return;
    throw error;
  }
  const moved = await readHolder(aside);
  const same = seen === "unreadable" ? moved === "unreadable" : typeof moved === "object" && moved.pid === seen.pid && moved.startTicks === seen.startTicks;
  if (!same) await link(aside, path).catch(() => void 0);
  await rm6(aside, { force: true });
}
function held(path, self) {
  const heartbeat = setInterval(() => {
    const now = /* @__PURE__ */ new Date();
    utimes3(path, now, now).catch(() => void 0);
  }, heartbeatMs);
  heartbeat.unref();
  return {
    async [Symbol.asyncDispose]() {
      clearInterval(heartbeat);
      const holder = await readHolder(path);
      if (typeof holder === "object" && holder.pid === self.pid && holder.startTicks === self.startTicks)
        await rm6(path, { force: true });
    }
  };
}
var heartbeatMs, abandonedAfterMs;
var init_lock = __esm({
  "src/cache/lock.ts"() {
    "use strict";
    init_errors();
    init_process_identity();
    heartbeatMs = 5e3;
    abandonedAfterMs = 3e4;
  }
});

// src/cache/in-use.ts
import { randomBytes as randomBytes3 } from "node:crypto";
import { mkdir as mkdir6, readdir as readdir6, readFile as readFile12, rm as rm7, writeFile as writeFile10 } from "node:fs/promises";
import { join as join14 } from "node:path";
async function markInUse(cacheDir, entry, signal) {
  const dir = cachePath(cacheDir, "inUse");
  await mkdir6(dir, { recursive: true, mode: 448 });
  const file = join14(dir, `${process.pid}-${randomBytes3(4).toString("hex")}.json`);
  const record = { owner: await identifyProcess(), entry };
  {
    var _stack = [];
    try {
      const _removals = __using(_stack, await holdRemovals(cacheDir, signal), true);
      await writeFile10(file, JSON.stringify(record), { mode: 384 });
    } catch (_) {
      var _error = _, _hasError = true;
    } finally {
      var _promise = __callDispose(_stack, _error, _hasError);
      _promise && await _promise;
    }
  }
  return { [Symbol.asyncDispose]: () => rm7(file, { force: true }) };
}
function holdRemovals(cacheDir, signal) {
  return acquireLock(cachePath(cacheDir, "locks", "removals.lock"), { signal });
}
async function entriesInUse(cacheDir, prune = false) {
  const dir = cachePath(cacheDir, "inUse");
  const used = /* @__PURE__ */ new Map();
  let files;
  try {
    files = await readdir6(dir);
  } catch {
    return used;
  }
  const self = await identifyProcess();
  for (const file of files) {
    let record;
    try {
      record = JSON.parse(await readFile12(join14(dir, file), "utf8"));
    } catch {
      continue;
    }
    if (await isProcessRunning(record.owner, self) === false) {
      if (prune) await rm7(join14(dir, file), { force: true });
      continue;
    }
    used.set(record.entry, [...used.get(record.entry) ?? [], record.owner.pid]);
  }
  return used;
}
async function markInUseBy(cacheDir, entry, owner) {
  var _stack = [];
  try {
    const dir = cachePath(cacheDir, "inUse");
    await mkdir6(dir, { recursive: true, mode: 448 });
    const file = join14(dir, `${owner.pid}-${randomBytes3(4).toString("hex")}.json`);
    const record = { owner, entry };
    const _removals = __using(_stack, await holdRemovals(cacheDir), true);
    await writeFile10(file, JSON.stringify(record), { mode: 384 });
  } catch (_) {
    var _error = _, _hasError = true;
  } finally {
    var _promise = __callDispose(_stack, _error, _hasError);
    _promise && await _promise;
  }
}
var init_in_use = __esm({
  "src/cache/in-use.ts"() {
    "use strict";
    init_process_identity();
    init_layout();
    init_lock();
  }
});

// src/image/entry-lock.ts
async function withEntryLock(options, entryName, fn) {
  var _stack = [];
  try {
    const _lock = __using(_stack, await acquireLock(cachePath(options.cacheDir, "locks", `${entryName}.lock`), {
      signal: options.signal,
      onWait: (holder) => options.onNote?.(
        `another kvmci (pid ${holder.pid}) is preparing ${entryName}; waiting for it instead of doing it twice`
      )
    }), true);
    return await fn();
  } catch (_) {
    var _error = _, _hasError = true;
  } finally {
    var _promise = __callDispose(_stack, _error, _hasError);
    _promise && await _promise;
  }
}
var init_entry_lock = __esm({
  "src/image/entry-lock.ts"() {
    "use strict";
    init_layout();
    init_lock();
  }
});

// src/run/prepare.ts
import { copyFile as copyFile3, rm as rm8 } from "node:fs/promises";
import { join as join15, relative as relative3 } from "node:path";
import { Readable as Readable2 } from "node:stream";
function nodeArchProblem(node, arch2, image) {
  if (node.arch === arch2) return void 0;
  return {
    message: `The Node.js to copy into the guest (${node.binary}, ${node.version}) is built for ${node.arch} and cannot run in the ${arch2} guest ${image}`,
    hint: `Give node: package to install the distribution's Node.js for ${arch2} in the guest, node: PATH with an ${arch2} node binary, or node: none.`
  };
}
function preparedEntryName(base, key) {
  return imageEntryName(`${base.info.name}-prepared`, key);
}
async function prepareImage(base, provision2, o) {
  const problem = provision2.node && nodeArchProblem(provision2.node, o.arch, base.info.name);
  if (problem) throw new KvmciError("usage", problem.message, { hint: problem.hint });
  const key = prepareKey(base.info.digest, provision2, o.diskBytes);
  const entry = preparedEntryName(base, key);
  const events = {
    cacheDir: o.cacheDir,
    signal: o.signal,
    onNote: (message) => o.emit({ type: "note", message })
  };
  const cached = await findIntactEntry(o.cacheDir, entry, events);
  if (cached) return { image: cached, reused: true };
  return withEntryLock(events, entry, async () => {
    const again = await findIntactEntry(o.cacheDir, entry, events);
    if (again) return { image: again, reused: true };
    return { image: await provisionAndSave(base, provision2, key, entry, o), reused: false };
  });
}
async function provisionAndSave(base, provision2, key, entry, o) {
  var _stack = [];
  try {
    const { signal, emit } = o;
    const progress = (message) => emit({ type: "progress", phase: "prepare", message });
    const output = (stream) => (chunk) => emit({ type: "output", stream, chunk });
    const guest = __using(_stack, await Guest.create(
      {
        name: base.info.name,
        image: base,
        arch: o.arch,
        accel: o.accel,
        cpu: o.cpu,
        cpus: o.cpus,
        memoryBytes: o.memoryBytes,
        diskBytes: o.diskBytes,
        boot: o.boot,
        network: "user",
        extraUserData: o.trust ? provision2.cloudConfig ? mergeCloudConfig(o.trust, provision2.cloudConfig) : o.trust : provision2.cloudConfig,
        consoleLogCopy: o.consoleLog
      },
      o.tmpdir
    ), true);
    await guest.createOverlay(signal);
    await guest.writeSeed(o.now());
    progress("booting the image to provision it");
    await guest.launch(signal);
    const ready = await guest.waitReady(Date.now() + o.bootTimeoutMs, signal);
    for (const problem of ready.cloudInitErrors)
      emit({ type: "warning", message: `cloud-init reported (provisioning boot): ${problem}` });
    const withEnv = (command) => Object.keys(o.env).length ? `${Object.entries(o.env).map(([k, v]) => `export ${k}=${shellQuote(v)}`).join("; ")}; ${command}` : command;
    const step = async (what, command, stdin) => {
      progress(what);
      emit({ type: "note", message: `provisioning: ${what}` });
      let result;
      try {
        result = await guest.exec(withEnv(command), {
          stdin: stdin === void 0 ? void 0 : Readable2.from([stdin]),
          onStdout: output("stdout"),
          onStderr: output("stderr"),
          signal
        });
      } catch (error) {
        signal.throwIfAborted();
        throw await guest.lostFailure(error);
      }
      signal.throwIfAborted();
      if (result.code !== 0) {
        throw new KvmciError(
          "provision",
          `Provisioning failed: ${what} exited with code ${result.code}`,
          {
            hint: "Its output is above. Nothing was cached; fix the provisioning and run again."
          }
        );
      }
    };
    if (provision2.packages.length > 0)
      await step(
        `installing ${provision2.packages.join(", ")}`,
        buildInstallCommand(provision2.packages)
      );
    if (provision2.node) {
      const node = provision2.node;
      progress(`copying Node.js ${node.version} from the host`);
      emit({
        type: "note",
        message: `provisioning: Node.js ${node.version}${node.npmVersion ? ` with npm ${node.npmVersion}` : ""} from ${node.prefix} into /usr/local (once; later runs use the prepared image)`
      });
      const tar = startHostTar(["tar", "-c", "-f", "-", "-C", node.prefix, ...node.entries], {
        signal
      });
      const guestOutput = [];
      const result = await guest.exec(withEnv(nodeInstallCommand), {
        stdin: tar.archive,
        onStdout: (chunk) => guestOutput.push(chunk),
        onStderr: (chunk) => guestOutput.push(chunk),
        signal
      }).catch(async (error) => {
        signal.throwIfAborted();
        throw await guest.lostFailure(error);
      });
      const packed = await tar.done;
      signal.throwIfAborted();
      if (packed.exitCode !== 0 || result.code !== 0)
        throw new KvmciError(
          "provision",
          `The host's Node.js ${node.version} (${node.binary}) does not run in the ${base.info.name} guest`,
          {
            details: tailLines(`${packed.stderr}
${Buffer.concat(guestOutput).toString()}`, 8),
            hint: "Give node: package to install the distribution's Node.js instead, node: /path/to/node for another build (an official nodejs.org one runs on most distributions), or node: none."
          }
        );
    }
    if (provision2.script !== void 0)
      await step(
        `running the script from ${provision2.scriptSource ?? "kvmci.yml"}`,
        runScriptCommand,
        provision2.script
      );
    await step("cleaning what each guest must have of its own", buildCleanupCommand(guest.user));
    progress("powering off");
    try {
      await guest.shutdown(12e4, signal);
    } catch (error) {
      if (isKvmciError(error) || signal.aborted) throw error;
      throw new KvmciError("provision", `Provisioning failed: ${error.message}`);
    }
    progress("saving the prepared image");
    const partial = await createPartialEntry(o.cacheDir, entry);
    try {
      const disk = join15(partial, ImageFiles.disk);
      await copyFile3(guest.overlayPath, disk);
      await rebaseOverlay(
        {
          path: disk,
          backingFile: base.entry ? relative3(join15(imagesDir(o.cacheDir), entry), base.diskPath) : base.diskPath,
          backingFormat: base.info.format
        },
        signal
      );
      for (const file of [base.info.boot.kernel, base.info.boot.initrd])
        if (file) await copyFile3(join15(base.dir, file), join15(partial, file));
      const info = {
        ...base.info,
        digest: formatDigest(await digestFile(disk, "sha256", signal)),
        format: "qcow2",
        virtualSize: o.diskBytes ?? base.info.virtualSize,
        source: {
          kind: "prepared",
          key,
          base: base.entry ?? base.diskPath,
          baseDigest: base.info.digest,
          packages: provision2.packages
        },
        createdAt: o.now().toISOString()
      };
      return await commitEntry(partial, o.cacheDir, entry, info);
    } catch (error) {
      await rm8(partial, { recursive: true, force: true });
      throw error;
    }
  } catch (_) {
    var _error = _, _hasError = true;
  } finally {
    var _promise = __callDispose(_stack, _error, _hasError);
    _promise && await _promise;
  }
}
async function prepareForRun(base, provision2, o) {
  for (; ; ) {
    const prepared = await prepareImage(base, provision2, o);
    const entry = prepared.image.entry;
    const inUse = await markInUse(o.cacheDir, entry, o.signal);
    if (!await findCachedEntry(o.cacheDir, entry)) {
      await inUse[Symbol.asyncDispose]();
      continue;
    }
    o.emit({
      type: "note",
      message: prepared.reused ? `using prepared image ${entry} (provisioning unchanged)` : `saved prepared image ${entry}; later runs skip provisioning until it changes`
    });
    await touchLastUsed(prepared.image);
    return { ...prepared, inUse };
  }
}
var init_prepare = __esm({
  "src/run/prepare.ts"() {
    "use strict";
    init_user_data();
    init_overlay();
    init_errors();
    init_guest();
    init_provision();
    init_host_tar();
    init_shell_quote();
    init_text();
    init_in_use();
    init_cache();
    init_digest();
    init_entry_lock();
  }
});

// src/run/preflight.ts
import { stat as stat6 } from "node:fs/promises";
import { dirname as dirname6 } from "node:path";
async function checkBeforeStart(config, guests, host, flagPrefix = "--") {
  const problems = [];
  const largest = largestGuestBytes(host.totalMemoryBytes);
  for (const { name, config: guest } of guests) {
    const who = guests.length > 1 ? ` (${name})` : "";
    if (guest.memoryBytes > largest)
      problems.push(
        `${flagPrefix}memory${who}: ${formatSize(guest.memoryBytes)} is more than this host can give a guest (${formatSize(largest)}: its ${formatSize(host.totalMemoryBytes)} less 1 GiB for itself)`
      );
    if (guest.accel === "kvm" && guest.arch !== host.arch)
      problems.push(
        `${flagPrefix}accel${who}: kvm runs guests of this host's own architecture (${host.arch ?? "unknown"}) only, and the guest is ${guest.arch}; leave accel at auto (or tcg) to emulate it`
      );
    const node = guest.provision?.node;
    const nodeProblem = node && nodeArchProblem(node, guest.arch, guest.image);
    if (nodeProblem)
      problems.push(`${flagPrefix}node${who}: ${nodeProblem.message}. ${nodeProblem.hint}`);
    if (guest.artifacts.length > 0) {
      const problem = await checkArtifactsDir(guest.artifactsDir);
      if (problem) problems.push(`${flagPrefix}artifacts-dir${who}: ${problem}`);
    }
  }
  if (config.topology) {
    const together = guests.reduce((sum, g) => sum + g.config.memoryBytes, 0);
    if (together > largest)
      problems.push(
        `guests: their memory together (${formatSize(together)}) is more than this host can give its guests (${formatSize(largest)}); they run at once`
      );
  }
  for (const [option, path] of [
    ["json", config.json],
    ["console-log", config.consoleLog]
  ]) {
    if (!path) continue;
    const problem = await folderProblem(path);
    if (problem) problems.push(`${flagPrefix}${option}: ${problem}`);
  }
  return [...new Set(problems)];
}
async function folderProblem(file) {
  const folder = dirname6(file);
  try {
    if (!(await stat6(folder)).isDirectory()) return `${folder} is not a folder`;
  } catch {
    return `the folder ${folder} does not exist (create it first)`;
  }
  return void 0;
}
var init_preflight = __esm({
  "src/run/preflight.ts"() {
    "use strict";
    init_size();
    init_artifacts();
    init_schedule();
    init_prepare();
  }
});

// src/host/remove-tree.ts
import { readFile as readFile13, rm as rm9 } from "node:fs/promises";
import { execa as execa8 } from "execa";
async function removeTree(dir, withSudo = false) {
  const mounts = await mountsBelow(dir);
  if (mounts.length > 0) {
    throw new Error(
      `Not deleting ${dir}: file systems are still mounted inside it (${mounts.join(", ")}); unmount them first`
    );
  }
  try {
    await rm9(dir, { recursive: true, force: true });
  } catch (error) {
    if (!withSudo || error.code !== "EACCES") throw error;
    await execa8("sudo", ["-n", "rm", "-rf", "--one-file-system", "--", dir], { stdin: "ignore" });
  }
}
async function mountsBelow(dir) {
  let text;
  try {
    text = await readFile13("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const prefix2 = dir.endsWith("/") ? dir : `${dir}/`;
  return text.split("\n").map((line) => line.split(" ")[4] ?? "").map((point) => point.replace(/\\040/g, " ")).filter((point) => point.startsWith(prefix2));
}
var init_remove_tree = __esm({
  "src/host/remove-tree.ts"() {
    "use strict";
  }
});

// src/image/mbr.ts
function buildDiskHeader(spec) {
  const { boot } = spec;
  if (boot && boot.bootCode.length < 440)
    throw new Error(`boot.img is ${boot.bootCode.length} bytes, expected 512`);
  if (boot && boot.coreImage.length > headerBytes - sectorSize) {
    throw new Error(`core.img is ${boot.coreImage.length} bytes; it must fit in the first MiB`);
  }
  const header = Buffer.alloc(headerBytes);
  boot?.bootCode.copy(header, 0, 0, 440);
  header.writeUInt32LE(spec.diskId >>> 0, 440);
  const sectors = Math.floor(spec.diskBytes / sectorSize) - partitionStart;
  const entry = header.subarray(446, 462);
  entry[0] = boot ? 128 : 0;
  entry.set([254, 255, 255], 1);
  entry[4] = 131;
  entry.set([254, 255, 255], 5);
  entry.writeUInt32LE(partitionStart, 8);
  entry.writeUInt32LE(sectors, 12);
  header[510] = 85;
  header[511] = 170;
  boot?.coreImage.copy(header, sectorSize);
  return header;
}
function formatDiskId(diskId) {
  return (diskId >>> 0).toString(16).padStart(8, "0");
}
var sectorSize, partitionStart, headerBytes;
var init_mbr = __esm({
  "src/image/mbr.ts"() {
    "use strict";
    sectorSize = 512;
    partitionStart = 2048;
    headerBytes = partitionStart * sectorSize;
  }
});

// src/image/build.ts
import { randomInt } from "node:crypto";
import {
  access as access6,
  chmod as chmod3,
  copyFile as copyFile4,
  mkdir as mkdir7,
  mkdtemp as mkdtemp3,
  open as open7,
  readFile as readFile14,
  writeFile as writeFile11
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join as join16 } from "node:path";
function buildMmdebstrapArgs(recipe, o) {
  const fsKib = Math.floor(recipe.sizeBytes / 1024) - 1024;
  const shellLine = (parts) => parts.map((part) => part === '"$1"' ? part : `'${part.replace(/'/g, `'\\''`)}'`).join(" ");
  const hook = shellLine([
    "sh",
    recipe.customizeScript,
    '"$1"',
    o.outDir,
    String(fsKib),
    o.diskId,
    recipe.kernelCmdline
  ]);
  const prefix2 = o.mode === "root" ? isolatedBuildPrefix : o.mode === "sudo" ? ["sudo", "-n", "env", `TMPDIR=${o.tmpdir}`, ...isolatedBuildPrefix] : [];
  return [
    ...prefix2,
    "mmdebstrap",
    `--mode=${o.mode === "unshare" ? "unshare" : "root"}`,
    `--arch=${debianArch(recipe.arch)}`,
    `--variant=${recipe.variant}`,
    `--components=${recipe.components.join(",")}`,
    `--include=${recipe.packages.join(",")}`,
    "--format=null",
    ...recipe.essentialScript ? [`--essential-hook=${shellLine(["sh", recipe.essentialScript, '"$1"'])}`] : [],
    `--customize-hook=${hook}`,
    recipe.suite,
    "/dev/null",
    o.mirror
  ];
}
function stepFromLine(line) {
  for (const [pattern, step] of mmdebstrapSteps) {
    const match = pattern.exec(line);
    if (match) return step === "$1" ? match[1] : step;
  }
  return void 0;
}
async function buildRecipeImage(recipe, options) {
  const entryName = imageEntryName(recipe.name, recipe.key);
  const partial = await createPartialEntry(options.cacheDir, entryName);
  const log = [];
  let work;
  try {
    work = await createWorkDir(partial, options.mode);
    const diskId = randomInt(1, 2 ** 32 - 1);
    const raw = join16(work, "disk.raw");
    const handle = await open7(raw, "w", 420);
    await handle.truncate(recipe.sizeBytes);
    await handle.close();
    const scratch = join16(work, "tmp");
    await mkdir7(scratch);
    if (options.mode === "unshare") {
      await chmod3(raw, 438);
      await chmod3(scratch, 511);
    }
    options.onStep?.("starting mmdebstrap");
    const argv = buildMmdebstrapArgs(recipe, {
      mode: options.mode,
      mirror: options.mirror,
      outDir: work,
      diskId: formatDiskId(diskId),
      tmpdir: scratch
    });
    await runCommand(argv, {
      env: { TMPDIR: scratch },
      signal: options.signal,
      // See isolatedBuildPrefix: as root, nothing of the build outlives its namespace. Through
      // sudo, SIGTERM (which sudo passes on) ends unshare, and --kill-child the rest.
      killSignal: options.mode === "root" ? "SIGKILL" : "SIGTERM",
      failureCode: "image",
      hint: mmdebstrapHint(options.mode),
      onLine: (line) => {
        log.push(line);
        const step = stepFromLine(line);
        if (step) options.onStep?.(step);
      }
    });
    if (options.mode === "sudo")
      await runCommand([
        "sudo",
        "-n",
        "chown",
        "-R",
        `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`,
        work
      ]);
    const bios = await access6(join16(work, "core.img")).then(
      () => true,
      () => false
    );
    options.onStep?.(`writing the partition table${bios ? " and bootloader" : ""}`);
    const header = buildDiskHeader({
      boot: bios ? {
        bootCode: await readFile14(join16(work, "boot.img")),
        coreImage: await readFile14(join16(work, "core.img"))
      } : void 0,
      diskId,
      diskBytes: recipe.sizeBytes
    });
    const disk = await open7(raw, "r+");
    await disk.write(header, 0, header.length, 0);
    await disk.close();
    options.onStep?.("converting to qcow2");
    await runCommand(
      ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, join16(partial, ImageFiles.disk)],
      { signal: options.signal, failureCode: "image" }
    );
    await copyFile4(join16(work, "vmlinuz"), join16(partial, ImageFiles.kernel));
    await copyFile4(join16(work, "initrd.img"), join16(partial, ImageFiles.initrd));
    const kernelVersion = (await readFile14(join16(work, "kernel-version"), "utf8")).trim();
    await removeTree(work, options.mode === "sudo");
    work = void 0;
    options.onStep?.("computing the digest");
    const info = {
      name: recipe.name,
      arch: recipe.arch,
      digest: formatDigest(
        await digestFile(join16(partial, ImageFiles.disk), "sha256", options.signal)
      ),
      format: "qcow2",
      user: recipe.user,
      virtualSize: recipe.sizeBytes,
      source: { kind: "recipe", key: recipe.key },
      boot: {
        firmware: bios ? "bios" : "none",
        kernel: ImageFiles.kernel,
        initrd: ImageFiles.initrd,
        cmdline: `root=PARTUUID=${formatDiskId(diskId)}-01 ${recipe.kernelCmdline}`
      },
      createdAt: (options.now?.() ?? /* @__PURE__ */ new Date()).toISOString()
    };
    await writeFile11(
      join16(partial, "build.log"),
      `${formatCommand(argv)}
${log.join("\n")}
kernel ${kernelVersion}
`
    );
    return await commitEntry(partial, options.cacheDir, entryName, info);
  } catch (error) {
    for (const dir of [work, partial]) {
      if (!dir) continue;
      await removeTree(dir, options.mode === "sudo").catch((cleanup) => {
        if (error instanceof KvmciError)
          error.details.push(`also: could not clean up ${dir}: ${String(cleanup)}`);
      });
    }
    throw error;
  }
}
async function createWorkDir(partial, mode) {
  if (mode !== "unshare") {
    const work2 = join16(partial, "work");
    await mkdir7(work2, { mode: 448 });
    return work2;
  }
  const work = await mkdtemp3(join16(tmpdir(), "kvmci-build-"));
  await chmod3(work, 511);
  return work;
}
function mmdebstrapHint(mode) {
  return mode !== "unshare" ? "Check that the Debian mirror is reachable (--mirror URL to use another) and that there is free space in the cache folder." : "Building without root uses unprivileged user namespaces: they must be enabled (sysctl kernel.unprivileged_userns_clone=1) and your user needs ranges in /etc/subuid and /etc/subgid (see `man mmdebstrap`, UNSHARE MODE). Or build once as root: sudo KVMCI_CACHE_DIR=<your cache folder> kvmci image build debian-12.";
}
var isolatedBuildPrefix, mmdebstrapSteps;
var init_build = __esm({
  "src/image/build.ts"() {
    "use strict";
    init_errors();
    init_command();
    init_remove_tree();
    init_mbr();
    init_cache();
    init_digest();
    init_arch();
    isolatedBuildPrefix = [
      "unshare",
      "--mount",
      "--propagation=private",
      "--pid",
      "--fork",
      "--kill-child"
    ];
    mmdebstrapSteps = [
      [/^I: (?:downloading|running apt-get update)/, "downloading packages"],
      [/^I: extracting archives/, "extracting packages"],
      [/^I: installing essential packages/, "installing essential packages"],
      [/^I: installing remaining packages/, "installing packages"],
      [/^kvmci-step: (.+)$/, "$1"]
    ];
  }
});

// src/disk/inspect.ts
import { open as open8 } from "node:fs/promises";
function buildInfoArgs(path) {
  return ["qemu-img", "info", "-U", "--output=json", path];
}
function buildChainArgs(path) {
  return ["qemu-img", "info", "-U", "--backing-chain", "--output=json", path];
}
function parseDiskInfo(json) {
  let data;
  try {
    data = JSON.parse(json);
  } catch {
    return void 0;
  }
  if (typeof data.format !== "string" || typeof data["virtual-size"] !== "number") return void 0;
  const specific = data["format-specific"]?.data;
  return {
    format: data.format,
    virtualSize: data["virtual-size"],
    backingFile: typeof data["backing-filename"] === "string" ? data["backing-filename"] : void 0,
    dataFile: typeof specific?.["data-file"] === "string" ? specific["data-file"] : void 0,
    corrupt: specific?.corrupt === true
  };
}
async function inspectDisk(path, options) {
  const notDisk = (why, hint) => new KvmciError("imageNotDisk", `${options.what} is not a disk image kvmci can use: ${why}`, {
    hint: hint ?? "Give a qcow2 image, or a raw disk image with a partition table."
  });
  let json;
  try {
    json = await runCommand(buildInfoArgs(path), { failureCode: "imageNotDisk" });
  } catch (error) {
    throw notDisk(
      error instanceof KvmciError ? error.details.at(-1) ?? error.message : String(error)
    );
  }
  const info = parseDiskInfo(json);
  if (!info) throw notDisk("qemu-img info gave no format");
  if (info.format !== "qcow2" && info.format !== "raw")
    throw notDisk(
      `it is ${info.format}`,
      `Convert it first: qemu-img convert -O qcow2 ${path} image.qcow2`
    );
  if (info.corrupt) throw notDisk("qemu-img marks the qcow2 image as corrupt");
  if (info.dataFile) throw notDisk(`its data lives in another file (${info.dataFile})`);
  if (info.backingFile && !options.allowBacking)
    throw notDisk(
      `it has a backing file (${info.backingFile}), which could read any file on this host`
    );
  if (info.backingFile) {
    try {
      await runCommand(buildChainArgs(path), { failureCode: "imageNotDisk" });
    } catch (error) {
      const said = error instanceof KvmciError ? error.details.at(-1) ?? "" : String(error);
      const why = said.slice(Math.max(0, said.lastIndexOf("Could not open '")));
      throw notDisk(
        `its backing file ${info.backingFile} cannot be opened (${why})`,
        `Put ${info.backingFile} back where the image expects it (relative to the image's folder), or make a copy that stands alone: qemu-img convert -O qcow2 ${path} standalone.qcow2`
      );
    }
  }
  if (info.format === "raw" && !await hasPartitionTable(path))
    throw notDisk("it has no MBR or GPT partition table (qemu-img calls any file raw)");
  return { ...info, format: info.format };
}
async function hasPartitionTable(path) {
  const handle = await open8(path, "r");
  try {
    const sector2 = Buffer.alloc(1024);
    const { bytesRead } = await handle.read(sector2, 0, 1024, 0);
    if (bytesRead < 512) return false;
    const mbr = sector2[510] === 85 && sector2[511] === 170;
    const gpt = bytesRead >= 520 && sector2.subarray(512, 520).toString("latin1") === "EFI PART";
    return mbr || gpt;
  } finally {
    await handle.close();
  }
}
var init_inspect = __esm({
  "src/disk/inspect.ts"() {
    "use strict";
    init_errors();
    init_command();
  }
});

// src/image/local-file.ts
import { createHash as createHash5 } from "node:crypto";
import { mkdir as mkdir8, readFile as readFile15, realpath as realpath3, stat as stat7, writeFile as writeFile12 } from "node:fs/promises";
import { dirname as dirname7 } from "node:path";
async function localFileImage(path, options) {
  let real;
  try {
    real = await realpath3(path);
  } catch {
    throw new KvmciError("imageUnknown", `No image file at ${path}`, {
      hint: "Check the path; for a catalog image give its name (`kvmci image ls --available`)."
    });
  }
  const info = await inspectDisk(real, { allowBacking: true, what: path });
  const s = await stat7(real);
  const memo2 = cachePath(
    options.cacheDir,
    "fileDigests",
    `${createHash5("sha256").update(real).digest("hex").slice(0, 32)}.json`
  );
  let digest;
  try {
    const known = JSON.parse(await readFile15(memo2, "utf8"));
    if (known.path === real && known.size === s.size && known.mtimeMs === s.mtimeMs && known.ino === s.ino)
      digest = known.digest;
  } catch {
  }
  if (!digest) {
    options.onStep?.("computing the image's digest (once per version of the file)");
    digest = formatDigest(await digestFile(real, "sha256", options.signal));
    await mkdir8(dirname7(memo2), { recursive: true, mode: 448 });
    const record = {
      path: real,
      size: s.size,
      mtimeMs: s.mtimeMs,
      ino: s.ino,
      digest
    };
    await writeFile12(memo2, JSON.stringify(record), { mode: 384 });
  }
  return {
    info: {
      name: real.split("/").pop() ?? real,
      arch: options.arch,
      digest,
      format: info.format,
      user: genericUser,
      virtualSize: info.virtualSize,
      source: { kind: "file", path: real },
      boot: { firmware: firmwareFor(options.arch) },
      createdAt: s.mtime.toISOString()
    },
    dir: dirname7(real),
    diskPath: real,
    entry: void 0,
    sizeOnDisk: s.blocks * 512,
    lastUsed: /* @__PURE__ */ new Date()
  };
}
var genericUser;
var init_local_file = __esm({
  "src/image/local-file.ts"() {
    "use strict";
    init_layout();
    init_inspect();
    init_errors();
    init_cache();
    init_digest();
    genericUser = "kvmci";
  }
});

// src/image/mirror.ts
function findDebianMirror(files) {
  for (const { name, text } of files) {
    const uris = name.endsWith(".sources") ? deb822Uris(text) : oneLineUris(text);
    const found = uris.find(
      (u) => /\/debian\/?$/.test(u.uri) && !u.suites.some((s) => s.endsWith("-security"))
    );
    if (found) return found.uri.replace(/\/$/, "");
  }
  return void 0;
}
function oneLineUris(text) {
  const out = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    const match = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (match?.[1] && match[2]) out.push({ uri: match[1], suites: [match[2]] });
  }
  return out;
}
function deb822Uris(text) {
  const out = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = /* @__PURE__ */ new Map();
    for (const raw of stanza.split("\n")) {
      if (raw.startsWith("#")) continue;
      const match = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (match?.[1] && match[2] !== void 0) fields.set(match[1].toLowerCase(), match[2].trim());
    }
    const types = (fields.get("types") ?? "").split(/\s+/);
    if (!types.includes("deb") || fields.get("enabled") === "no") continue;
    const suites = (fields.get("suites") ?? "").split(/\s+/).filter(Boolean);
    for (const uri of (fields.get("uris") ?? "").split(/\s+/).filter(Boolean))
      out.push({ uri, suites });
  }
  return out;
}
var defaultDebianMirror;
var init_mirror = __esm({
  "src/image/mirror.ts"() {
    "use strict";
    defaultDebianMirror = "http://deb.debian.org/debian";
  }
});

// src/image/checksums.ts
function findChecksum(text, fileName) {
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const bsd = /^(SHA256|SHA512) \((.+)\) = ([0-9a-fA-F]+)$/.exec(line);
    if (bsd) {
      const algorithm = bsd[1].toLowerCase();
      if (bsd[2] === fileName && algorithmForHex(bsd[3]) === algorithm)
        return { algorithm, hex: bsd[3].toLowerCase() };
      continue;
    }
    const gnu = /^([0-9a-fA-F]+) [ *](.+)$/.exec(line);
    if (gnu && stripDotSlash(gnu[2]) === fileName) {
      const algorithm = algorithmForHex(gnu[1]);
      if (algorithm) return { algorithm, hex: gnu[1].toLowerCase() };
    }
  }
  return void 0;
}
function listChecksumNames(text) {
  const names = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const bsd = /^(?:SHA256|SHA512) \((.+)\) = [0-9a-fA-F]+$/.exec(line);
    const gnu = /^[0-9a-fA-F]{64,128} [ *](.+)$/.exec(line);
    const name = bsd?.[1] ?? gnu?.[1];
    if (name) names.push(stripDotSlash(name));
  }
  return names;
}
function stripDotSlash(name) {
  return name.startsWith("./") ? name.slice(2) : name;
}
var init_checksums = __esm({
  "src/image/checksums.ts"() {
    "use strict";
    init_digest();
  }
});

// src/image/retry.ts
import { setTimeout as sleep5 } from "node:timers/promises";
function isRetryableStatus(status) {
  return status === 408 || status === 429 || status >= 500;
}
function isRetryable(error) {
  if (error instanceof RetryableStatus || error instanceof TruncatedTransfer) return true;
  for (let e = error; e instanceof Error; e = e.cause) {
    const code = e.code;
    if (code && retryableCodes.has(code)) return true;
    if (e.message === "terminated" || e.message === "other side closed") return true;
  }
  return false;
}
function retryDelayMs(attempt, retryAfterMs, random = Math.random) {
  if (retryAfterMs !== void 0) return retryAfterMs;
  const base = Math.min(3e4, 1e3 * 2 ** (attempt - 1));
  return Math.round(base * (1 + random() * 0.25));
}
function parseRetryAfter(value, now) {
  if (!value) return void 0;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1e3;
  const at = Date.parse(value);
  return Number.isNaN(at) ? void 0 : Math.max(0, at - now);
}
async function withRetries(fn, options) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (options.signal?.aborted || !isRetryable(error) || attempt >= options.attempts)
        throw error;
      const waitMs = retryDelayMs(
        attempt,
        error instanceof RetryableStatus ? error.retryAfterMs : void 0
      );
      if (waitMs > options.maxWaitMs) throw error;
      options.onRetry?.({ attempt, error, waitMs });
      await sleep5(waitMs, void 0, { signal: options.signal });
    }
  }
}
var RetryableStatus, retryableCodes, TruncatedTransfer;
var init_retry = __esm({
  "src/image/retry.ts"() {
    "use strict";
    RetryableStatus = class extends Error {
      constructor(status, retryAfterMs) {
        super(`HTTP ${status}`);
        this.status = status;
        this.retryAfterMs = retryAfterMs;
      }
      status;
      retryAfterMs;
    };
    retryableCodes = /* @__PURE__ */ new Set([
      "ECONNRESET",
      "ECONNREFUSED",
      "EPIPE",
      "ETIMEDOUT",
      "EAI_AGAIN",
      "ENETUNREACH",
      "EHOSTUNREACH",
      "UND_ERR_SOCKET",
      "UND_ERR_CLOSED",
      "UND_ERR_CONNECT_TIMEOUT",
      "UND_ERR_HEADERS_TIMEOUT",
      "UND_ERR_BODY_TIMEOUT",
      "UND_ERR_RES_CONTENT_LENGTH_MISMATCH"
    ]);
    TruncatedTransfer = class extends Error {
    };
  }
});

// src/image/download.ts
import { open as open9, readFile as readFile16, rm as rm10, writeFile as writeFile13 } from "node:fs/promises";
import { Writable as Writable2 } from "node:stream";
import { pipeline as pipeline2 } from "node:stream/promises";
async function downloadVerified(url, partPath, expected, options) {
  const metaPath = `${partPath}.json`;
  const meta = await readMeta(metaPath);
  if (meta?.url !== url) await discard(partPath, metaPath);
  const state = await HashedFile.open(partPath, expected.algorithm, options.signal);
  try {
    await withRetries(
      () => fetchOnce(url, state, metaPath, meta?.url === url ? meta : void 0, options),
      {
        attempts: options.attempts ?? 6,
        maxWaitMs: 5 * 6e4,
        signal: options.signal,
        onRetry: ({ error, waitMs }) => options.onRetry?.(
          `download of ${url} failed (${describe(error)}); retrying in ${formatDuration(waitMs)} from byte ${state.size}`
        )
      }
    ).catch((error) => {
      throw options.signal?.aborted ? error : downloadError(url, error);
    });
  } catch (error) {
    await state.close();
    if (state.size === 0 || error instanceof KvmciError && error.code === "hostWrite")
      await discard(partPath, metaPath);
    throw error;
  }
  const actual = await state.finish();
  if (actual.hex !== expected.hex) {
    await discard(partPath, metaPath);
    throw new KvmciError("digestMismatch", `The download of ${url} does not match its digest`, {
      details: [`expected ${formatDigest(expected)}`, `actual   ${formatDigest(actual)}`],
      hint: "The file was deleted. If the publisher replaced the image, `kvmci image pull` again fetches the new checksum; for a pinned URL, check the digest you pinned."
    });
  }
  await rm10(metaPath, { force: true });
}
async function fetchOnce(url, file, metaPath, meta, options) {
  const headers = {};
  if (file.size > 0) {
    headers.range = `bytes=${file.size}-`;
    if (meta?.validator) headers["if-range"] = meta.validator;
  }
  const response = await options.http(url, { headers, signal: options.signal });
  const { status } = response;
  if (status !== 200 && status !== 206) response.body.resume();
  if (status === 416) {
    const total2 = /\/(\d+)$/.exec(response.headers["content-range"] ?? "")?.[1];
    if (total2 !== void 0 && Number(total2) === file.size) return;
    await file.truncate();
    throw new TruncatedTransfer("the server's copy is shorter than ours; starting over");
  }
  if (status !== 200 && status !== 206) throw statusError(response);
  let start = 0;
  if (status === 206) {
    start = Number(/^bytes (\d+)-/.exec(response.headers["content-range"] ?? "")?.[1] ?? NaN);
    if (start !== file.size) {
      response.body.resume();
      await file.truncate();
      throw new TruncatedTransfer(`the server resumed at byte ${start}, not ${file.size}`);
    }
  } else {
    await file.truncate();
  }
  const length = Number(response.headers["content-length"] ?? NaN);
  const total = Number.isFinite(length) ? start + length : void 0;
  if (start === 0) {
    const validator = response.headers.etag?.startsWith("W/") ? response.headers["last-modified"] : response.headers.etag ?? response.headers["last-modified"];
    await writeFile13(metaPath, JSON.stringify({ url, validator }), {
      mode: 384
    });
  }
  const progress = {
    received: file.size,
    total,
    resumedFrom: file.size,
    startedAt: Date.now()
  };
  let lastReport = 0;
  options.onProgress?.(progress);
  try {
    await pipeline2(
      response.body,
      file.appender((size2) => {
        progress.received = size2;
        const now = Date.now();
        if (now - lastReport >= 200) {
          lastReport = now;
          options.onProgress?.(progress);
        }
      }),
      { signal: options.signal }
    );
  } finally {
    await file.settled();
  }
  options.onProgress?.({ ...progress, received: file.size });
  if (total !== void 0 && file.size < total)
    throw new TruncatedTransfer(`the connection ended at byte ${file.size} of ${total}`);
}
function statusError(response) {
  return isRetryableStatus(response.status) ? new RetryableStatus(
    response.status,
    parseRetryAfter(response.headers["retry-after"], Date.now())
  ) : new HttpStatusError(response.status);
}
async function writeAll(handle, buffers, position) {
  let pending = buffers;
  let at = position;
  while (pending.length > 0) {
    let { bytesWritten } = await handle.writev(pending, at);
    at += bytesWritten;
    const rest = [];
    for (const buffer of pending) {
      if (bytesWritten >= buffer.length) bytesWritten -= buffer.length;
      else {
        rest.push(buffer.subarray(bytesWritten));
        bytesWritten = 0;
      }
    }
    pending = rest;
  }
}
async function readMeta(path) {
  try {
    return JSON.parse(await readFile16(path, "utf8"));
  } catch {
    return void 0;
  }
}
async function discard(partPath, metaPath) {
  await rm10(partPath, { force: true });
  await rm10(metaPath, { force: true });
}
async function fetchText(url, options) {
  const text = await withRetries(
    async () => {
      const response = await options.http(url, { signal: options.signal });
      if (response.status === 200) {
        const chunks = [];
        let size2 = 0;
        for await (const chunk of response.body) {
          size2 += chunk.length;
          if (size2 > 16 << 20)
            throw new KvmciError("download", `${url} is too large for a checksum list`);
          chunks.push(chunk);
        }
        return Buffer.concat(chunks).toString("utf8");
      }
      response.body.resume();
      throw statusError(response);
    },
    {
      attempts: options.attempts ?? 6,
      maxWaitMs: 5 * 6e4,
      signal: options.signal,
      onRetry: ({ error, waitMs }) => options.onRetry?.(
        `fetching ${url} failed (${describe(error)}); retrying in ${formatDuration(waitMs)}`
      )
    }
  ).catch((error) => {
    throw options.signal?.aborted ? error : downloadError(url, error);
  });
  return text;
}
function describe(error) {
  if (error instanceof RetryableStatus || error instanceof HttpStatusError)
    return `HTTP ${error.status}`;
  if (error instanceof Error) {
    const code = error.code ?? error.cause?.code;
    return code ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}
function downloadError(url, error) {
  if (error instanceof KvmciError) return error;
  const code = error.code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new KvmciError("hostWrite", `No space left in the cache while downloading ${url}`, {
      hint: "Free space on that file system (`kvmci gc --max-size 5G` trims the cache), or point KVMCI_CACHE_DIR at a larger one. The partial file was deleted.",
      cause: error
    });
  }
  if (error instanceof HttpStatusError) {
    return new KvmciError(
      "download",
      `${url} answered HTTP ${error.status}${error.status === 404 ? " (not found)" : ""}`,
      {
        hint: error.status === 404 || error.status === 410 ? "The file is not there (any more): check the URL; for a catalog image, a newer kvmci may know its new address." : "Check the URL and that you may fetch it.",
        cause: error
      }
    );
  }
  const viaProxy = error instanceof Error && /proxy/i.test(error.message);
  return new KvmciError("download", `Could not download ${url}: ${describe(error)}`, {
    hint: viaProxy ? "The proxy from HTTPS_PROXY/HTTP_PROXY refused the connection: check it, or add the host to NO_PROXY." : "Check the network (and HTTPS_PROXY/NO_PROXY if you need a proxy). What arrived so far is kept; the next attempt resumes it.",
    cause: error
  });
}
var HttpStatusError, HashedFile;
var init_download = __esm({
  "src/image/download.ts"() {
    "use strict";
    init_duration();
    init_errors();
    init_digest();
    init_retry();
    HttpStatusError = class extends Error {
      constructor(status) {
        super(`HTTP ${status}`);
        this.status = status;
      }
      status;
    };
    HashedFile = class _HashedFile {
      constructor(handle, hash, algorithm, size2) {
        this.handle = handle;
        this.hash = hash;
        this.algorithm = algorithm;
        this.size = size2;
      }
      handle;
      hash;
      algorithm;
      size;
      static async open(path, algorithm, signal) {
        const handle = await open9(path, "a+", 384);
        const hash = createDigestHash(algorithm);
        let size2 = 0;
        const buffer = Buffer.allocUnsafe(4 << 20);
        for (; ; ) {
          signal?.throwIfAborted();
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, size2);
          if (bytesRead === 0) break;
          hash.update(buffer.subarray(0, bytesRead));
          size2 += bytesRead;
        }
        return new _HashedFile(handle, hash, algorithm, size2);
      }
      async truncate() {
        await this.handle.truncate(0);
        this.hash = createDigestHash(this.algorithm);
        this.size = 0;
      }
      inFlight = Promise.resolve();
      /** Resolves when no write is in progress. */
      async settled() {
        await this.inFlight.catch(() => void 0);
      }
      /**
       * A stream that appends to the file and hashes what it appends. Each batch is written by the
       * thread pool while this thread hashes it; the size and hash move on only once the write
       * succeeded, so they always describe exactly the bytes on disk.
       */
      appender(onWritten) {
        const append = async (buffers) => {
          const hash = this.hash;
          const total = buffers.reduce((sum, b) => sum + b.length, 0);
          const writing = writeAll(this.handle, buffers, this.size);
          const copy = hash.copy();
          for (const buffer of buffers) copy.update(buffer);
          await writing;
          this.hash = copy;
          this.size += total;
          onWritten(this.size);
        };
        return new Writable2({
          highWaterMark: 8 << 20,
          writev: (chunks, callback) => {
            this.inFlight = append(chunks.map((c) => c.chunk));
            this.inFlight.then(() => callback(), callback);
          }
        });
      }
      async finish() {
        await this.handle.close();
        return { algorithm: this.algorithm, hex: this.hash.digest("hex") };
      }
      async close() {
        await this.handle.close().catch(() => void 0);
      }
    };
  }
});

// src/image/pull.ts
import { mkdir as mkdir9, rename as rename5, rm as rm11 } from "node:fs/promises";
import { join as join17 } from "node:path";
async function pullCatalogImage(entry, options) {
  const fileName = decodeURIComponent(new URL(entry.url).pathname.split("/").pop() ?? "");
  options.onStep?.(`fetching ${entry.checksums}`);
  const list = await fetchText(entry.checksums, {
    http: options.http,
    signal: options.signal,
    onRetry: options.onNote
  });
  const expected = findChecksum(list, fileName);
  if (!expected) {
    const names = listChecksumNames(list);
    throw new KvmciError(
      "download",
      `The checksum list ${entry.checksums} has no digest for ${fileName}`,
      {
        details: names.length ? [`it lists: ${names.slice(0, 8).join(", ")}${names.length > 8 ? ", \u2026" : ""}`] : ["it lists no files kvmci can read (expected SHA256SUMS/SHA512SUMS or CHECKSUM lines)"],
        hint: `The catalog entry ${entry.file} may be out of date: the distribution may have moved or renamed the image.`
      }
    );
  }
  const pulled = await downloadIntoCache(
    {
      entryName: imageEntryName(entry.name, expected.hex),
      url: entry.url,
      expected,
      declaredFormat: entry.format,
      info: (format, virtualSize) => ({
        name: entry.name,
        arch: entry.arch,
        digest: formatDigest(expected),
        format,
        user: entry.user,
        virtualSize,
        source: { kind: "catalog", url: entry.url, checksums: entry.checksums },
        boot: { firmware: entry.boot },
        createdAt: (/* @__PURE__ */ new Date()).toISOString()
      })
    },
    options
  );
  await removeSuperseded(entry.name, pulled.image, options);
  return pulled;
}
async function pullUrlImage(url, digest, options) {
  const name = decodeURIComponent(new URL(url).pathname.split("/").pop() || "image");
  return downloadIntoCache(
    {
      entryName: urlEntryName(url, digest),
      url,
      expected: digest,
      declaredFormat: void 0,
      info: (format, virtualSize) => ({
        name,
        arch: options.arch,
        digest: formatDigest(digest),
        format,
        user: genericUser,
        virtualSize,
        source: { kind: "url", url },
        boot: { firmware: firmwareFor(options.arch) },
        createdAt: (/* @__PURE__ */ new Date()).toISOString()
      })
    },
    options
  );
}
async function downloadIntoCache(spec, options) {
  const cached = await findIntactEntry(options.cacheDir, spec.entryName, options);
  if (cached) return { image: cached, origin: "cached" };
  return withEntryLock(options, spec.entryName, async () => {
    const again = await findIntactEntry(options.cacheDir, spec.entryName, options);
    if (again) return { image: again, origin: "cached" };
    const downloads = cachePath(options.cacheDir, "downloads");
    await mkdir9(downloads, { recursive: true, mode: 448 });
    const part = join17(downloads, `${spec.entryName}.part`);
    options.onNote?.(`downloading ${spec.url}`);
    await downloadVerified(spec.url, part, spec.expected, {
      http: options.http,
      signal: options.signal,
      onProgress: (progress) => options.onTransfer?.(spec.entryName, progress),
      onRetry: options.onNote
    });
    options.onStep?.("checking the disk image");
    let disk;
    try {
      disk = await inspectDisk(part, { allowBacking: false, what: spec.url });
      if (spec.declaredFormat && disk.format !== spec.declaredFormat)
        throw new KvmciError(
          "imageNotDisk",
          `${spec.url} is ${disk.format}, but its catalog entry says ${spec.declaredFormat}`,
          { hint: "The catalog entry needs fixing; the file was deleted." }
        );
    } catch (error) {
      await rm11(part, { force: true });
      throw error;
    }
    const partial = await createPartialEntry(options.cacheDir, spec.entryName);
    try {
      await rename5(part, join17(partial, diskFileName(disk.format)));
      const image = await commitEntry(
        partial,
        options.cacheDir,
        spec.entryName,
        spec.info(disk.format, disk.virtualSize)
      );
      return { image, origin: "downloaded" };
    } catch (error) {
      await rm11(partial, { recursive: true, force: true });
      const code = error.code;
      if (code === "ENOSPC" || code === "EDQUOT")
        throw new KvmciError("hostWrite", `No space left in the cache ${options.cacheDir}`, {
          hint: "Free space there (`kvmci gc --max-size SIZE`), or set KVMCI_CACHE_DIR.",
          cause: error
        });
      throw error;
    }
  });
}
async function removeSuperseded(name, keep, options) {
  const inUse = await entriesInUse(options.cacheDir);
  for (const image of await listCachedImages(options.cacheDir)) {
    if (image.info.source.kind !== "catalog" || image.info.name !== name) continue;
    if (image.info.arch !== keep.info.arch) continue;
    if (image.entry === keep.entry || !image.entry || inUse.has(image.entry)) continue;
    await rm11(image.dir, { recursive: true, force: true });
    options.onNote?.(`removed the older copy of ${name} (${image.info.digest.slice(0, 19)}\u2026)`);
  }
}
var init_pull = __esm({
  "src/image/pull.ts"() {
    "use strict";
    init_in_use();
    init_layout();
    init_inspect();
    init_errors();
    init_cache();
    init_checksums();
    init_digest();
    init_download();
    init_entry_lock();
    init_local_file();
    init_reference();
  }
});

// src/image/build-mode.ts
import { readFile as readFile17 } from "node:fs/promises";
import { userInfo } from "node:os";
import { execa as execa9 } from "execa";
async function chooseBuildMode(o) {
  const { username } = userInfo();
  const unshareLacks = o.isRoot ? [] : await unshareBuildLacks(o.signal);
  const sudo = !o.isRoot && unshareLacks.length > 0 && await sudoWithoutPassword(o.signal);
  const choice2 = decideBuildMode({ isRoot: o.isRoot, username, unshareLacks, sudo });
  if ("problem" in choice2)
    throw new KvmciError("hostRequirement", choice2.problem, { hint: choice2.hint });
  return choice2;
}
function decideBuildMode(host) {
  if (host.isRoot) return { mode: "root", why: "kvmci runs as root" };
  if (host.unshareLacks.length === 0)
    return { mode: "unshare", why: "unprivileged user namespaces and subordinate ids work here" };
  const lacks = host.unshareLacks.join(", ");
  if (host.sudo)
    return {
      mode: "sudo",
      why: `building without root needs ${lacks}; this user may use sudo without a password, so the build runs as root through sudo -n`
    };
  return {
    problem: `Building an image as ${host.username} needs ${lacks}, or passwordless sudo`,
    hint: `Either let ${host.username} build without root: sudo apt-get install uidmap && sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${host.username} (and allow unprivileged user namespaces), or build once as root with the same cache: sudo KVMCI_CACHE_DIR=<cache folder> kvmci image build.`
  };
}
async function unshareBuildLacks(signal) {
  const { username, uid } = userInfo();
  const userns = await userNamespacesWork(signal);
  const missing = [];
  if (!userns.ok) missing.push(`unprivileged user namespaces (${userns.why})`);
  if (!await which("newuidmap") || !await which("newgidmap"))
    missing.push("newuidmap and newgidmap (package uidmap)");
  for (const file of ["/etc/subuid", "/etc/subgid"]) {
    const text = await readFile17(file, "utf8").catch(() => "");
    if (!hasRange(text, username, uid)) missing.push(`a range for ${username} in ${file}`);
  }
  return missing;
}
async function userNamespacesWork(signal) {
  if (!await which("unshare")) return { ok: false, why: "unshare is not installed" };
  const probe2 = await execa9("unshare", ["--user", "--map-root-user", "true"], {
    reject: false,
    stdin: "ignore",
    timeout: 1e4,
    cancelSignal: signal
  });
  if (probe2.exitCode === 0) return { ok: true };
  const line = String(probe2.stderr ?? "").trim().split("\n").pop() ?? "";
  return { ok: false, why: line ? `refused here: ${line}` : "refused here" };
}
function hasRange(text, username, uid) {
  return text.split("\n").some((line) => {
    const [who, , count2] = line.trim().split(":");
    return (who === username || who === String(uid)) && Number(count2) > 0;
  });
}
var init_build_mode = __esm({
  "src/image/build-mode.ts"() {
    "use strict";
    init_errors();
    init_packages();
    init_which();
  }
});

// src/image/foreign-arch.ts
import { readFile as readFile18 } from "node:fs/promises";
import { join as join18 } from "node:path";
function binfmtName(arch2) {
  return `qemu-${arch2}`;
}
function qemuUserBinary(arch2) {
  return `qemu-${arch2}-static`;
}
function binfmtRegistration(arch2, interpreter) {
  const { magic, mask } = elfMagic[arch2];
  return `:${binfmtName(arch2)}:M::${magic}:${mask}:${interpreter}:F`;
}
function parseBinfmtEntry(text) {
  const lines = text.split("\n");
  return {
    enabled: lines[0]?.trim() === "enabled",
    interpreter: /^interpreter (.+)$/m.exec(text)?.[1]?.trim(),
    flags: /^flags: ?(\S*)$/m.exec(text)?.[1] ?? ""
  };
}
async function readBinfmtState(arch2) {
  const exists = (path) => readFile18(path, "utf8").then(
    (text) => text,
    () => void 0
  );
  const status = await exists(join18(binfmtDir, "status"));
  const entry = await exists(join18(binfmtDir, binfmtName(arch2)));
  return {
    mounted: status !== void 0,
    entry: entry === void 0 ? void 0 : parseBinfmtEntry(entry)
  };
}
function planBinfmtSetup(arch2, state, interpreter) {
  const steps = [];
  if (!state.mounted)
    steps.push({
      argv: ["mount", "-t", "binfmt_misc", "binfmt_misc", binfmtDir],
      done: `mounted binfmt_misc at ${binfmtDir}`
    });
  if (!state.mounted || !state.entry)
    steps.push({
      argv: [
        "sh",
        "-c",
        `printf '%s' "$1" > ${binfmtDir}/register`,
        "sh",
        binfmtRegistration(arch2, interpreter)
      ],
      done: `registered ${interpreter} with binfmt_misc for ${arch2} programs (${binfmtName(arch2)}, flag F)`
    });
  else if (!state.entry.enabled)
    steps.push({
      argv: ["sh", "-c", `echo 1 > ${binfmtDir}/${binfmtName(arch2)}`],
      done: `enabled binfmt_misc's ${binfmtName(arch2)} entry (it was switched off)`
    });
  return steps;
}
function binfmtFix(arch2) {
  return `sudo apt-get install qemu-user-static binfmt-support arch-test && sudo update-binfmts --enable ${binfmtName(arch2)} (or run kvmci as root, or as a user who may use sudo without a password, and it does this itself)`;
}
async function ensureForeignArch(arch2, o) {
  const purpose = `to build an ${arch2} image on this ${o.hostArch ?? "non-x86_64, non-aarch64"} host`;
  const state = await readBinfmtState(arch2);
  const ready = state.mounted && state.entry?.enabled === true;
  const needStatic = !ready || !state.entry?.flags.includes("F");
  await o.ensureTools(["arch-test", ...needStatic ? [qemuUserBinary(arch2)] : []], purpose);
  if (!ready) {
    const asRoot = o.isRoot ? [] : await sudoWithoutPassword(o.signal) ? ["sudo", "-n"] : void 0;
    if (!asRoot) {
      const missing = !state.mounted ? "binfmt_misc is not mounted" : !state.entry ? `binfmt_misc has no ${binfmtName(arch2)} entry` : `binfmt_misc's ${binfmtName(arch2)} entry is switched off`;
      throw new KvmciError(
        "hostRequirement",
        `Building an ${arch2} image here runs its programs under qemu-user, and ${missing}; only root can change that`,
        { hint: `Once per boot, as an administrator: ${binfmtFix(arch2)}.` }
      );
    }
    const interpreter = await which(qemuUserBinary(arch2)) ?? `/usr/bin/${qemuUserBinary(arch2)}`;
    for (const step of planBinfmtSetup(arch2, state, interpreter)) {
      await runCommand([...asRoot, ...step.argv], {
        signal: o.signal,
        failureCode: "hostRequirement",
        hint: `Do it by hand: ${binfmtFix(arch2)}.`
      });
      o.onNote?.(`${step.done}, ${purpose}`);
    }
  }
  const proof = await runCommand(["arch-test", debianArch(arch2)], {
    signal: o.signal,
    failureCode: "hostRequirement",
    hint: `binfmt_misc is set up but ${debianArch(arch2)} programs still do not run: ${binfmtFix(arch2)}.`
  });
  if (proof.trim() !== `${debianArch(arch2)}: ok`)
    throw new KvmciError(
      "hostRequirement",
      `${debianArch(arch2)} programs do not run on this host (arch-test says: ${proof.trim()})`,
      { hint: `${binfmtFix(arch2)}.` }
    );
}
var binfmtDir, elfMagic;
var init_foreign_arch = __esm({
  "src/image/foreign-arch.ts"() {
    "use strict";
    init_errors();
    init_command();
    init_packages();
    init_which();
    init_arch();
    binfmtDir = "/proc/sys/fs/binfmt_misc";
    elfMagic = {
      x86_64: {
        magic: "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x3e\\x00",
        mask: "\\xff\\xff\\xff\\xff\\xff\\xfe\\xfe\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"
      },
      aarch64: {
        magic: "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00",
        mask: "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"
      }
    };
  }
});

// src/image/resolve.ts
import { readdir as readdir7, readFile as readFile19 } from "node:fs/promises";
import { basename as basename3, join as join19 } from "node:path";
async function resolveImage(text, options) {
  const reference = parseImageReference(text, options.cwd, options.home);
  if ("problem" in reference)
    throw new KvmciError("usage", `Invalid --image: ${reference.problem}`, {
      hint: reference.hint
    });
  switch (reference.kind) {
    case "file":
      return { image: await localFileImage(reference.path, options), origin: "file" };
    case "url":
      return forArch(await pullUrlImage(reference.url, reference.digest, options), options);
    case "name": {
      const entry = await loadCatalogEntry(reference.name, options.arch, options.catalogDirs);
      if (entry?.kind === "download") return resolveDownload(entry, options);
      if (entry?.kind === "recipe") return resolveRecipe(entry, options);
      const others = await loadCatalogEntries(reference.name, options.catalogDirs);
      if (others.length > 0) throw noEntryForArch(reference.name, options.arch, others);
      const asFile = await localFileImage(join19(options.cwd, reference.name), options).catch(
        (error) => {
          if (error instanceof KvmciError && error.code === "imageUnknown") return void 0;
          throw error;
        }
      );
      if (asFile) return { image: asFile, origin: "file" };
      throw await unknownImage(reference.name, options);
    }
  }
}
function forArch(pulled, options) {
  const { info } = pulled.image;
  if (info.arch === options.arch) return pulled;
  return {
    ...pulled,
    image: {
      ...pulled.image,
      info: { ...info, arch: options.arch, boot: { firmware: firmwareFor(options.arch) } }
    }
  };
}
function noEntryForArch(name, arch2, others) {
  const theirs = others.map((e) => e.arch).join(" and ");
  return new KvmciError("imageUnknown", `The catalog has no ${arch2} image ${name}`, {
    hint: `${name} is in the catalog for ${theirs} only: give --arch ${others[0].arch}, another image (\`kvmci image ls --available\`), or a file or https://\u2026#sha256=DIGEST URL of an ${arch2} image.`
  });
}
async function resolveDownload(entry, options) {
  if (!options.refresh) {
    const cached = await newestCatalogDownload(options.cacheDir, entry.name, entry.arch, options);
    if (cached) return { image: cached, origin: "cached" };
  }
  return pullCatalogImage(entry, options);
}
async function newestCatalogDownload(cacheDir, name, arch2, o = {}) {
  const copies = (await listCachedImages(cacheDir)).filter(
    (i) => i.info.source.kind === "catalog" && i.info.name === name && i.info.arch === arch2
  );
  const newest = copies.sort((a, b) => b.info.createdAt.localeCompare(a.info.createdAt))[0];
  return newest?.entry ? findIntactEntry(cacheDir, newest.entry, o) : void 0;
}
async function resolveRecipe(recipe, options) {
  const entryName = imageEntryName(recipe.name, recipe.key);
  if (!options.force) {
    const cached = await findIntactEntry(options.cacheDir, entryName, options);
    if (cached) return { image: cached, origin: "cached" };
  }
  const ensureTools = options.ensureTools ?? refuseMissingTools;
  await ensureTools(["mmdebstrap", "qemu-img"], "to build the image");
  const { mode, why } = await chooseBuildMode({
    isRoot: options.isRoot,
    ensureTools,
    signal: options.signal
  });
  if (mode === "unshare") await ensureTools(["newuidmap"], "to build the image without root");
  if (recipe.arch !== options.hostArch)
    await ensureForeignArch(recipe.arch, {
      hostArch: options.hostArch,
      isRoot: options.isRoot,
      ensureTools,
      signal: options.signal,
      onNote: options.onNote
    });
  return withEntryLock(options, entryName, async () => {
    const cached = options.force ? void 0 : await findIntactEntry(options.cacheDir, entryName, options);
    if (cached) return { image: cached, origin: "cached" };
    const foreign = recipe.arch === options.hostArch ? "" : ` for ${recipe.arch}`;
    options.onNote?.(
      `${recipe.name}${foreign} is not cached yet; building it from packages (once)${mode === "root" ? "" : `: ${why}`}` + (foreign ? `; its programs run under qemu-user emulation, so this takes about 5 times as long (4\u20135 minutes on 2 cores)` : "")
    );
    const image = await buildRecipeImage(recipe, {
      cacheDir: options.cacheDir,
      mirror: options.mirror ?? await hostDebianMirror(),
      mode,
      signal: options.signal,
      onStep: options.onStep
    });
    return { image, origin: "built" };
  });
}
async function unknownImage(name, options) {
  const known = await listCatalogNames(options.catalogDirs);
  const close = closestNames(name, known);
  return new KvmciError("imageUnknown", `Unknown image ${JSON.stringify(name)}`, {
    hint: (close.length ? `Did you mean ${close.join(" or ")}? ` : "") + `Known images: ${known.join(", ")} (\`kvmci image ls --available\`). --image also takes a path to a qcow2 or raw file, or an https:// URL with #sha256=<digest>.`
  });
}
async function hostDebianMirror() {
  const files = [];
  for (const path of ["/etc/apt/sources.list"]) {
    try {
      files.push({ name: path, text: await readFile19(path, "utf8") });
    } catch {
    }
  }
  try {
    const dir = "/etc/apt/sources.list.d";
    for (const entry of (await readdir7(dir)).sort()) {
      if (entry.endsWith(".list") || entry.endsWith(".sources"))
        files.push({ name: basename3(entry), text: await readFile19(join19(dir, entry), "utf8") });
    }
  } catch {
  }
  return findDebianMirror(files) ?? defaultDebianMirror;
}
var refuseMissingTools;
var init_resolve = __esm({
  "src/image/resolve.ts"() {
    "use strict";
    init_errors();
    init_build();
    init_cache();
    init_catalog();
    init_local_file();
    init_mirror();
    init_pull();
    init_reference();
    init_build_mode();
    init_foreign_arch();
    init_packages();
    init_entry_lock();
    init_similar_names();
    refuseMissingTools = toolInstaller({
      mode: "never",
      isRoot: false,
      log: () => void 0
    });
  }
});

// src/qemu/accel.ts
import { constants as constants8 } from "node:fs";
import { access as access7, readFile as readFile20, stat as stat8 } from "node:fs/promises";
import { execa as execa10 } from "execa";
async function decideAccel(request, probe2) {
  if (request === "tcg") return { accel: "tcg", reason: "requested with --accel tcg" };
  if (probe2.arch !== probe2.hostArch) {
    const problem2 = foreignArchProblem(probe2.arch, probe2.hostArch);
    return request === "kvm" ? { accel: "tcg", reason: problem2.message, kvmProblem: problem2 } : { accel: "tcg", reason: `software emulation (TCG): ${problem2.message}` };
  }
  const problem = await probeKvm(probe2);
  if (!problem && !probe2.kernel)
    return {
      accel: "kvm",
      reason: "/dev/kvm is usable; no kernel was at hand to prove a 64-bit guest runs under it (if the boot hangs, use --accel tcg)"
    };
  if (!problem) return { accel: "kvm", reason: "KVM is usable: a 64-bit kernel booted under it" };
  return {
    accel: "tcg",
    reason: `software emulation (TCG), because ${problem.message}`,
    kvmProblem: problem
  };
}
function foreignArchProblem(arch2, hostArch) {
  return {
    message: `an ${arch2} guest on ${hostArch ? `an ${hostArch}` : "this"} host (KVM runs guests of the host's own architecture only)`,
    hint: `Leave --accel at auto (or tcg) to emulate it, or run on an ${arch2} host with KVM for full speed.`
  };
}
async function probeKvm(options) {
  const device = options.devicePath ?? "/dev/kvm";
  try {
    await stat8(device);
  } catch {
    return {
      message: `${device} does not exist`,
      hint: options.arch === "aarch64" ? "KVM on arm64 needs a kernel started in EL2 (bare metal, or a virtual machine whose host offers nested virtualisation); without it guests are emulated." : "Enable virtualisation (VT-x/AMD-V) in the firmware and load the kvm_intel or kvm_amd module; inside a virtual machine, nested virtualisation must be enabled by its host."
    };
  }
  try {
    await access7(device, constants8.R_OK | constants8.W_OK);
  } catch {
    return {
      message: `this user may not open ${device}`,
      hint: `Add yourself to its group (sudo usermod -aG kvm $USER, then log in again), or add a udev rule: echo 'KERNEL=="kvm", GROUP="kvm", MODE="0666", OPTIONS+="static_node=kvm"' | sudo tee /etc/udev/rules.d/99-kvm.rules && sudo udevadm control --reload-rules && sudo udevadm trigger --name-match=kvm`
    };
  }
  if (!options.kernel) return void 0;
  const kernel = options.kernel;
  const key = options.memo ? await probeKey(options.arch, kernel) : void 0;
  if (options.memo && key) {
    const remembered = await options.memo.get(key);
    if (remembered !== void 0) return remembered ?? void 0;
  }
  const problem = await bootProbeKernel(
    options.arch,
    kernel,
    options.timeoutMs ?? 1e4,
    options.signal
  );
  options.signal?.throwIfAborted();
  if (options.memo && key) await options.memo.set(key, problem ?? null);
  return problem;
}
async function probeKey(arch2, kernel) {
  try {
    const bootId = (await readFile20("/proc/sys/kernel/random/boot_id", "utf8")).trim();
    const qemu = await which(qemuBinary(arch2));
    if (!qemu) return void 0;
    const [q, k] = await Promise.all([stat8(qemu), stat8(kernel)]);
    return [bootId, qemu, q.size, q.mtimeMs, kernel, k.size, k.mtimeMs].join("|");
  } catch {
    return void 0;
  }
}
function buildKvmProbeArgs(arch2, kernel) {
  return [
    qemuBinary(arch2),
    "-machine",
    machineType(arch2, "kvm"),
    "-accel",
    "kvm",
    "-cpu",
    cpuModel(arch2, "kvm"),
    "-m",
    "256M",
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-no-reboot",
    "-serial",
    "stdio",
    "-kernel",
    kernel,
    "-append",
    `console=${arch2 === "x86_64" ? "ttyS0" : "ttyAMA0"} panic=-1 loglevel=4`
  ];
}
async function bootProbeKernel(arch2, kernel, timeoutMs, signal) {
  const [file, ...args] = buildKvmProbeArgs(arch2, kernel);
  let output = "";
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  const child = execa10(file ?? qemuBinary(arch2), args, {
    reject: false,
    all: true,
    stdin: "ignore",
    cancelSignal: controller.signal,
    forceKillAfterDelay: 1e3
  });
  const reached = new Promise((resolve4) => {
    child.all?.on("data", (chunk) => {
      output += chunk.toString();
      if (/Kernel panic|VFS: Unable to mount root/.test(output)) resolve4(true);
    });
    void child.then(() => resolve4(/Kernel panic|VFS: Unable to mount root/.test(output)));
  });
  const timer = new Promise(
    (resolve4) => setTimeout(() => resolve4(false), timeoutMs).unref()
  );
  const ok = await Promise.race([reached, timer]);
  controller.abort();
  const result = await child;
  signal?.removeEventListener("abort", onAbort);
  if (ok) return void 0;
  const lastLine = output.split("\n").filter((l) => l.trim()).pop();
  if (result.exitCode !== void 0 && result.exitCode !== 0 && !result.isCanceled) {
    return {
      message: `QEMU could not start a KVM guest (${lastLine ?? `exit ${result.exitCode}`})`,
      hint: "The host's KVM does not support this CPU (often a virtual machine with limited nested virtualisation). Use --accel tcg, or enable nested virtualisation on the machine's host."
    };
  }
  return {
    message: `a 64-bit kernel did not boot under KVM within ${Math.round(timeoutMs / 1e3)}s`,
    hint: "The host exposes /dev/kvm but cannot run 64-bit guests (typical of nested virtualisation without full support). Use --accel tcg, or enable nested virtualisation on the machine's host."
  };
}
var init_accel = __esm({
  "src/qemu/accel.ts"() {
    "use strict";
    init_which();
    init_args();
  }
});

// src/qemu/probe-memo.ts
import { mkdir as mkdir10, readFile as readFile21, rename as rename6, writeFile as writeFile14 } from "node:fs/promises";
import { dirname as dirname8, join as join20 } from "node:path";
function fileProbeMemo(cacheDir) {
  const path = join20(cacheDir, "kvm-probe.json");
  const read = async () => {
    try {
      return JSON.parse(await readFile21(path, "utf8"));
    } catch {
      return {};
    }
  };
  return {
    async get(key) {
      const all = await read();
      return key in all ? all[key] : void 0;
    },
    async set(key, value) {
      const bootId = key.split("|")[0] ?? "";
      const kept = Object.fromEntries(
        Object.entries(await read()).filter(([k]) => k.startsWith(`${bootId}|`))
      );
      kept[key] = value;
      await mkdir10(dirname8(path), { recursive: true });
      const temporary = `${path}.${process.pid}.tmp`;
      await writeFile14(temporary, JSON.stringify(kept));
      await rename6(temporary, path);
    }
  };
}
var init_probe_memo = __esm({
  "src/qemu/probe-memo.ts"() {
    "use strict";
  }
});

// src/qemu/version.ts
import { execa as execa11 } from "execa";
function qemuVersion(arch2) {
  let version2 = memo.get(arch2);
  if (!version2) {
    version2 = execa11(qemuBinary(arch2), ["--version"]).then(
      (r) => r.stdout.split("\n")[0]?.trim() ?? ""
    );
    version2.catch(() => memo.delete(arch2));
    memo.set(arch2, version2);
  }
  return version2;
}
var memo;
var init_version = __esm({
  "src/qemu/version.ts"() {
    "use strict";
    init_args();
    memo = /* @__PURE__ */ new Map();
  }
});

// src/run/accel.ts
import { constants as constants9 } from "node:fs";
import { access as access8 } from "node:fs/promises";
import { release } from "node:os";
import { join as join21 } from "node:path";
async function chooseAccel(config, image, o) {
  const decision = await decideAccel(config.accel, {
    arch: config.arch,
    hostArch: o.hostArch,
    kernel: await probeKernel(image, config.arch, o.cacheDir),
    signal: o.signal,
    memo: fileProbeMemo(o.cacheDir)
  });
  if (decision.kvmProblem && config.accel === "kvm") {
    throw new KvmciError(
      "hostRequirement",
      `--accel kvm was requested, but ${decision.kvmProblem.message}`,
      { hint: decision.kvmProblem.hint }
    );
  }
  if (decision.kvmProblem) {
    o.emit({
      type: "warning",
      about: "host",
      message: `KVM is not usable here (${decision.kvmProblem.message}); using software emulation, which is much slower. ${decision.kvmProblem.hint}`
    });
  } else {
    o.emit({ type: "note", message: `accel: ${decision.accel} (${decision.reason})` });
  }
  return {
    ...decision,
    cpu: cpuModel(config.arch, decision.accel, await qemuVersion(config.arch))
  };
}
async function probeKernel(image, arch2, cacheDir) {
  const own = (i) => i.info.boot.kernel && i.info.arch === arch2 ? join21(i.dir, i.info.boot.kernel) : void 0;
  const candidates = [
    image.info.boot.kernel ? join21(image.dir, image.info.boot.kernel) : void 0,
    ...(await listCachedImages(cacheDir)).map(own),
    `/boot/vmlinuz-${release()}`
  ];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      await access8(candidate, constants9.R_OK);
      return candidate;
    } catch {
    }
  }
  return void 0;
}
var init_accel2 = __esm({
  "src/run/accel.ts"() {
    "use strict";
    init_errors();
    init_cache();
    init_args();
    init_accel();
    init_probe_memo();
    init_version();
  }
});

// src/run/artifacts.ts
function artifactsDeadline(timeoutMs, commandStarted) {
  const now = Date.now();
  if (timeoutMs === void 0) return now + artifactsTimeoutMs;
  return Math.max(commandStarted + timeoutMs, now + artifactsGraceMs);
}
async function bringBackArtifacts(guest, config, o) {
  const collected = await collectArtifacts(
    guest,
    {
      workdir: config.workdir,
      globs: config.artifacts,
      dir: config.artifactsDir,
      limits: config.artifactsLimits,
      umask: o.umask,
      deadline: artifactsDeadline(config.timeoutMs, o.commandStarted)
    },
    o.signal
  );
  reportArtifacts(collected, config, o.emit);
  return collected.files;
}
function reportArtifacts(collected, config, emit) {
  const count2 = collected.files.length;
  emit({
    type: "note",
    message: count2 ? `${count2} artifact file${count2 === 1 ? "" : "s"} (${formatSize(collected.bytes)}) copied to ${config.artifactsDir}` : `no files matched ${config.artifacts.join(", ")}`
  });
  if (collected.refused.length > 0) {
    const shown = collected.refused.slice(0, 10).map((r) => `${quoteName(r.path)}: ${r.why}`);
    const more = collected.refused.length - shown.length;
    emit({
      type: "warning",
      message: `${collected.refused.length} entr${collected.refused.length === 1 ? "y" : "ies"} from the guest's artifacts were not copied: ${shown.join("; ")}${more ? `; and ${more} more` : ""}`
    });
  }
  if (collected.incomplete) {
    emit({
      type: "warning",
      message: `copying artifacts stopped early: ${collected.incomplete}; ${count2} file${count2 === 1 ? "" : "s"} copied, the rest was not (limits: --artifacts-max-size ${formatSize(config.artifactsLimits.maxBytes)}, --artifacts-max-files ${config.artifactsLimits.maxEntries}, and --timeout)`
    });
  }
  if (collected.packProblem) {
    emit({
      type: "warning",
      message: `packing the artifacts in the guest reported a problem (${collected.packProblem}); what it packed was copied`
    });
  }
}
function quoteName(name) {
  return JSON.stringify(name);
}
var artifactsTimeoutMs, artifactsGraceMs;
var init_artifacts2 = __esm({
  "src/run/artifacts.ts"() {
    "use strict";
    init_artifacts();
    init_size();
    artifactsTimeoutMs = 10 * 6e4;
    artifactsGraceMs = 3e4;
  }
});

// src/run/command.ts
async function runCommand2(guest, config, o) {
  const { signal, emit } = o;
  const timeout = config.timeoutMs === void 0 ? void 0 : AbortSignal.timeout(config.timeoutMs);
  const idle = new AbortController();
  let idleTimer;
  const heard = () => {
    if (config.idleTimeoutMs === void 0) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => idle.abort(), config.idleTimeoutMs);
  };
  heard();
  const combined = AbortSignal.any([signal, idle.signal, ...timeout ? [timeout] : []]);
  const commandLine = buildGuestCommandLine(config.command, {
    workdir: config.workdir,
    env: { ...config.baseEnv, ...config.env }
  });
  const size2 = o.size ?? { columns: 80, rows: 24 };
  let exit;
  try {
    exit = await guest.exec(commandLine, {
      pty: config.tty ? { term: config.baseEnv.TERM ?? "xterm", rows: size2.rows, cols: size2.columns } : void 0,
      onStdout: (chunk) => {
        heard();
        emit({ type: "output", stream: "stdout", chunk });
      },
      onStderr: (chunk) => {
        heard();
        emit({ type: "output", stream: "stderr", chunk });
      },
      signal: combined
    });
  } finally {
    clearTimeout(idleTimer);
  }
  signal.throwIfAborted();
  if (timeout?.aborted) {
    emit({
      type: "warning",
      message: `the command was stopped after --timeout ${formatDuration(config.timeoutMs ?? 0)}`
    });
    return { exitCode: ExitCode.timeout, outcome: "timeout" };
  }
  if (idle.signal.aborted) {
    emit({
      type: "warning",
      message: `the command printed nothing for --idle-timeout ${formatDuration(config.idleTimeoutMs ?? 0)} and was stopped`
    });
    return { exitCode: ExitCode.timeout, outcome: "timeout" };
  }
  return { exitCode: exit.code, outcome: exit.code === 0 ? "passed" : "failed" };
}
var init_command2 = __esm({
  "src/run/command.ts"() {
    "use strict";
    init_errors();
    init_command_line();
    init_duration();
  }
});

// src/run/host-slots.ts
import { randomBytes as randomBytes4 } from "node:crypto";
import { mkdir as mkdir11, readdir as readdir8, readFile as readFile22, rm as rm12, writeFile as writeFile15 } from "node:fs/promises";
import { availableParallelism as availableParallelism2 } from "node:os";
import { join as join22 } from "node:path";
import { setTimeout as sleep6 } from "node:timers/promises";
async function tryTakeHostSlot(cacheDir, needs, o) {
  var _stack = [];
  try {
    const all = Array.isArray(needs) ? needs : [needs];
    const dir = cachePath(cacheDir, "guests");
    await mkdir11(dir, { recursive: true, mode: 448 });
    const _admission = __using(_stack, await acquireLock(cachePath(cacheDir, "locks", "guests.lock"), {
      signal: o.signal
    }), true);
    const running = await liveSlots(dir);
    const limits = await hostLimitsNow(running, o.parallel);
    if (!mayStartTogether(all, running, limits)) return { busy: { running: running.length, limits } };
    const owner = await identifyProcess();
    const files = [];
    for (const one of all) {
      const file = join22(dir, `${process.pid}-${randomBytes4(4).toString("hex")}.json`);
      const record = { owner, memoryBytes: one.memoryBytes };
      await writeFile15(file, JSON.stringify(record), { mode: 384 });
      files.push(file);
    }
    return {
      slot: {
        [Symbol.asyncDispose]: async () => {
          for (const file of files) await rm12(file, { force: true });
        }
      }
    };
  } catch (_) {
    var _error = _, _hasError = true;
  } finally {
    var _promise = __callDispose(_stack, _error, _hasError);
    _promise && await _promise;
  }
}
async function waitForHostSlot(cacheDir, needs, o) {
  for (; ; ) {
    await sleep6(pollMs2, void 0, { signal: o.signal });
    const attempt = await tryTakeHostSlot(cacheDir, needs, o);
    if ("slot" in attempt) return attempt.slot;
  }
}
async function hostLimitsNow(running, parallel) {
  const reserved = running.reduce((sum, g) => sum + g.memoryBytes, 0);
  return {
    maxGuests: Math.max(availableParallelism2(), parallel ?? 0),
    memoryBytes: memoryBudget(await readMemInfo(), reserved)
  };
}
async function liveSlots(dir) {
  const self = await identifyProcess();
  const live = [];
  for (const file of await readdir8(dir).catch(() => [])) {
    let record;
    try {
      record = JSON.parse(await readFile22(join22(dir, file), "utf8"));
    } catch {
      continue;
    }
    const running = await isProcessRunning(record.owner, self);
    if (running === false) await rm12(join22(dir, file), { force: true });
    if (running === true) live.push({ memoryBytes: record.memoryBytes });
  }
  return live;
}
async function handOverHostSlot(cacheDir, needs, owner) {
  const dir = cachePath(cacheDir, "guests");
  await mkdir11(dir, { recursive: true, mode: 448 });
  const record = { owner, memoryBytes: needs.memoryBytes };
  await writeFile15(
    join22(dir, `${owner.pid}-${randomBytes4(4).toString("hex")}.json`),
    JSON.stringify(record),
    {
      mode: 384
    }
  );
}
var pollMs2;
var init_host_slots = __esm({
  "src/run/host-slots.ts"() {
    "use strict";
    init_lock();
    init_layout();
    init_process_identity();
    init_meminfo();
    init_schedule();
    pollMs2 = 500;
  }
});

// src/run/phase-clock.ts
var PhaseClock;
var init_phase_clock = __esm({
  "src/run/phase-clock.ts"() {
    "use strict";
    PhaseClock = class {
      constructor(emit, now = () => performance.now()) {
        this.emit = emit;
        this.now = now;
      }
      emit;
      now;
      records = [];
      open;
      start(phase) {
        if (this.open) this.end(true);
        this.open = { phase, started: this.now() };
        this.emit({ type: "phase-start", phase });
      }
      /** Ends the open phase, if any; `command`: how the command that ran in it ended. */
      end(ok, command) {
        if (!this.open) return;
        const record = { phase: this.open.phase, ms: Math.round(this.now() - this.open.started), ok };
        this.open = void 0;
        this.records.push(record);
        this.emit({ type: "phase-end", ...record, ...command ? { command } : {} });
      }
      async time(phase, work) {
        this.start(phase);
        try {
          const result = await work();
          this.end(true, phase === "command" ? result : void 0);
          return result;
        } catch (error) {
          this.end(false);
          throw error;
        }
      }
    };
  }
});

// src/run/run-config.ts
function defaultBootTimeoutMs(accel) {
  return accel === "kvm" ? 18e4 : 6e5;
}
var init_run_config = __esm({
  "src/run/run-config.ts"() {
    "use strict";
  }
});

// src/snapshot/store.ts
import { readFile as readFile23, stat as stat9, writeFile as writeFile16 } from "node:fs/promises";
import { join as join23 } from "node:path";
import { z as z6 } from "zod";
function snapshotsDir(cacheDir) {
  return cachePath(cacheDir, "snapshots");
}
function snapshotEntryName(imageName2, key) {
  return `${imageName2}-snapshot-${key.slice(0, 16)}`;
}
async function readSnapshot(dir) {
  let info;
  try {
    const parsed = snapshotInfoSchema.safeParse(
      JSON.parse(await readFile23(join23(dir, SnapshotFiles.info), "utf8"))
    );
    if (!parsed.success) return void 0;
    info = parsed.data;
  } catch {
    return void 0;
  }
  const memoryPath = join23(dir, SnapshotFiles.memory);
  const diskPath = join23(dir, SnapshotFiles.disk);
  const ramPath = info.files.ram ? join23(dir, SnapshotFiles.ram) : void 0;
  try {
    await stat9(memoryPath);
    await stat9(diskPath);
    if (ramPath) await stat9(ramPath);
  } catch {
    return void 0;
  }
  const lastUsed = await stat9(join23(dir, SnapshotFiles.lastUsed)).then(
    (s) => s.mtime,
    () => new Date(info.createdAt)
  );
  return {
    info,
    dir,
    entry: dir.split("/").pop() ?? dir,
    memoryPath,
    ramPath,
    diskPath,
    sizeOnDisk: await folderSize(dir),
    lastUsed
  };
}
async function findSnapshot(cacheDir, entry) {
  return readSnapshot(join23(snapshotsDir(cacheDir), entry));
}
async function scanSnapshots(cacheDir) {
  const { entries, broken, partial } = await scanEntries(snapshotsDir(cacheDir), readSnapshot);
  return { snapshots: entries, broken, partial };
}
function createPartialSnapshot(cacheDir, entry) {
  return createPartialFolder(snapshotsDir(cacheDir), entry);
}
async function commitSnapshot(partialDir, cacheDir, entry, info, ramSha256) {
  const ramPath = join23(partialDir, SnapshotFiles.ram);
  const files = {
    memory: await fileRecordOf(join23(partialDir, SnapshotFiles.memory)),
    disk: await fileRecordOf(join23(partialDir, SnapshotFiles.disk)),
    ram: ramSha256 ? { bytes: (await stat9(ramPath)).size, sha256: ramSha256 } : await fileRecordOf(ramPath, void 0, true)
  };
  const full = { ...info, files };
  await writeFile16(join23(partialDir, SnapshotFiles.info), `${JSON.stringify(full, null, 2)}
`);
  const stamps = {};
  for (const name of ["memory", "disk", "ram"]) {
    const now = await stat9(join23(partialDir, SnapshotFiles[name]));
    stamps[name] = { size: now.size, mtimeMs: now.mtimeMs, ino: now.ino };
  }
  await writeFile16(join23(partialDir, stampFile), JSON.stringify(stamps), { mode: 384 });
  return publishEntry(partialDir, join23(snapshotsDir(cacheDir), entry), readSnapshot);
}
async function verifySnapshot(snapshot, signal) {
  const stamps = await readStamps(snapshot.dir);
  let restamp = false;
  const files = [
    ["memory", snapshot.memoryPath],
    ["disk", snapshot.diskPath],
    ...snapshot.ramPath ? [["ram", snapshot.ramPath]] : []
  ];
  for (const [name, path] of files) {
    const expected = snapshot.info.files[name];
    if (!expected) return `its ${name} file is not recorded`;
    const now = await stat9(path).catch(() => void 0);
    if (!now) return `its ${name} file cannot be read`;
    const stamp = stamps[name];
    if (stamp && now.size === expected.bytes && now.size === stamp.size && now.mtimeMs === stamp.mtimeMs && now.ino === stamp.ino)
      continue;
    const actual = await fileRecordOf(path, signal, name === "ram").catch(() => void 0);
    if (!actual) return `its ${name} file cannot be read`;
    if (actual.bytes !== expected.bytes || actual.sha256 !== expected.sha256)
      return `its ${name} file does not match the digest recorded when it was saved`;
    stamps[name] = { size: now.size, mtimeMs: now.mtimeMs, ino: now.ino };
    restamp = true;
  }
  if (restamp)
    await writeFile16(join23(snapshot.dir, stampFile), JSON.stringify(stamps), { mode: 384 }).catch(
      () => void 0
    );
  return void 0;
}
async function readStamps(dir) {
  try {
    return JSON.parse(await readFile23(join23(dir, stampFile), "utf8"));
  } catch {
    return {};
  }
}
async function fileRecordOf(path, signal, zeroBlocks = false) {
  const { size: size2 } = await stat9(path);
  const hex = zeroBlocks ? await digestZeroBlocks(path, signal) : (await digestFile(path, "sha256", signal)).hex;
  return { bytes: size2, sha256: hex };
}
var SnapshotFiles, fileRecord, snapshotInfoSchema, stampFile;
var init_store = __esm({
  "src/snapshot/store.ts"() {
    "use strict";
    init_arch();
    init_layout();
    init_digest();
    init_cache();
    SnapshotFiles = {
      /** QEMU's migration stream of the stopped guest: its devices (its memory is in `ram`). */
      memory: "memory.bin",
      /**
       * The guest's memory, a file as large as it with holes where it never wrote: restored guests
       * map it copy-on-write (snapshot format 7 on).
       */
      ram: "memory.ram",
      /** The guest's disk as it was when the memory was saved: a qcow2 over the image. */
      disk: "disk.qcow2",
      lastUsed: ImageFiles.lastUsed,
      /** Written last. */
      info: "snapshot.json"
    };
    fileRecord = z6.object({ bytes: z6.number(), sha256: z6.string().regex(/^[0-9a-f]{64}$/) });
    snapshotInfoSchema = z6.object({
      key: z6.string(),
      image: z6.object({ name: z6.string(), entry: z6.string().optional(), digest: z6.string() }),
      /** What the key was made from, for people: `kvmci image ls` shows it. */
      made: z6.object({
        /** Absent in snapshots saved before kvmci ran arm64 guests: those are x86_64. */
        arch: z6.enum(arches).optional(),
        accel: z6.enum(["kvm", "tcg"]),
        cpus: z6.number(),
        memoryBytes: z6.number(),
        diskBytes: z6.number().optional(),
        boot: z6.enum(["firmware", "kernel"]),
        network: z6.enum(["user", "none"]),
        qemuVersion: z6.string(),
        hostCpu: z6.string().optional()
      }),
      user: z6.string(),
      /** The user's uid and gid in the saved guest: a workspace disk's files are theirs. */
      userIds: z6.object({ uid: z6.number().int(), gid: z6.number().int() }).optional(),
      /** The saved guest's SSH host key: every restored guest presents it. */
      hostPublicKey: z6.string(),
      /** `ram`'s sha256 is digestZeroBlocks': its empty blocks are not hashed. */
      files: z6.object({ memory: fileRecord, disk: fileRecord, ram: fileRecord.optional() }),
      saveMs: z6.number(),
      createdAt: z6.string()
    });
    stampFile = "verified.json";
  }
});

// src/run/workspace.ts
async function putWorkspace(guest, config, o) {
  if (!config.sync) {
    const made = await guest.exec(buildWorkdirCommand(config.workdir), { signal: o.signal });
    if (made.code !== 0)
      throw new KvmciError(
        "guestLost",
        `Creating ${config.workdir} in the guest failed (exit code ${made.code})`
      );
    return;
  }
  const synced = await syncWorkspace(
    guest,
    { ...workspaceSource(config), workdir: config.workdir },
    o.signal
  );
  o.emit(syncedNote(synced, "ssh"));
}
function workspaceSource(config) {
  if (!config.sync) return void 0;
  return { cwd: config.cwd, excludes: config.exclude, artifactsDir: config.artifactsDir };
}
function syncedNote(synced, how) {
  const size2 = formatSize(synced.bytes);
  const on = how === "disk" ? ", on the workspace disk" : "";
  return {
    type: "note",
    message: synced.mode === "git" ? `synced ${synced.files} files, ${size2}${on} (git: tracked and untracked, not ignored)` : `synced the folder, ${size2}${on} (not a git work tree: everything in it; --exclude leaves things out)`
  };
}
var init_workspace2 = __esm({
  "src/run/workspace.ts"() {
    "use strict";
    init_errors();
    init_tar_args();
    init_transfer2();
    init_size();
  }
});

// src/run/warm.ts
import { rm as rm13 } from "node:fs/promises";
import { join as join24, relative as relative4 } from "node:path";
async function planSnapshot(guest, image, userData, cacheDir) {
  const spec = guest.machineSpec();
  const parts = {
    imageDigest: image.info.digest,
    qemuVersion: await qemuVersion(spec.arch),
    machine: machineArgs(spec),
    hostCpu: spec.accel === "kvm" ? await hostCpuIdentity() : void 0,
    // The user's cloud-config ran during the saved boot: other settings need another boot.
    userData: userData ?? null,
    diskBytes: guest.spec.diskBytes ?? image.info.virtualSize,
    wakeAgent: wakeAgentScript
  };
  const key = snapshotKey(parts);
  const entry = snapshotEntryName(image.info.name, key);
  return { key, entry, parts, existing: await findSnapshot(cacheDir, entry) };
}
async function restoreSnapshot(guest, snapshot, deadline, signal, workspaceDir) {
  await guest.restore(
    {
      memoryPath: snapshot.memoryPath,
      ramPath: snapshot.ramPath,
      hostPublicKey: snapshot.info.hostPublicKey,
      verified: verifyOnce(snapshot, signal),
      workspaceDir
    },
    deadline,
    signal
  );
}
function verifyOnce(snapshot, signal) {
  const key = `${snapshot.dir}
${snapshot.info.createdAt}`;
  let verification = verifications.get(key);
  if (!verification) {
    verification = verifySnapshot(snapshot, signal);
    verifications.set(key, verification);
    verification.catch(() => verifications.delete(key));
  }
  return verification;
}
async function discardSnapshot(snapshot) {
  verifications.delete(`${snapshot.dir}
${snapshot.info.createdAt}`);
  await rm13(snapshot.dir, { recursive: true, force: true });
}
async function saveSnapshot(guest, image, plan, o) {
  var _stack = [];
  try {
    let lock;
    try {
      lock = await acquireLock(cachePath(o.cacheDir, "locks", `${plan.entry}.lock`), {
        signal: o.signal,
        timeoutMs: 0
      });
    } catch {
      o.signal.throwIfAborted();
      o.emit({ type: "note", message: "another kvmci is saving this snapshot; not saving it twice" });
      return void 0;
    }
    const _lock = __using(_stack, lock, true);
    if (await findSnapshot(o.cacheDir, plan.entry)) return void 0;
    const partial = await createPartialSnapshot(o.cacheDir, plan.entry);
    try {
      await guest.exec(buildWorkdirCommand(o.workdir), { signal: o.signal });
      const started = performance.now();
      const saved = await guest.saveState(partial, o.deadline, o.signal);
      const saveMs = Math.round(performance.now() - started);
      const finalDir = join24(snapshotsDir(o.cacheDir), plan.entry);
      await rebaseOverlay(
        {
          path: saved.diskPath,
          backingFile: image.entry ? relative4(finalDir, image.diskPath) : image.diskPath,
          backingFormat: image.info.format
        },
        o.signal
      );
      const spec = guest.machineSpec();
      const info = {
        key: plan.key,
        image: { name: image.info.name, entry: image.entry, digest: image.info.digest },
        made: {
          arch: spec.arch,
          accel: spec.accel,
          cpus: spec.cpus,
          memoryBytes: guest.spec.memoryBytes,
          diskBytes: guest.spec.diskBytes,
          boot: guest.spec.boot,
          network: guest.spec.network,
          qemuVersion: plan.parts.qemuVersion,
          hostCpu: plan.parts.hostCpu
        },
        user: guest.user,
        userIds: saved.owner,
        hostPublicKey: guest.hostPublicKey,
        saveMs,
        createdAt: o.now().toISOString()
      };
      const snapshot = await commitSnapshot(partial, o.cacheDir, plan.entry, info, saved.ramSha256);
      o.emit({
        type: "note",
        message: `saved the ready guest as snapshot ${plan.entry} (${formatSize(snapshot.sizeOnDisk)}, ${formatDuration(saveMs)}); later runs with these settings start from it`
      });
      return snapshot;
    } catch (error) {
      await rm13(partial, { recursive: true, force: true });
      throw error;
    }
  } catch (_) {
    var _error = _, _hasError = true;
  } finally {
    var _promise = __callDispose(_stack, _error, _hasError);
    _promise && await _promise;
  }
}
async function startGuest(guest, o) {
  const { clock, signal, emit } = o;
  const snapshot = o.plan?.existing;
  await clock.time(
    "overlay",
    () => guest.createOverlay(
      signal,
      snapshot ? { path: snapshot.diskPath, format: "qcow2" } : void 0
    )
  );
  await clock.time("seed", () => guest.writeSeed(o.now()));
  const inUse = snapshot ? await markInUse(o.cacheDir, snapshot.entry, signal) : void 0;
  try {
    if (snapshot) {
      const packed = await packWorkspaceDisk(guest, snapshot, o);
      clock.start("restore");
      try {
        await restoreSnapshot(
          guest,
          snapshot,
          Date.now() + o.bootTimeoutMs,
          signal,
          packed ? o.workdir : void 0
        );
        clock.end(true);
        await touchFolder(snapshot.dir);
        emit({ type: "note", message: `started from snapshot ${snapshot.entry}` });
        if (packed && guest.workspaceMounted) emit(syncedNote(packed, "disk"));
        else if (packed)
          emit({
            type: "note",
            message: "the guest did not mount its workspace disk; sending the workspace over SSH"
          });
        return {
          snapshot: { entry: snapshot.entry, use: "restored" },
          cloudInitErrors: [],
          inUse,
          synced: guest.workspaceMounted
        };
      } catch (error) {
        clock.end(false);
        if (signal.aborted) throw error;
        emit({
          type: "note",
          message: `snapshot ${snapshot.entry} could not be restored (${errorMessage(error)}); booting cold and saving a new one`
        });
        await discardSnapshot(snapshot);
        await guest.reset(signal);
      }
    }
    let cloudInitErrors = await bootCold(guest, o);
    if (!o.plan) return { snapshot: void 0, cloudInitErrors, inUse, synced: false };
    try {
      const saved = await clock.time(
        "snapshot",
        () => saveSnapshot(guest, o.image, o.plan, {
          cacheDir: o.cacheDir,
          deadline: Date.now() + o.bootTimeoutMs,
          signal,
          emit,
          now: o.now,
          workdir: o.workdir
        })
      );
      return {
        snapshot: saved ? { entry: saved.entry, use: "saved" } : void 0,
        cloudInitErrors,
        inUse,
        synced: false
      };
    } catch (error) {
      if (signal.aborted || isKvmciError(error)) throw error;
      if (!guest.running) throw await guest.lostFailure(error);
      emit({
        type: "warning",
        message: `saving a snapshot failed (${errorMessage(error)}); booting again without one`
      });
      await guest.reset(signal);
      cloudInitErrors = await bootCold(guest, o);
      return { snapshot: void 0, cloudInitErrors, inUse, synced: false };
    }
  } catch (error) {
    await inUse?.[Symbol.asyncDispose]();
    throw error;
  }
}
async function packWorkspaceDisk(guest, snapshot, o) {
  const owner = snapshot.info.userIds;
  if (!o.workspace || !owner || !mountableWorkdir(o.workdir)) return void 0;
  const unavailable = await workspaceDiskUnavailable();
  if (unavailable) {
    o.emit({ type: "note", message: `the workspace goes over SSH, more slowly: ${unavailable}` });
    return void 0;
  }
  const packed = await o.clock.time(
    "sync",
    () => guest.packWorkspaceDisk(o.workspace, owner, o.signal)
  );
  if (packed.kind === "built") return packed.sync;
  o.emit({
    type: "note",
    message: `the workspace goes over SSH, more slowly: ${packed.why}`
  });
  return void 0;
}
async function bootCold(guest, o) {
  o.clock.start("boot");
  await guest.launch(o.signal, { memory: o.plan ? "saveable" : void 0 });
  const ready = await guest.waitReady(
    Date.now() + o.bootTimeoutMs,
    o.signal,
    () => o.clock.start("ready")
  );
  o.clock.end(true);
  for (const problem of ready.cloudInitErrors)
    o.emit({ type: "warning", message: `cloud-init reported: ${problem}` });
  return ready.cloudInitErrors;
}
var verifications;
var init_warm = __esm({
  "src/run/warm.ts"() {
    "use strict";
    init_layout();
    init_lock();
    init_duration();
    init_size();
    init_overlay();
    init_key();
    init_version();
    init_store();
    init_tar_args();
    init_in_use();
    init_errors();
    init_cache();
    init_error_message();
    init_wake();
    init_workspace_disk();
    init_workspace2();
    verifications = /* @__PURE__ */ new Map();
  }
});

// src/guest/kept.ts
import { lstat as lstat6, mkdir as mkdir12, readdir as readdir9, readFile as readFile24, rm as rm14, writeFile as writeFile17 } from "node:fs/promises";
import { basename as basename4, join as join25 } from "node:path";
import { setTimeout as sleep7 } from "node:timers/promises";
async function writeKeptRecord(cacheDir, record) {
  const dir = cachePath(cacheDir, "kept");
  await mkdir12(dir, { recursive: true, mode: 448 });
  await writeFile17(join25(dir, `${record.name}.json`), JSON.stringify(record, null, 2), {
    mode: 384
  });
}
async function listKeptGuests(cacheDir) {
  const dir = cachePath(cacheDir, "kept");
  const files = await readdir9(dir).catch(() => []);
  const self = await identifyProcess();
  const out = [];
  for (const file of files.filter((f) => f.endsWith(".json")).sort()) {
    let guest;
    try {
      guest = JSON.parse(await readFile24(join25(dir, file), "utf8"));
    } catch {
      continue;
    }
    if (!namePattern2.test(guest.name)) continue;
    const running = await isProcessRunning(guest.owner, self);
    out.push({
      guest,
      state: running === void 0 ? "elsewhere" : running ? "running" : "stopped"
    });
  }
  return out;
}
async function stopKeptGuest(cacheDir, guest) {
  const self = await identifyProcess();
  if (await isProcessRunning(guest.owner, self)) {
    try {
      process.kill(guest.owner.pid, "SIGTERM");
    } catch {
    }
    for (let i = 0; i < 100 && await isProcessRunning(guest.owner, self); i++) await sleep7(100);
  }
  await removeKeptGuest(cacheDir, guest);
}
async function removeKeptGuest(cacheDir, guest) {
  const folder = await lstat6(guest.folder).catch(() => void 0);
  if (folder?.isDirectory() && basename4(guest.folder).startsWith(runFolderPrefix) && folder.uid === process.getuid?.())
    await rm14(guest.folder, { recursive: true, force: true });
  await rm14(cachePath(cacheDir, "kept", `${guest.name}.json`), { force: true });
}
var namePattern2;
var init_kept = __esm({
  "src/guest/kept.ts"() {
    "use strict";
    init_layout();
    init_process_identity();
    init_run_folder();
    namePattern2 = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
  }
});

// src/guest/shell.ts
async function openShell(guest, terminal, command) {
  const { input, output } = terminal;
  input.setRawMode?.(true);
  input.resume();
  try {
    const size2 = terminal.size();
    const result = await guest.exec(command, {
      pty: { term: terminal.term, rows: size2.rows, cols: size2.columns },
      window: (resize) => terminal.onResize(() => {
        const now = terminal.size();
        resize({ rows: now.rows, cols: now.columns });
      }),
      stdin: input,
      onStdout: (chunk) => output.write(chunk),
      onStderr: (chunk) => output.write(chunk)
    });
    return result.code;
  } finally {
    input.setRawMode?.(false);
    input.pause();
  }
}
var init_shell = __esm({
  "src/guest/shell.ts"() {
    "use strict";
  }
});

// src/run/debug.ts
async function shellAfterFailure(guest, config, o) {
  if (!o.terminal) {
    o.emit({
      type: "note",
      message: `--shell-on-failure: no shell (${o.why}), since kvmci's input and output are not a terminal`
    });
    return;
  }
  const terminal = o.terminal;
  await terminal.exclusive(async () => {
    o.emit({
      type: "note",
      message: `${o.why}: here is a shell in the guest, in ${config.workdir}; leave it with exit or Ctrl-D and the guest is torn down`
    });
    const command = buildGuestCommandLine(
      { script: "exec bash -i" },
      { workdir: config.workdir, env: { ...config.baseEnv, ...config.env, TERM: terminal.term } }
    );
    await openShell(guest, terminal, command);
  });
}
async function keepGuest(guest, config, o) {
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
    startedAt: (/* @__PURE__ */ new Date()).toISOString(),
    until,
    owner: keeper
  });
  o.emit({
    type: "note",
    message: `kept the guest as ${name} for ${formatDuration(o.forMs)} (it stops by itself at ${until}): kvmci ssh ${name} \xB7 kvmci ls \xB7 kvmci stop ${name}`
  });
  return { name, until };
}
var init_debug = __esm({
  "src/run/debug.ts"() {
    "use strict";
    init_in_use();
    init_command_line();
    init_kept();
    init_shell();
    init_duration();
    init_host_slots();
  }
});

// src/run/run.ts
async function run(config, deps, emitEvent) {
  const emit = (event) => {
    if (event.type === "warning") result.warnings.push(event.message);
    emitEvent(event);
  };
  const clock = new PhaseClock(emit);
  const result = {
    outcome: "error",
    exitCode: 0,
    image: void 0,
    accel: void 0,
    boot: void 0,
    phases: clock.records,
    artifacts: [],
    cloudInitErrors: [],
    warnings: [],
    prepared: void 0,
    snapshot: void 0,
    error: void 0
  };
  const { signal } = deps;
  try {
    var _stack = [];
    try {
      const ensureTools = deps.ensureTools ?? refuseMissingTools;
      const git = config.sync && await inGitWorkTree(config.cwd);
      await ensureTools(
        [qemuBinary(config.arch), "qemu-img", "tar", ...git ? ["git"] : []],
        `to run ${config.arch === deps.hostArch ? "a guest" : `an ${config.arch} guest`}`
      );
      await requireWritableCache(deps.cacheDir);
      for (const folder of await removeStaleRunFolders(deps.tmpdir))
        emit({ type: "note", message: `removed ${folder}, left by a kvmci that was killed` });
      const { image, inUse } = await clock.time(
        "image",
        () => resolveForRun(config, deps, { ensureTools, emit, result })
      );
      const _inUse = __using(_stack, inUse, true);
      if (bootMethodFor(config, image) === "firmware" && config.arch === "aarch64")
        await ensureTools([aarch64Uefi.code], "to boot an arm64 image through its firmware");
      const accel = await chooseAccel(config, image, {
        cacheDir: deps.cacheDir,
        signal,
        emit,
        hostArch: deps.hostArch
      });
      result.accel = { name: accel.accel, reason: accel.reason };
      const bootTimeoutMs = config.bootTimeoutMs ?? defaultBootTimeoutMs(accel.accel);
      const _slot = __using(_stack, await takeSlot(config, deps, clock, emit), true);
      let guestImage = image;
      const _preparedInUse = __using(_stack, config.provision ? await clock.time("prepare", async () => {
        const prepared = await prepareForRun(image, config.provision, {
          cacheDir: deps.cacheDir,
          arch: config.arch,
          accel: accel.accel,
          cpu: accel.cpu,
          cpus: config.cpus,
          memoryBytes: config.memoryBytes,
          diskBytes: config.diskBytes,
          boot: bootMethodFor(config, image),
          bootTimeoutMs,
          consoleLog: config.consoleLog,
          tmpdir: deps.tmpdir,
          signal,
          emit,
          now: deps.now,
          trust: trustCloudConfig(config.hostTrust?.certificates ?? []),
          env: provisioningEnv(config)
        });
        guestImage = prepared.image;
        result.prepared = { entry: prepared.image.entry, reused: prepared.reused };
        return prepared.inUse;
      }) : void 0, true);
      await runGuest(config, deps, {
        entries: [image.entry, result.prepared?.entry].filter((e) => Boolean(e)),
        image: guestImage,
        machine: accel,
        bootTimeoutMs,
        clock,
        result,
        emit
      });
    } catch (_) {
      var _error = _, _hasError = true;
    } finally {
      var _promise = __callDispose(_stack, _error, _hasError);
      _promise && await _promise;
    }
  } catch (error) {
    clock.end(false);
    if (signal.aborted) {
      result.outcome = "interrupted";
      result.exitCode = signal.reason === "SIGTERM" ? ExitCode.sigterm : ExitCode.sigint;
    } else {
      const failure = isKvmciError(error) ? error : new KvmciError("internal", errorMessage(error), {
        cause: error,
        hint: "This is a bug in kvmci, not something you did: please report it with this output."
      });
      result.outcome = "error";
      result.error = failure;
      result.exitCode = failure.exitCode;
    }
  }
  return result;
}
async function resolveForRun(config, deps, o) {
  const { emit, result } = o;
  const options = {
    arch: config.arch,
    hostArch: deps.hostArch,
    cacheDir: deps.cacheDir,
    catalogDirs: deps.catalogDirs,
    http: deps.http,
    cwd: config.cwd,
    home: deps.home,
    mirror: config.mirror,
    isRoot: deps.isRoot,
    signal: deps.signal,
    onNote: (message) => emit({ type: "note", message }),
    onStep: (message) => emit({ type: "progress", phase: "image", message }),
    onTransfer: (what, progress) => emit({ type: "transfer", phase: "image", what, progress }),
    ensureTools: o.ensureTools
  };
  for (; ; ) {
    const { image, origin } = await resolveImage(config.image, options);
    result.image = { name: image.info.name, digest: image.info.digest, origin };
    if (config.diskBytes !== void 0 && config.diskBytes < image.info.virtualSize)
      throw new KvmciError(
        "usage",
        `--disk ${formatSize(config.diskBytes)} is smaller than the image ${image.info.name} (${formatSize(image.info.virtualSize)})`,
        { hint: "Give --disk at least the image's size, or leave it out for the image's own." }
      );
    if (!image.entry) return { image, inUse: void 0 };
    const inUse = await markInUse(deps.cacheDir, image.entry, deps.signal);
    if (await findCachedEntry(deps.cacheDir, image.entry)) {
      await touchLastUsed(image);
      return { image, inUse };
    }
    await inUse[Symbol.asyncDispose]();
  }
}
function provisioningEnv(config) {
  return {
    ...config.hostTrust?.proxy ?? {},
    ...config.baseEnv.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: config.baseEnv.NODE_EXTRA_CA_CERTS } : {}
  };
}
async function takeSlot(config, deps, clock, emit) {
  const needs = { memoryBytes: config.memoryBytes };
  const options = { parallel: config.parallel, signal: deps.signal };
  const attempt = await tryTakeHostSlot(deps.cacheDir, needs, options);
  if ("slot" in attempt) return attempt.slot;
  return clock.time("queue", () => {
    const { running, limits } = attempt.busy;
    emit({
      type: "note",
      message: `waiting for the host: ${running} other guest${running === 1 ? "" : "s"} running (at most ${limits.maxGuests} at once here, and ${formatSize(limits.memoryBytes)} of memory for guests)`
    });
    return waitForHostSlot(deps.cacheDir, needs, options);
  });
}
function bootMethodFor(config, image) {
  const hasKernel = Boolean(
    image.info.boot.kernel && image.info.boot.initrd && image.info.boot.cmdline
  );
  if (config.boot === "kernel" && !hasKernel) {
    throw new KvmciError(
      "image",
      `--boot kernel: the image ${image.info.name} has no kernel stored beside it`,
      { hint: "Use --boot firmware (or auto) for this image." }
    );
  }
  if (config.boot === "firmware" && image.info.boot.firmware === "none") {
    throw new KvmciError(
      "image",
      `--boot firmware: the image ${image.info.name} has no bootloader; it boots only with its kernel`,
      { hint: "Use --boot kernel (or auto) for this image." }
    );
  }
  return config.boot === "firmware" || !hasKernel ? "firmware" : "kernel";
}
function guestUserData(config) {
  const trust = trustCloudConfig(config.hostTrust?.certificates ?? []);
  if (!trust) return config.userData;
  return config.userData ? mergeCloudConfig(trust, config.userData) : trust;
}
async function runGuest(config, deps, o) {
  const { signal } = deps;
  const { image, clock, result, emit } = o;
  const boot = bootMethodFor(config, image);
  result.boot = boot;
  const userData = guestUserData(config);
  const guest = await Guest.create(
    {
      name: image.info.name,
      image,
      arch: config.arch,
      accel: o.machine.accel,
      cpu: o.machine.cpu,
      cpus: config.cpus,
      memoryBytes: config.memoryBytes,
      diskBytes: config.diskBytes,
      boot,
      network: config.network,
      extraUserData: userData,
      consoleLogCopy: config.consoleLog,
      keepable: deps.keepForMs !== void 0
    },
    deps.tmpdir
  );
  const keep = async (snapshotEntry2) => {
    if (deps.keepForMs === void 0 || !guest.reachable) return;
    result.kept = await keepGuest(guest, config, {
      forMs: deps.keepForMs,
      cacheDir: deps.cacheDir,
      entries: [...o.entries, ...snapshotEntry2 ? [snapshotEntry2] : []],
      emit
    });
  };
  let snapshotEntry;
  try {
    var _stack = [];
    try {
      const plan = config.snapshot ? await planSnapshot(guest, image, userData, deps.cacheDir) : void 0;
      if (deps.prepareOnly && (plan?.existing || !plan)) {
        result.outcome = "passed";
        if (plan?.existing) {
          result.snapshot = { entry: plan.existing.entry, use: "cached" };
          emit({ type: "note", message: `snapshot ${plan.existing.entry} is already cached` });
        }
        return;
      }
      const started = await startGuest(guest, {
        plan,
        image,
        cacheDir: deps.cacheDir,
        bootTimeoutMs: o.bootTimeoutMs,
        workdir: config.workdir,
        workspace: workspaceSource(config),
        clock,
        signal,
        emit,
        now: deps.now
      });
      const _snapshotInUse = __using(_stack, started.inUse, true);
      result.snapshot = started.snapshot;
      if (started.snapshot?.use === "restored") snapshotEntry = started.snapshot.entry;
      result.cloudInitErrors = started.cloudInitErrors;
      if (deps.prepareOnly) {
        result.outcome = "passed";
        return;
      }
      if (!started.synced)
        await clock.time("sync", () => putWorkspace(guest, config, { signal, emit }));
      const commandStarted = Date.now();
      const command = await clock.time(
        "command",
        () => runCommand2(guest, config, { signal, emit, size: deps.terminalSize?.() })
      );
      result.exitCode = command.exitCode;
      result.outcome = command.outcome;
      if (config.artifacts.length > 0)
        result.artifacts = await clock.time(
          "artifacts",
          () => bringBackArtifacts(guest, config, { umask: deps.umask, commandStarted, signal, emit })
        );
      if (config.shellOnFailure && command.outcome !== "passed")
        await shellAfterFailure(guest, config, {
          why: command.outcome === "timeout" ? "the command timed out" : `the command failed with exit code ${command.exitCode}`,
          terminal: deps.terminal,
          emit
        });
      await keep(snapshotEntry);
    } catch (_) {
      var _error = _, _hasError = true;
    } finally {
      var _promise = __callDispose(_stack, _error, _hasError);
      _promise && await _promise;
    }
  } catch (error) {
    clock.end(false);
    if (!signal.aborted && guest.reachable && isKvmciError(error)) {
      if (config.shellOnFailure)
        await shellAfterFailure(guest, config, {
          why: error.message,
          terminal: deps.terminal,
          emit
        }).catch(() => void 0);
      await keep(snapshotEntry).catch(() => void 0);
    }
    if (error instanceof ConnectionLostError && !signal.aborted && guest.launched)
      throw await guest.lostFailure(error);
    throw error;
  } finally {
    clock.start("teardown");
    try {
      await guest[Symbol.asyncDispose]();
      clock.end(true);
    } catch (error) {
      clock.end(false);
      emit({ type: "warning", message: `teardown: ${errorMessage(error)}` });
    }
  }
}
var init_run = __esm({
  "src/run/run.ts"() {
    "use strict";
    init_errors();
    init_in_use();
    init_layout();
    init_trust();
    init_user_data();
    init_guest();
    init_run_folder();
    init_cache();
    init_resolve();
    init_args();
    init_firmware();
    init_workspace();
    init_error_message();
    init_size();
    init_accel2();
    init_artifacts2();
    init_command2();
    init_host_slots();
    init_phase_clock();
    init_prepare();
    init_run_config();
    init_warm();
    init_workspace2();
    init_debug();
  }
});

// src/guest/lan-config.ts
function buildLanCommand(o) {
  const hosts = o.peers.map((p) => `${p.address} ${p.name} # kvmci-lan`).join("\n");
  const network = [
    "[Match]",
    `MACAddress=${o.mac}`,
    "",
    "[Network]",
    `Address=${o.address}/24`,
    "LinkLocalAddressing=no",
    "IPv6AcceptRA=no",
    ""
  ].join("\n");
  const script = [
    "set -e",
    `dev=; for d in /sys/class/net/*; do if [ "$(cat "$d/address")" = ${shellQuote(o.mac)} ]; then dev=\${d##*/}; fi; done`,
    `[ -n "$dev" ] || { echo "kvmci: no network card with MAC ${o.mac} in this guest" >&2; exit 1; }`,
    "if command -v networkctl >/dev/null 2>&1 && systemctl is-active -q systemd-networkd; then",
    `  printf '%s' ${shellQuote(network)} > /etc/systemd/network/10-kvmci-lan.network`,
    '  networkctl reload && networkctl reconfigure "$dev"',
    "else",
    `  ip link set "$dev" up && ip addr replace ${o.address}/24 dev "$dev"`,
    "fi",
    "sed -i '/# kvmci-lan$/d' /etc/hosts",
    `printf '%s\\n' ${shellQuote(hosts)} >> /etc/hosts`,
    `i=0; until ip -4 -o addr show dev "$dev" | grep -q ' ${o.address.replace(/\./g, "\\.")}/'; do`,
    '  i=$((i + 1)); [ $i -lt 100 ] || { echo "kvmci: $dev did not get its address" >&2; exit 1; }; sleep 0.1',
    "done"
  ].join("\n");
  return shellJoin(["sudo", "sh", "-c", script]);
}
function buildProbeCommand(probe2, address) {
  if (probe2.kind === "tcp")
    return `timeout 2 bash -c ${shellQuote(`</dev/tcp/${address}/${probe2.port}`)} 2>/dev/null`;
  return probe2.command;
}
var init_lan_config = __esm({
  "src/guest/lan-config.ts"() {
    "use strict";
    init_shell_quote();
  }
});

// src/net/lan.ts
import { chmod as chmod4 } from "node:fs/promises";
import { createServer as createServer2 } from "node:net";
function lanAddress(index) {
  return `10.72.0.${10 + index}`;
}
function lanMac(index) {
  return `52:54:00:4c:00:${(index + 1).toString(16).padStart(2, "0")}`;
}
var LanSwitch;
var init_lan = __esm({
  "src/net/lan.ts"() {
    "use strict";
    LanSwitch = class _LanSwitch {
      constructor(server, path) {
        this.server = server;
        this.path = path;
      }
      server;
      path;
      ports = /* @__PURE__ */ new Set();
      where = /* @__PURE__ */ new Map();
      /** Frames switched, for tests and the report. */
      frames = 0;
      static async start(path) {
        const server = createServer2();
        const lan = new _LanSwitch(server, path);
        server.on("connection", (socket) => lan.attach(socket));
        await new Promise((resolve4, reject) => {
          server.once("error", reject);
          server.listen(path, resolve4);
        });
        await chmod4(path, 384);
        return lan;
      }
      attach(socket) {
        this.ports.add(socket);
        let pending = Buffer.alloc(0);
        socket.on("data", (chunk) => {
          pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
          while (pending.length >= 4) {
            const length = pending.readUInt32BE(0);
            if (length > 65536) {
              socket.destroy();
              return;
            }
            if (pending.length < 4 + length) break;
            this.forward(socket, pending.subarray(0, 4 + length));
            pending = pending.subarray(4 + length);
          }
        });
        const forget = () => {
          this.ports.delete(socket);
          for (const [mac, port] of this.where) if (port === socket) this.where.delete(mac);
        };
        socket.on("close", forget);
        socket.on("error", forget);
      }
      /** `packet` is the length and the frame: passed on as it came. */
      forward(from, packet) {
        if (packet.length < 4 + 14) return;
        this.frames++;
        const destination = packet.subarray(4, 10).toString("hex");
        const source = packet.subarray(10, 16).toString("hex");
        this.where.set(source, from);
        const known = this.where.get(destination);
        const copy = Buffer.from(packet);
        if (known && known !== from) known.write(copy);
        else if (!known) {
          for (const port of this.ports) if (port !== from) port.write(copy);
        }
      }
      async [Symbol.asyncDispose]() {
        for (const port of this.ports) port.destroy();
        await new Promise((resolve4) => this.server.close(() => resolve4()));
      }
    };
  }
});

// src/run/topology.ts
import { mkdtemp as mkdtemp4, rm as rm15 } from "node:fs/promises";
import { tmpdir as osTmpdir2 } from "node:os";
import { join as join26 } from "node:path";
import { setTimeout as sleep8 } from "node:timers/promises";
async function runTopology(config, deps, o) {
  const topology = config.topology ?? [];
  const { signal } = deps;
  const members = topology.map((spec, index) => {
    const raw = o.emitFor(spec.name);
    const member = {
      spec,
      index,
      emit: (event) => {
        if (event.type === "warning") member.result.warnings.push(event.message);
        raw(event);
      },
      clock: void 0,
      result: void 0,
      bootTimeoutMs: 0,
      cleanups: []
    };
    member.clock = new PhaseClock(member.emit);
    member.result = newResult(member.clock);
    return member;
  });
  const stop = new AbortController();
  const stageSignal = AbortSignal.any([signal, stop.signal]);
  let lan;
  let lanFolder;
  try {
    const ensureTools = deps.ensureTools ?? refuseMissingTools;
    await ensureTools([qemuBinary(config.arch), "qemu-img", "tar", "git"], "to run the guests");
    await requireWritableCache(deps.cacheDir);
    for (const folder of await removeStaleRunFolders(deps.tmpdir))
      members[0]?.emit({
        type: "note",
        message: `removed ${folder}, left by a kvmci that was killed`
      });
    await stage(members, stop, signal, async (m) => {
      const { image, inUse } = await m.clock.time(
        "image",
        () => resolveForRun(m.spec.config, deps, { ensureTools, emit: m.emit, result: m.result })
      );
      if (inUse) m.cleanups.push(() => inUse[Symbol.asyncDispose]());
      m.image = image;
      m.accel = await chooseAccel(m.spec.config, image, {
        cacheDir: deps.cacheDir,
        signal: stageSignal,
        emit: m.emit,
        hostArch: deps.hostArch
      });
      m.result.accel = { name: m.accel.accel, reason: m.accel.reason };
      m.bootTimeoutMs = m.spec.config.bootTimeoutMs ?? defaultBootTimeoutMs(m.accel.accel);
    });
    const slot = await admitTogether(members, config, deps);
    members[0].cleanups.push(() => slot[Symbol.asyncDispose]());
    await stage(members, stop, signal, async (m) => {
      const provision2 = m.spec.config.provision;
      if (!provision2) return;
      await m.clock.time("prepare", async () => {
        const prepared = await prepareForRun(m.image, provision2, {
          cacheDir: deps.cacheDir,
          arch: m.spec.config.arch,
          accel: m.accel.accel,
          cpu: m.accel.cpu,
          cpus: m.spec.config.cpus,
          memoryBytes: m.spec.config.memoryBytes,
          diskBytes: m.spec.config.diskBytes,
          boot: bootMethodFor(m.spec.config, m.image),
          bootTimeoutMs: m.bootTimeoutMs,
          consoleLog: m.spec.config.consoleLog,
          tmpdir: deps.tmpdir,
          signal: stageSignal,
          emit: m.emit,
          now: deps.now,
          trust: trustCloudConfig(m.spec.config.hostTrust?.certificates ?? []),
          env: provisioningEnv(m.spec.config)
        });
        m.cleanups.push(() => prepared.inUse[Symbol.asyncDispose]());
        m.image = prepared.image;
        m.result.prepared = { entry: prepared.image.entry, reused: prepared.reused };
      });
    });
    lanFolder = await mkdtemp4(join26(deps.tmpdir ?? osTmpdir2(), "kvmci-lan-"));
    lan = await LanSwitch.start(join26(lanFolder, "lan.sock"));
    const peers = members.map((m) => ({ name: m.spec.name, address: lanAddress(m.index) }));
    await stage(members, stop, signal, async (m) => {
      const cfg = m.spec.config;
      const boot = bootMethodFor(cfg, m.image);
      m.result.boot = boot;
      const userData = guestUserData(cfg);
      const guest = await Guest.create(
        {
          name: m.spec.name,
          image: m.image,
          arch: cfg.arch,
          accel: m.accel.accel,
          cpu: m.accel.cpu,
          cpus: cfg.cpus,
          memoryBytes: cfg.memoryBytes,
          diskBytes: cfg.diskBytes,
          boot,
          network: cfg.network,
          extraUserData: userData,
          consoleLogCopy: cfg.consoleLog,
          lan: { socketPath: lan.path, mac: lanMac(m.index) }
        },
        deps.tmpdir
      );
      m.guest = guest;
      const plan = cfg.snapshot ? await planSnapshot(guest, m.image, userData, deps.cacheDir) : void 0;
      const started = await startGuest(guest, {
        plan,
        image: m.image,
        cacheDir: deps.cacheDir,
        bootTimeoutMs: m.bootTimeoutMs,
        workdir: cfg.workdir,
        workspace: workspaceSource(cfg),
        clock: m.clock,
        signal: stageSignal,
        emit: m.emit,
        now: deps.now
      });
      if (started.inUse) m.cleanups.push(() => started.inUse[Symbol.asyncDispose]());
      m.result.snapshot = started.snapshot;
      m.result.cloudInitErrors = started.cloudInitErrors;
      await m.clock.time(
        "network",
        () => execOrFail(
          guest,
          buildLanCommand({ mac: lanMac(m.index), address: lanAddress(m.index), peers }),
          `putting ${m.spec.name} on the run's private network`,
          stageSignal
        )
      );
      m.emit({
        type: "note",
        message: `on the run's private network as ${m.spec.name} (${lanAddress(m.index)}), with ${peers.filter((p) => p.name !== m.spec.name).map((p) => p.name).join(", ")}`
      });
      if (!started.synced)
        await m.clock.time(
          "sync",
          () => putWorkspace(guest, cfg, { signal: stageSignal, emit: m.emit })
        );
    });
    const readyBy = Date.now() + config.readyTimeoutMs;
    await stage(members, stop, signal, async (m) => {
      if (m.spec.services.length === 0 && m.spec.probes.length === 0) return;
      await m.clock.time("services", async () => {
        for (const service of m.spec.services) startService(m, service, stageSignal);
        for (const probe2 of m.spec.probes)
          await waitForProbe(m, probe2, readyBy, stageSignal, config);
      });
    });
    await stage(members, stop, signal, async (m) => {
      if (!m.spec.command) {
        m.result.outcome = "passed";
        return;
      }
      const cfg = m.spec.config;
      const commandStarted = Date.now();
      const command = await m.clock.time(
        "command",
        () => runCommand2(m.guest, cfg, {
          signal: stageSignal,
          emit: m.emit,
          size: deps.terminalSize?.()
        })
      );
      m.result.exitCode = command.exitCode;
      m.result.outcome = command.outcome;
      if (command.outcome !== "passed" && config.failFast && !stop.signal.aborted) {
        for (const other of members)
          if (other !== m && other.result.outcome === "error") other.stoppedBy = "fail-fast";
        stop.abort("fail-fast");
      }
      if (cfg.artifacts.length > 0)
        m.result.artifacts = await m.clock.time(
          "artifacts",
          () => bringBackArtifacts(m.guest, cfg, {
            umask: deps.umask,
            commandStarted,
            signal,
            emit: m.emit
          })
        );
    });
    for (const m of members)
      if (config.shellOnFailure && m.spec.command && m.result.outcome !== "passed" && m.guest?.reachable)
        await shellAfterFailure(m.guest, m.spec.config, {
          why: `${m.spec.name}: the command ${m.result.outcome === "timeout" ? "timed out" : `failed with exit code ${m.result.exitCode}`}`,
          terminal: deps.terminal,
          emit: m.emit
        });
  } catch (error) {
    if (signal.aborted) {
      for (const m of members)
        if (m.result.outcome === "error" && !m.result.error) interrupted(m, signal);
        else if (!(error instanceof StageFailed)) for (const m2 of members) fail(m2, error);
    }
  } finally {
    await Promise.all(members.map((m) => teardown(m)));
    await lan?.[Symbol.asyncDispose]().catch(() => void 0);
    if (lanFolder) await rm15(lanFolder, { recursive: true, force: true });
  }
  return members.map((m) => {
    const outcome = {
      name: m.spec.name,
      config: m.spec.config,
      result: m.result,
      stoppedBy: m.stoppedBy,
      serves: !m.spec.command
    };
    o.onGuestEnd?.(outcome);
    return outcome;
  });
}
async function stage(members, stop, signal, work) {
  const failed = [];
  await Promise.all(
    members.map(async (m) => {
      try {
        await work(m);
      } catch (error) {
        m.clock.end(false);
        if (signal.aborted) {
          interrupted(m, signal);
          return;
        }
        if (stop.signal.aborted) return;
        failed.push(m);
        const why = error instanceof ConnectionLostError && m.guest?.launched ? await m.guest.lostFailure(error) : error;
        fail(m, why);
        if (!stop.signal.aborted) stop.abort("another guest failed");
      }
    })
  );
  signal.throwIfAborted();
  if (failed.length === 0) {
    if (stop.signal.aborted && stop.signal.reason !== "fail-fast") throw new StageFailed("stopped");
    return;
  }
  for (const m of members) if (!failed.includes(m)) m.stoppedBy ??= "another guest";
  throw new StageFailed(failed.map((m) => m.spec.name).join(", "));
}
function interrupted(m, signal) {
  m.result.outcome = "interrupted";
  m.result.exitCode = signal.reason === "SIGTERM" ? ExitCode.sigterm : ExitCode.sigint;
}
function fail(m, error) {
  const failure = isKvmciError(error) ? error : new KvmciError("internal", errorMessage(error), {
    cause: error,
    hint: "This is a bug in kvmci, not something you did: please report it with this output."
  });
  m.result.outcome = "error";
  m.result.error = failure;
  m.result.exitCode = failure.exitCode;
  m.emit({ type: "warning", message: `${m.spec.name}: ${failure.message}` });
}
async function admitTogether(members, config, deps) {
  const needs = members.map((m) => ({ memoryBytes: m.spec.config.memoryBytes }));
  const options = { parallel: config.parallel, signal: deps.signal };
  const attempt = await tryTakeHostSlot(deps.cacheDir, needs, options);
  if ("slot" in attempt) return attempt.slot;
  const { running, limits } = attempt.busy;
  for (const m of members) {
    m.clock.start("queue");
    m.emit({
      type: "note",
      message: `waiting for the host, with the run's ${members.length} guests: ${running} other guest${running === 1 ? "" : "s"} running (at most ${limits.maxGuests} at once here, and ${formatSize(limits.memoryBytes)} of memory for guests)`
    });
  }
  try {
    const slot = await waitForHostSlot(deps.cacheDir, needs, options);
    for (const m of members) m.clock.end(true);
    return slot;
  } catch (error) {
    for (const m of members) m.clock.end(false);
    throw error;
  }
}
function startService(m, service, signal) {
  const cfg = m.spec.config;
  const line = buildGuestCommandLine(
    { script: service },
    { workdir: cfg.workdir, env: { ...cfg.baseEnv, ...cfg.env } }
  );
  m.emit({ type: "note", message: `service: ${service}` });
  void m.guest.exec(line, {
    onStdout: (chunk) => m.emit({ type: "output", stream: "stdout", chunk }),
    onStderr: (chunk) => m.emit({ type: "output", stream: "stderr", chunk }),
    signal
  }).then(
    (result) => {
      if (!signal.aborted)
        m.emit({
          type: "note",
          message: `service ended with exit code ${result.code}: ${service}`
        });
    },
    () => void 0
  );
}
async function waitForProbe(m, probe2, readyBy, signal, config) {
  const what = probe2.kind === "tcp" ? `tcp:${probe2.port}` : probe2.command;
  const command = buildGuestCommandLine(
    { script: buildProbeCommand(probe2, lanAddress(m.index)) },
    { workdir: m.spec.config.workdir, env: { ...m.spec.config.baseEnv, ...m.spec.config.env } }
  );
  for (; ; ) {
    signal.throwIfAborted();
    const result = await m.guest.exec(command, { signal });
    if (result.code === 0) {
      m.emit({ type: "note", message: `ready: ${what}` });
      return;
    }
    if (Date.now() >= readyBy)
      throw new KvmciError(
        "guestBoot",
        `${m.spec.name} was not ready: its probe ${what} did not succeed within --ready-timeout ${formatDuration(config.readyTimeoutMs)}`,
        {
          hint: "Its service's output is above. Check that the service starts, listens on that port on every address (not only 127.0.0.1), or raise ready-timeout."
        }
      );
    await sleep8(500, void 0, { signal });
  }
}
async function execOrFail(guest, command, what, signal) {
  const stderr = [];
  const result = await guest.exec(command, { onStderr: (c) => stderr.push(c), signal });
  if (result.code !== 0)
    throw new KvmciError("guestBoot", `${what} failed (exit code ${result.code})`, {
      details: Buffer.concat(stderr).toString().trim().split("\n").slice(-5)
    });
}
async function teardown(m) {
  if (m.guest) {
    m.clock.start("teardown");
    try {
      await m.guest[Symbol.asyncDispose]();
      m.clock.end(true);
    } catch (error) {
      m.clock.end(false);
      m.emit({ type: "warning", message: `teardown: ${errorMessage(error)}` });
    }
  }
  for (const cleanup of m.cleanups.reverse())
    await Promise.resolve(cleanup()).catch(() => void 0);
}
function newResult(clock) {
  return {
    outcome: "error",
    exitCode: 0,
    image: void 0,
    accel: void 0,
    boot: void 0,
    phases: clock.records,
    artifacts: [],
    cloudInitErrors: [],
    warnings: [],
    prepared: void 0,
    snapshot: void 0,
    error: void 0
  };
}
var StageFailed;
var init_topology = __esm({
  "src/run/topology.ts"() {
    "use strict";
    init_layout();
    init_errors();
    init_command_line();
    init_guest();
    init_lan_config();
    init_run_folder();
    init_resolve();
    init_lan();
    init_args();
    init_duration();
    init_error_message();
    init_size();
    init_accel2();
    init_artifacts2();
    init_command2();
    init_debug();
    init_host_slots();
    init_phase_clock();
    init_prepare();
    init_run_config();
    init_run();
    init_warm();
    init_workspace2();
    init_trust();
    StageFailed = class extends Error {
    };
  }
});

// src/run/matrix.ts
import { availableParallelism as availableParallelism3 } from "node:os";
import { extname as extname2, join as join27 } from "node:path";
function planGuests(config) {
  const selected = config.shard ? selectShard(config.matrix, config.shard.index, config.shard.total) : config.matrix.map((entry) => ({ entry, part: void 0 }));
  const many = selected.length > 1;
  return selected.map(({ entry, part }) => ({
    name: entry.name,
    config: Object.freeze({
      ...config,
      image: entry.image,
      arch: entry.arch,
      matrix: [entry],
      cpus: entry.cpus ?? config.cpus,
      memoryBytes: entry.memoryBytes ?? config.memoryBytes,
      env: {
        ...config.env,
        ...entry.env,
        ...part ? { KVMCI_SHARD_INDEX: String(part.index), KVMCI_SHARD_TOTAL: String(part.total) } : {}
      },
      artifactsDir: many ? join27(config.artifactsDir, entry.name) : config.artifactsDir,
      consoleLog: many && config.consoleLog ? withSuffix(config.consoleLog, entry.name) : config.consoleLog
    })
  }));
}
function withSuffix(path, name) {
  const ext = extname2(path);
  return `${path.slice(0, path.length - ext.length)}.${name}${ext}`;
}
async function hostLimits(parallel) {
  return {
    maxGuests: parallel ?? availableParallelism3(),
    memoryBytes: memoryBudget(await readMemInfo(), 0)
  };
}
async function runMatrix(guests, deps, o) {
  const runGuest2 = o.runGuest ?? run;
  const emitFor = onceForHostWarnings(o.emitFor);
  const stop = new AbortController();
  const outcomes = guests.map((g) => ({
    name: g.name,
    config: g.config,
    result: void 0,
    stoppedBy: void 0
  }));
  const queue = guests.map((_, i) => i);
  const running = /* @__PURE__ */ new Map();
  await new Promise((allDone) => {
    const pump = () => {
      while (queue.length > 0) {
        if (deps.signal.aborted || stop.signal.aborted) {
          for (const i of queue.splice(0))
            outcomes[i].stoppedBy = stop.signal.aborted ? "fail-fast" : void 0;
          break;
        }
        const next = queue[0];
        const needs = { memoryBytes: guests[next].config.memoryBytes };
        if (!mayStart(needs, [...running.values()], o.limits)) break;
        queue.shift();
        running.set(next, needs);
        const guest = guests[next];
        void runGuest2(
          guest.config,
          { ...deps, signal: AbortSignal.any([deps.signal, stop.signal]) },
          emitFor(guest.name)
        ).then((result) => {
          const outcome = outcomes[next];
          outcome.result = result;
          if (result.outcome === "interrupted" && stop.signal.aborted && !deps.signal.aborted)
            outcome.stoppedBy = "fail-fast";
          running.delete(next);
          o.onGuestEnd?.(outcome);
          if (o.failFast && result.outcome !== "passed" && !stop.signal.aborted)
            stop.abort("fail-fast");
          pump();
        });
      }
      if (running.size === 0 && queue.length === 0) allDone();
    };
    pump();
  });
  return outcomes;
}
function matrixExitCode(outcomes, signal) {
  if (signal.aborted) return signal.reason === "SIGTERM" ? ExitCode.sigterm : ExitCode.sigint;
  return outcomes.every((o) => o.result?.outcome === "passed") ? 0 : ExitCode.someGuestsFailed;
}
function onceForHostWarnings(emitFor) {
  const shown = /* @__PURE__ */ new Set();
  return (name) => {
    const emit = emitFor(name);
    return (event) => {
      if (event.type === "warning" && event.about === "host") {
        if (shown.has(event.message)) return;
        shown.add(event.message);
      }
      emit(event);
    };
  };
}
var init_matrix2 = __esm({
  "src/run/matrix.ts"() {
    "use strict";
    init_errors();
    init_meminfo();
    init_run();
    init_schedule();
  }
});

// src/report/prefix.ts
var GuestLines;
var init_prefix = __esm({
  "src/report/prefix.ts"() {
    "use strict";
    GuestLines = class {
      constructor(target, name, mode) {
        this.target = target;
        this.name = name;
        this.mode = mode;
      }
      target;
      name;
      mode;
      isTTY = false;
      pending = "";
      held = [];
      write(chunk) {
        this.pending += chunk.toString();
        for (let end = this.pending.indexOf("\n"); end !== -1; end = this.pending.indexOf("\n")) {
          this.emit(this.pending.slice(0, end + 1));
          this.pending = this.pending.slice(end + 1);
        }
        return true;
      }
      /** Ends a last line without a newline, and lets a grouped guest's lines out. */
      flush() {
        if (this.pending) this.emit(`${this.pending}
`);
        this.pending = "";
        if (this.held.length) this.target.write(this.held.join(""));
        this.held = [];
      }
      emit(line) {
        const text = `[${this.name}] ${line}`;
        if (this.mode === "grouped") this.held.push(text);
        else this.target.write(text);
      }
    };
  }
});

// src/cli/host-commands.ts
import { subscribe, unsubscribe } from "node:diagnostics_channel";
function watchHostCommands(watch) {
  const listener = (message) => {
    const child = message.process;
    if (!child) return;
    child.once("spawn", () => {
      const argv = child.spawnargs;
      watch.started(argv);
      child.once("exit", (code, signal) => watch.ended(argv, code, signal));
    });
  };
  subscribe("child_process", listener);
  return { [Symbol.dispose]: () => void unsubscribe("child_process", listener) };
}
var init_host_commands = __esm({
  "src/cli/host-commands.ts"() {
    "use strict";
  }
});

// src/cli/options.ts
import { parseArgs } from "node:util";
function settingsFromFlags(values) {
  const settings = {};
  for (const [key, info] of Object.entries(settingsInfo)) {
    const form = info.flag;
    if (form.kind === "value") {
      const value = values[key];
      if (form.multiple) {
        if (Array.isArray(value) && value.length > 0) settings[key] = value.map(String);
      } else if (typeof value === "string") settings[key] = value;
    } else if (form.kind === "switch" && values[key] === true) settings[key] = true;
    else if (form.kind === "negated" && values[form.flag] === true) settings[key] = false;
  }
  return settings;
}
function parseOptions(argv, spec) {
  const dashDash = argv.indexOf("--");
  const own = dashDash === -1 ? argv : argv.slice(0, dashDash);
  const rest = dashDash === -1 ? [] : argv.slice(dashDash + 1);
  const options = Object.fromEntries(
    spec.map((o) => [o.name, { type: o.type, multiple: o.multiple ?? false }])
  );
  const { values, tokens } = parseArgs({
    args: own,
    options,
    strict: false,
    allowPositionals: true,
    tokens: true
  });
  const problems = [];
  const known = new Map(spec.map((o) => [o.name, o]));
  const valuesOfTypos = /* @__PURE__ */ new Set();
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const option = known.get(token.name);
    if (!option) {
      const close = closestNames(token.name, [...known.keys()]);
      const hint = didYouMean(token.name, [...known.keys()], (name) => `--${name}`);
      problems.push(`${token.rawName}: unknown option${hint ? ` (${hint})` : ""}`);
      const next = tokens.find((t) => t.index === token.index + 1);
      if (token.inlineValue === void 0 && next?.kind === "positional" && known.get(close[0] ?? "")?.type === "string")
        valuesOfTypos.add(next.index);
    } else if (option.type === "string" && token.value === void 0) {
      problems.push(`${token.rawName}: expected a value (${option.value ?? "VALUE"})`);
    } else if (option.type === "boolean" && token.value !== void 0 && token.inlineValue && !option.inlineValue) {
      problems.push(`${token.rawName}: takes no value`);
    }
  }
  return {
    values,
    positionals: tokens.flatMap(
      (t) => t.kind === "positional" && !valuesOfTypos.has(t.index) ? [t.value] : []
    ),
    rest,
    problems
  };
}
function positionalProblems(words, expected) {
  if (words.length < expected.min)
    return [`expected ${expected.what}, as in \`${expected.example}\``];
  if (words.length > expected.max)
    return [
      `unexpected ${words.slice(expected.max).map((w) => JSON.stringify(w)).join(" ")}`
    ];
  return [];
}
function noWords(example) {
  return { min: 0, max: 0, what: "nothing", example };
}
function optionRows(spec) {
  return spec.map((o) => [
    `--${o.name}${o.value ? `${o.value.startsWith("[") ? "" : " "}${o.value}` : ""}`,
    o.help
  ]);
}
var runOnlyOptions, runOptions, imageArchOption, imagePullOptions, imageBuildOptions, imageListOptions, doctorOptions, gcOptions, helpOnly, lsOptions, sshOptions, stopOptions;
var init_options = __esm({
  "src/cli/options.ts"() {
    "use strict";
    init_settings();
    init_similar_names();
    runOnlyOptions = [
      {
        name: "keep",
        type: "boolean",
        inlineValue: true,
        value: "[=DURATION]",
        help: "leave the guest running after the run, for DURATION (default 1h, at most 7d); it stops by itself then. kvmci prints its name: kvmci ssh NAME, kvmci ls, kvmci stop NAME"
      },
      {
        name: "config",
        type: "string",
        value: "FILE",
        help: "read settings from FILE instead of ./kvmci.yml"
      },
      {
        name: "verbose",
        type: "boolean",
        help: "also show what is usually hidden: each host command kvmci starts (QEMU, qemu-img, tar, git\u2026) and each step of a long phase"
      },
      {
        name: "quiet",
        type: "boolean",
        help: "show only the command's output, warnings, errors and the last line"
      },
      { name: "help", type: "boolean", help: "show this help" }
    ];
    runOptions = [
      ...Object.entries(settingsInfo).flatMap(
        ([key, info]) => {
          const form = info.flag;
          switch (form.kind) {
            case "value":
              return [
                {
                  name: key,
                  type: "string",
                  value: form.value,
                  help: info.help,
                  ...form.multiple ? { multiple: true } : {}
                }
              ];
            case "switch":
              return [{ name: key, type: "boolean", help: info.help }];
            case "negated":
              return [{ name: form.flag, type: "boolean", help: info.help }];
            case "none":
              return [];
          }
        }
      ),
      ...runOnlyOptions
    ];
    imageArchOption = {
      name: "arch",
      type: "string",
      value: "x86_64|aarch64",
      help: "the architecture to build or download the image for (default the host's)"
    };
    imagePullOptions = [
      imageArchOption,
      { name: "help", type: "boolean", help: "show this help" }
    ];
    imageBuildOptions = [
      imageArchOption,
      {
        name: "mirror",
        type: "string",
        value: "URL",
        help: "Debian mirror to build from (default: the host's APT mirror)"
      },
      { name: "force", type: "boolean", help: "build again even if the image is cached" },
      { name: "help", type: "boolean", help: "show this help" }
    ];
    imageListOptions = [
      { name: "available", type: "boolean", help: "list the catalog instead of the cache" },
      {
        name: "json",
        type: "boolean",
        help: "print the list as JSON (sizes in bytes, times in ISO 8601) for scripts"
      },
      { name: "help", type: "boolean", help: "show this help" }
    ];
    doctorOptions = [
      {
        name: "json",
        type: "boolean",
        help: "print the checks as JSON for scripts (the exit code is the same)"
      },
      { name: "help", type: "boolean", help: "show this help" }
    ];
    gcOptions = [
      {
        name: "max-size",
        type: "string",
        value: "SIZE",
        help: "also remove least recently used images until the cache is at most SIZE (e.g. 10G)"
      },
      { name: "dry-run", type: "boolean", help: "say what would be removed, remove nothing" },
      { name: "help", type: "boolean", help: "show this help" }
    ];
    helpOnly = [{ name: "help", type: "boolean", help: "show this help" }];
    lsOptions = [
      { name: "json", type: "boolean", help: "print the list as JSON" },
      ...helpOnly
    ];
    sshOptions = [
      {
        name: "print",
        type: "boolean",
        help: "print an OpenSSH command line (with a known-hosts file holding exactly the guest's key) instead of connecting"
      },
      ...helpOnly
    ];
    stopOptions = [
      { name: "all", type: "boolean", help: "stop every kept guest" },
      ...helpOnly
    ];
  }
});

// src/cli/commands/run.ts
var run_exports = {};
__export(run_exports, {
  prepareCommand: () => prepareCommand,
  prepareHelp: () => prepareHelp,
  readRunArgs: () => readRunArgs,
  runCommand: () => runCommand3,
  runHelp: () => runHelp
});
import { homedir as homedir2 } from "node:os";
function runCommand3(argv, proc, signal, reporter) {
  return runOrPrepare("run", argv, proc, signal, reporter);
}
function prepareCommand(argv, proc, signal, reporter) {
  return runOrPrepare("prepare", argv, proc, signal, reporter);
}
async function runOrPrepare(mode, argv, proc, signal, reporter) {
  var _stack = [];
  try {
    const read = await readRunArgs(mode, argv, proc);
    if ("help" in read) {
      proc.stdout.write(`${read.help}
`);
      return 0;
    }
    const { config, guests, verbosity, keepForMs } = read;
    const shown = reporter.withVerbosity(verbosity);
    const _commands = __using(_stack, verbosity === "verbose" ? watchHostCommands({
      started: (command) => shown.hostCommand(command),
      ended: (command, code, signal2) => shown.hostCommandEnd(command, code, signal2)
    }) : void 0);
    const startedAt = /* @__PURE__ */ new Date();
    const deps = {
      cacheDir: resolveCacheDir(proc.env),
      catalogDirs: catalogDirs(proc.env),
      http: createHttpGet(),
      home: homedir2(),
      isRoot: proc.getuid?.() === 0,
      hostArch: archOfNode(proc.arch ?? ""),
      signal,
      now: () => /* @__PURE__ */ new Date(),
      umask: process.umask(),
      ensureTools: cliToolInstaller(proc, {
        install: config.install,
        signal,
        log: (line) => proc.stderr.write(`kvmci \u203A ${line}
`)
      }),
      terminalSize: () => ({
        columns: proc.stdout.columns ?? 80,
        rows: proc.stdout.rows ?? 24
      }),
      prepareOnly: mode === "prepare",
      terminal: terminalOf(proc),
      keepForMs
    };
    if (config.topology) {
      if (mode === "prepare")
        throw problemsError(
          "usage",
          ["kvmci prepare does not take guests: yet"],
          "Run `kvmci run` instead."
        );
      const topologyGuests = config.topology.map((t) => ({ name: t.name, config: t.config }));
      return runMany(
        topologyGuests,
        config,
        deps,
        proc,
        startedAt,
        verbosity,
        (o) => runTopology(config, deps, o)
      );
    }
    if (guests.length > 1) return runMany(guests, config, deps, proc, startedAt, verbosity);
    const single = guests[0]?.config ?? config;
    const result = await run(single, deps, shown.onEvent);
    shown.summary(result, passedAs(mode));
    if (config.json) await writeJsonReport(config.json, buildJsonReport(single, result, startedAt));
    return result.exitCode;
  } catch (_) {
    var _error = _, _hasError = true;
  } finally {
    __callDispose(_stack, _error, _hasError);
  }
}
async function readRunArgs(mode, argv, proc) {
  const parsed = parseOptions(argv, runOptions);
  if (parsed.values.help === true)
    return { help: renderHelp(mode === "run" ? runHelp : prepareHelp, helpWidth(proc.stdout)) };
  const problems = [...parsed.problems];
  if (parsed.positionals.length > 0) {
    problems.push(
      mode === "run" ? `unexpected ${JSON.stringify(parsed.positionals[0])}: put the command after \`--\`, as in kvmci run -- ${parsed.positionals.join(" ")}` : `unexpected ${parsed.positionals.map((w) => JSON.stringify(w)).join(" ")}: kvmci prepare takes options only`
    );
  }
  if (mode === "prepare" && parsed.rest.length > 0)
    problems.push("kvmci prepare runs no command: drop what follows `--`");
  if (parsed.values.verbose === true && parsed.values.quiet === true)
    problems.push("--verbose and --quiet: give one or the other");
  const keep = parsed.values.keep;
  const keepForMs = keep === void 0 || keep === false ? void 0 : keep === true ? 36e5 : parseDuration(String(keep));
  if (keep !== void 0 && keep !== false && (keepForMs === void 0 || keepForMs <= 0 || keepForMs > maxDurationMs))
    problems.push(
      `--keep: expected a duration of at most 7d, like --keep=30m (or --keep alone for 1h), got ${JSON.stringify(keep)}`
    );
  if (mode === "prepare" && keep !== void 0)
    problems.push("--keep: kvmci prepare keeps no guest");
  const hint = `Run \`kvmci ${mode} --help\` for every option.`;
  if (problems.length > 0) throw problemsError("usage", problems, hint);
  const config = await loadRunConfig({
    flags: settingsFromFlags(parsed.values),
    argv: parsed.rest,
    configPath: typeof parsed.values.config === "string" ? parsed.values.config : void 0,
    cwd: proc.cwd(),
    commandOptional: mode === "prepare",
    hostEnv: proc.env,
    hostArch: archOfNode(proc.arch ?? ""),
    terminal: Boolean(proc.stdout?.isTTY)
  });
  const guests = config.topology ? config.topology.map((t) => ({ name: t.name, config: t.config })) : planGuests(config);
  const hostProblems = await checkBeforeStart(config, guests, {
    totalMemoryBytes: (await readMemInfo()).totalBytes,
    arch: archOfNode(proc.arch ?? "")
  });
  if (hostProblems.length > 0) throw problemsError("configuration", hostProblems, hint);
  if (keepForMs !== void 0 && guests.length > 1)
    throw problemsError(
      "usage",
      ["--keep keeps one guest: give one image (or pick one guest of the matrix with --shard)"],
      hint
    );
  const verbosity = parsed.values.verbose === true ? "verbose" : parsed.values.quiet === true ? "quiet" : "normal";
  return { config, guests, verbosity, keepForMs };
}
async function runMany(guests, config, deps, proc, startedAt, verbosity, runAll) {
  const limits = await hostLimits(config.parallel);
  const err = (text) => proc.stderr.write(text);
  const quiet = verbosity === "quiet";
  if (!quiet)
    err(
      runAll ? `kvmci \u203A ${guests.length} guests on one private network: ${guests.map((g) => g.name).join(", ")}
` : `kvmci \u203A ${guests.length} guests (${guests.map((g) => g.name).join(", ")}), up to ${Math.min(limits.maxGuests, guests.length)} at once
`
    );
  const streams = new Map(
    guests.map((g) => [
      g.name,
      {
        stdout: new GuestLines(proc.stdout, g.name, config.output),
        stderr: new GuestLines(proc.stderr, g.name, config.output)
      }
    ])
  );
  const reporters = new Map(
    guests.map((g) => [g.name, new TerminalReporter(streams.get(g.name), verbosity)])
  );
  const callbacks = {
    emitFor: (name) => reporters.get(name).onEvent,
    onGuestEnd: (outcome) => {
      if (outcome.result)
        reporters.get(outcome.name).summary(
          outcome.result,
          outcome.serves ? "served" : passedAs(deps.prepareOnly ? "prepare" : "run")
        );
      streams.get(outcome.name).stdout.flush();
      streams.get(outcome.name).stderr.flush();
    }
  };
  const outcomes = runAll ? await runAll(callbacks) : await runMatrix(guests, deps, { limits, failFast: config.failFast, ...callbacks });
  const exitCode = matrixExitCode(outcomes, deps.signal);
  if (!quiet) err(`
${formatMatrixTable(outcomes)}`);
  const failed = outcomes.filter((o) => o.result?.outcome !== "passed");
  const seconds = formatDuration(Date.now() - startedAt.getTime());
  err(
    failed.length === 0 ? `kvmci \u2713 all ${outcomes.length} guests ${runAll ? "did their part" : "passed"} in ${seconds}
` : `kvmci \u2717 ${failed.length} of ${outcomes.length} guests did not pass (${failed.map((o) => o.name).join(", ")}) in ${seconds}
`
  );
  if (config.json) {
    await writeJsonReport(config.json, {
      ...buildMatrixReport(outcomes, startedAt),
      exitCode
    });
  }
  return exitCode;
}
function passedAs(mode) {
  return mode === "prepare" ? "ready" : "passed";
}
var runHelp, prepareHelp;
var init_run2 = __esm({
  "src/cli/commands/run.ts"() {
    "use strict";
    init_load();
    init_errors();
    init_http();
    init_cache();
    init_catalog();
    init_json();
    init_meminfo();
    init_install_policy();
    init_terminal2();
    init_duration();
    init_preflight();
    init_arch();
    init_run();
    init_topology();
    init_matrix2();
    init_matrix();
    init_prefix();
    init_terminal();
    init_duration();
    init_help();
    init_host_commands();
    init_options();
    runHelp = [
      "Usage: kvmci run [options] [-- COMMAND...]",
      "Boots a throwaway guest, copies this folder into it, runs COMMAND there (or `run:` from kvmci.yml), streams its output, copies artifacts back and deletes the guest.",
      {
        heading: "Options (each but --config, --verbose, --quiet and --help can also be set in kvmci.yml under the same name, --no-sync as sync: false, --no-snapshot as snapshot: false; flags win):",
        rows: optionRows(runOptions)
      },
      { heading: "Exit codes:", rows: exitCodeRows() }
    ];
    prepareHelp = [
      "Usage: kvmci prepare [options]",
      "Makes, ahead of time, what `kvmci run` with the same options and kvmci.yml starts from: the image (downloaded or built), the prepared image when provisioning is set, and the warm snapshot (unless --no-snapshot). A later run then starts in seconds. Takes the options of `kvmci run`; a command is not needed.",
      { heading: "Options:", rows: optionRows(runOptions) }
    ];
  }
});

// src/housekeeping/cache-items.ts
function imageItem(image) {
  const source = image.info.source;
  return {
    kind: source.kind === "prepared" ? "prepared" : "image",
    entry: image.entry ?? image.dir,
    dir: image.dir,
    sizeOnDisk: image.sizeOnDisk,
    lastUsed: image.lastUsed,
    parent: source.kind === "prepared" && !source.base.startsWith("/") ? source.base : void 0
  };
}
function snapshotItem(snapshot) {
  return {
    kind: "snapshot",
    entry: snapshot.entry,
    dir: snapshot.dir,
    sizeOnDisk: snapshot.sizeOnDisk,
    lastUsed: snapshot.lastUsed,
    parent: snapshot.info.image.entry
  };
}
async function scanCacheItems(cacheDir) {
  const imageScan = await scanCache(cacheDir);
  const snapshotScan = await scanSnapshots(cacheDir);
  const items = [...imageScan.images.map(imageItem), ...snapshotScan.snapshots.map(snapshotItem)];
  for (let changed = true; changed; ) {
    changed = false;
    const usable = new Set(items.filter((i) => !i.orphaned).map((i) => i.entry));
    for (const item of items) {
      if (item.orphaned || item.parent === void 0 || usable.has(item.parent)) continue;
      item.orphaned = `the image it was made from (${item.parent}) is no longer cached`;
      changed = true;
    }
  }
  const tag = (folder) => (name) => ({ folder, name });
  return {
    items,
    images: imageScan.images,
    snapshots: snapshotScan.snapshots,
    broken: [...imageScan.broken.map(tag("images")), ...snapshotScan.broken.map(tag("snapshots"))],
    partial: [
      ...imageScan.partial.map(tag("images")),
      ...snapshotScan.partial.map(tag("snapshots"))
    ]
  };
}
function withDependents(items, entry) {
  const out = [];
  const visit = (e) => {
    for (const child of items.filter((i) => i.parent === e)) visit(child.entry);
    const self = items.find((i) => i.entry === e);
    if (self && !out.includes(self)) out.push(self);
  };
  visit(entry);
  return out;
}
function lastUsedInTree(items, entry) {
  return Math.max(...withDependents(items, entry).map((i) => i.lastUsed.getTime()));
}
var init_cache_items = __esm({
  "src/housekeeping/cache-items.ts"() {
    "use strict";
    init_cache();
    init_store();
  }
});

// src/report/image-list.ts
function formatImageList(l) {
  const { images, snapshots, cacheDir } = l;
  if (images.length === 0 && snapshots.length === 0)
    return `No images cached in ${cacheDir}. \`kvmci image pull NAME\` fetches one; \`kvmci image ls --available\` lists them.
`;
  const lastUsed = (entry, date) => entry && l.inUse.has(entry) ? "in use now" : shortTime(date);
  const parts = [];
  if (images.length)
    parts.push(
      formatTable([
        ["NAME", "ARCH", "SOURCE", "SIZE", "DIGEST", "CREATED", "LAST USED", "ENTRY"],
        ...images.map((i) => [
          i.info.name,
          i.info.arch,
          sourceWord(i),
          formatSize(i.sizeOnDisk),
          i.info.digest.slice(0, 19),
          shortTime(new Date(i.info.createdAt)),
          lastUsed(i.entry, i.lastUsed),
          i.entry ?? ""
        ])
      ])
    );
  if (snapshots.length)
    parts.push(
      formatTable([
        ["SNAPSHOT OF", "SIZE", "CREATED", "LAST USED", "ENTRY"],
        ...snapshots.map((s) => [
          s.info.image.name,
          formatSize(s.sizeOnDisk),
          shortTime(new Date(s.info.createdAt)),
          lastUsed(s.entry, s.lastUsed),
          s.entry
        ])
      ])
    );
  const madeFrom = [
    ...images.flatMap((i) => {
      const source = i.info.source;
      if (source.kind !== "prepared") return [];
      const what = [
        source.packages.length ? `packages ${source.packages.join(" ")}` : "",
        `provisioning ${source.key.slice(0, 12)}`
      ].filter(Boolean);
      return [[i.entry ?? i.dir, `${source.base} + ${what.join(", ")}`]];
    }),
    ...snapshots.map((s) => {
      const m = s.info.made;
      return [
        s.entry,
        [
          s.info.image.entry ?? s.info.image.name,
          `${m.arch ?? "x86_64"}, ${m.accel}, ${m.cpus} CPU${m.cpus === 1 ? "" : "s"}, ${formatSize(m.memoryBytes)} memory`,
          m.diskBytes ? `${formatSize(m.diskBytes)} disk` : "",
          `network ${m.network}, ${m.boot} boot, ${m.qemuVersion.replace(/^QEMU emulator version /, "QEMU ")}`,
          m.hostCpu ? `host CPU ${m.hostCpu}` : ""
        ].filter(Boolean).join(", ")
      ];
    })
  ];
  if (madeFrom.length) parts.push(formatTable([["ENTRY", "MADE FROM"], ...madeFrom]));
  const count2 = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  return `${parts.join("\n")}${count2(images.length, "image")}, ${count2(snapshots.length, "snapshot")}, ${formatSize(totalBytes(l))} in ${cacheDir}
`;
}
function imageListJson(l) {
  const inUseBy = (entry) => entry ? l.inUse.get(entry) ?? [] : [];
  return {
    version: 1,
    cacheDir: l.cacheDir,
    images: l.images.map((i) => {
      const source = i.info.source;
      return {
        name: i.info.name,
        arch: i.info.arch,
        entry: i.entry ?? null,
        source: sourceWord(i),
        digest: i.info.digest,
        format: i.info.format,
        user: i.info.user,
        sizeBytes: i.sizeOnDisk,
        createdAt: i.info.createdAt,
        lastUsedAt: i.lastUsed.toISOString(),
        inUseBy: inUseBy(i.entry),
        ...source.kind === "prepared" ? {
          madeFrom: {
            base: source.base,
            packages: source.packages,
            provisioning: source.key
          }
        } : {}
      };
    }),
    snapshots: l.snapshots.map((s) => ({
      entry: s.entry,
      image: s.info.image,
      sizeBytes: s.sizeOnDisk,
      createdAt: s.info.createdAt,
      lastUsedAt: s.lastUsed.toISOString(),
      inUseBy: inUseBy(s.entry),
      madeWith: s.info.made
    })),
    totalBytes: totalBytes(l)
  };
}
function formatCatalogList(l) {
  return formatTable([
    ["NAME", "ARCH", "KIND", "USER", "CACHED", "DESCRIPTION"],
    ...l.entries.map((e) => [
      e.name,
      e.arch,
      e.kind,
      e.user,
      isCached(e, l.cached) ? "yes" : "no",
      e.description
    ])
  ]);
}
function catalogListJson(l) {
  return {
    version: 1,
    catalog: l.entries.map((e) => ({
      name: e.name,
      arch: e.arch,
      kind: e.kind,
      user: e.user,
      cached: isCached(e, l.cached),
      description: e.description
    }))
  };
}
function isCached(entry, cached) {
  return cached.some(
    (c) => c.info.name === entry.name && c.info.arch === entry.arch && c.info.source.kind !== "url"
  );
}
function sourceWord(image) {
  return image.info.source.kind === "catalog" ? "download" : image.info.source.kind;
}
function totalBytes(l) {
  return [...l.images, ...l.snapshots].reduce((sum, i) => sum + i.sizeOnDisk, 0);
}
function shortTime(date) {
  return date.toISOString().replace(/:\d\d(\.\d+)?Z$/, "Z").replace("T", " ");
}
var init_image_list = __esm({
  "src/report/image-list.ts"() {
    "use strict";
    init_size();
    init_table();
  }
});

// src/cli/commands/image.ts
var image_exports = {};
__export(image_exports, {
  imageCommand: () => imageCommand,
  imageSubcommands: () => imageSubcommands
});
import { homedir as homedir3 } from "node:os";
import { rm as rm16 } from "node:fs/promises";
async function imageCommand(argv, proc, signal, reporter) {
  const [sub, ...rest] = argv;
  if (sub === "--help" || sub === "help") return help(proc);
  if (sub === void 0)
    throw new KvmciError("usage", `kvmci image needs a subcommand: ${subcommandNames.join(", ")}`, {
      details: subcommandNames.map((name) => imageSubcommands[name].usage),
      hint: "`kvmci image --help` says what each does."
    });
  if (!subcommandNames.includes(sub)) {
    const suggestion = didYouMean(sub, subcommandNames);
    throw new KvmciError(
      "usage",
      `Unknown image command ${JSON.stringify(sub)}${suggestion ? ` (${suggestion})` : ""}`,
      { hint: "Use `kvmci image pull`, `build`, `ls` or `rm` (`kvmci image --help`)." }
    );
  }
  const command = sub;
  const { options, positionals } = imageSubcommands[command];
  const parsed = parseOptions(rest, options);
  if (parsed.values.help === true) return help(proc);
  const problems = [...parsed.problems, ...positionalProblems(parsed.positionals, positionals)];
  const hostArch = archOfNode(proc.arch ?? "");
  const archText = parsed.values.arch;
  if (typeof archText === "string" && !isArch(archText))
    problems.push(`--arch: expected ${arches.join(" or ")}, got ${JSON.stringify(archText)}`);
  if (problems.length)
    throw new KvmciError("usage", `Invalid usage: ${problems.join("; ")}`, {
      hint: `Usage: ${imageSubcommands[command].usage} (\`kvmci image --help\`).`
    });
  const cacheDir = resolveCacheDir(proc.env);
  if (command !== "ls") await requireWritableCache(cacheDir);
  switch (command) {
    case "build":
    case "pull": {
      const name = parsed.positionals[0] ?? "debian-12";
      const clock = new PhaseClock(reporter.onEvent);
      const options2 = {
        arch: typeof archText === "string" && isArch(archText) ? archText : hostArch ?? "x86_64",
        hostArch,
        cacheDir,
        catalogDirs: catalogDirs(proc.env),
        http: createHttpGet(),
        cwd: proc.cwd(),
        home: homedir3(),
        mirror: typeof parsed.values.mirror === "string" ? parsed.values.mirror : void 0,
        force: parsed.values.force === true,
        refresh: command === "pull",
        isRoot: proc.getuid?.() === 0,
        ensureTools: cliToolInstaller(proc, {
          install: true,
          signal,
          log: (line) => proc.stderr.write(`kvmci \u203A ${line}
`)
        }),
        signal,
        onNote: (message) => reporter.onEvent({ type: "note", message }),
        onStep: (message) => reporter.onEvent({ type: "progress", phase: "image", message }),
        onTransfer: (what, progress) => reporter.onEvent({ type: "transfer", phase: "image", what, progress })
      };
      const { image, origin } = await clock.time("image", () => resolveImage(name, options2));
      if (origin === "cached")
        reporter.onEvent({ type: "note", message: `${name} is up to date in the cache` });
      proc.stdout.write(`${image.info.name} ${image.info.digest} ${image.diskPath}
`);
      return 0;
    }
    case "ls": {
      const json = parsed.values.json === true;
      if (parsed.values.available) await listAvailable(proc, cacheDir, json);
      else await listCached(proc, cacheDir, json);
      return 0;
    }
    case "rm":
      await removeImages(proc, cacheDir, parsed.positionals);
      return 0;
  }
}
async function listCached(proc, cacheDir, json) {
  const { images, snapshots } = await scanCacheItems(cacheDir);
  const listing = { cacheDir, images, snapshots, inUse: await entriesInUse(cacheDir) };
  proc.stdout.write(
    json ? `${JSON.stringify(imageListJson(listing), null, 2)}
` : formatImageList(listing)
  );
}
async function listAvailable(proc, cacheDir, json) {
  const listing = {
    entries: await listCatalog(catalogDirs(proc.env)),
    cached: await listCachedImages(cacheDir)
  };
  proc.stdout.write(
    json ? `${JSON.stringify(catalogListJson(listing), null, 2)}
` : formatCatalogList(listing)
  );
}
async function removeImages(proc, cacheDir, words) {
  var _stack = [];
  try {
    const _removals = __using(_stack, await holdRemovals(cacheDir), true);
    const { items, images } = await scanCacheItems(cacheDir);
    const inUse = await entriesInUse(cacheDir);
    const missing = [];
    const chosen = /* @__PURE__ */ new Set();
    for (const word of words) {
      const matches = [
        ...images.filter((i) => matchesImage(i, word)).map((i) => i.entry ?? i.dir),
        ...items.filter((i) => i.kind === "snapshot" && i.entry === word).map((i) => i.entry)
      ];
      if (matches.length === 0) missing.push(word);
      for (const m of matches) chosen.add(m);
    }
    if (missing.length)
      throw new KvmciError("imageUnknown", `Not in the cache: ${missing.join(", ")}`, {
        hint: "`kvmci image ls` lists cached images and snapshots by name, digest and entry."
      });
    const busy = [];
    const gone = /* @__PURE__ */ new Set();
    for (const entry of chosen) {
      const tree = withDependents(items, entry).filter((i) => !gone.has(i.entry));
      const used = tree.filter((i) => inUse.has(i.entry));
      if (used.length) {
        busy.push(
          ...used.map((i) => `${i.entry} (used by pid ${(inUse.get(i.entry) ?? []).join(", ")})`)
        );
        continue;
      }
      for (const item of tree) {
        await rm16(item.dir, { recursive: true, force: true });
        gone.add(item.entry);
        const over = item.entry === entry ? "" : `, layered over ${entry}`;
        proc.stdout.write(`removed ${item.entry} (${formatSize(item.sizeOnDisk)}${over})
`);
      }
    }
    if (busy.length)
      throw new KvmciError("image", `In use by a running guest, not removed: ${busy.join(", ")}`, {
        hint: "Run the command again after those runs end."
      });
  } catch (_) {
    var _error = _, _hasError = true;
  } finally {
    var _promise = __callDispose(_stack, _error, _hasError);
    _promise && await _promise;
  }
}
function matchesImage(image, word) {
  const hex = word.replace(/^sha(256|512):/, "");
  const digestHex = image.info.digest.replace(/^sha(256|512):/, "");
  return image.info.name === word || image.entry === word || /^[0-9a-f]{8,}$/.test(hex) && digestHex.startsWith(hex);
}
function help(proc) {
  proc.stdout.write(`${renderHelp(imageHelp, helpWidth(proc.stdout))}
`);
  return 0;
}
var imageSubcommands, subcommandNames, imageHelp;
var init_image = __esm({
  "src/cli/commands/image.ts"() {
    "use strict";
    init_cache_items();
    init_in_use();
    init_layout();
    init_size();
    init_errors();
    init_http();
    init_cache();
    init_catalog();
    init_resolve();
    init_install_policy();
    init_image_list();
    init_phase_clock();
    init_similar_names();
    init_arch();
    init_help();
    init_options();
    imageSubcommands = {
      pull: {
        usage: "kvmci image pull NAME|URL#sha256=DIGEST [--arch ARCH]",
        about: "download (or build) an image into the cache now; for a catalog image, check its published checksum again and fetch a newer release if there is one",
        options: imagePullOptions,
        positionals: {
          min: 1,
          max: 1,
          what: "an image name or URL",
          example: "kvmci image pull ubuntu-24.04"
        }
      },
      build: {
        usage: "kvmci image build [NAME] [options]",
        about: "build an image from its recipe (default debian-12)",
        options: imageBuildOptions,
        positionals: { min: 0, max: 1, what: "a recipe's name", example: "kvmci image build" }
      },
      ls: {
        usage: "kvmci image ls [--available] [--json]",
        about: "list cached images (--available: the catalog)",
        options: imageListOptions,
        positionals: { min: 0, max: 0, what: "nothing", example: "kvmci image ls" }
      },
      rm: {
        usage: "kvmci image rm NAME|ENTRY|DIGEST...",
        about: "remove cached images (not those a guest is using)",
        options: helpOnly,
        positionals: {
          min: 1,
          max: Infinity,
          what: "what to remove",
          example: "kvmci image rm ubuntu-24.04"
        }
      }
    };
    subcommandNames = Object.keys(imageSubcommands);
    imageHelp = [
      {
        heading: "Usage:",
        rows: subcommandNames.map((name) => [
          imageSubcommands[name].usage,
          imageSubcommands[name].about
        ])
      },
      { heading: "Options for pull:", rows: optionRows(imagePullOptions) },
      { heading: "Options for build:", rows: optionRows(imageBuildOptions) },
      { heading: "Options for ls:", rows: optionRows(imageListOptions) }
    ];
  }
});

// src/housekeeping/gc.ts
import { readdir as readdir10, readFile as readFile25, rm as rm17, stat as stat10 } from "node:fs/promises";
import { join as join28 } from "node:path";
async function collectGarbage(cacheDir, options = {}) {
  var _stack = [];
  try {
    const removed = [];
    const remove = async (path, what, bytes, why) => {
      if (!options.dryRun) await rm17(path, { recursive: true, force: true });
      removed.push({ what, bytes, why });
    };
    const _removals = __using(_stack, options.dryRun ? void 0 : await holdRemovals(cacheDir), true);
    const inUse = await entriesInUse(cacheDir, !options.dryRun);
    const scan = await scanCacheItems(cacheDir);
    const downloads = await listDownloads(cacheDir);
    const folderOf = (f) => cachePath(cacheDir, f.folder, f.name);
    const bytesBefore = scan.items.reduce((sum, i) => sum + i.sizeOnDisk, 0) + downloads.reduce((sum, d) => sum + d.bytes, 0) + await sumSizes([...scan.broken, ...scan.partial].map(folderOf));
    for (const folder of scan.partial) {
      const pid = partialOwnerPid(folder.name);
      if (pid !== void 0 && await pidExists(pid)) continue;
      const path = folderOf(folder);
      await remove(path, folder.name, await treeSize(path), "unfinished work of a run that ended");
    }
    for (const folder of scan.broken) {
      const path = folderOf(folder);
      await remove(path, folder.name, await treeSize(path), "incomplete or unreadable entry");
    }
    for (const download of downloads) {
      if (await lockHeldByLiveProcess(cacheDir, download.entry)) continue;
      await remove(download.path, `${download.entry}.part`, download.bytes, "an abandoned download");
      await rm17(`${download.path}.json`, { force: true });
    }
    let remaining = [...scan.items];
    const removeTree2 = async (entry, why) => {
      const tree = withDependents(remaining, entry);
      const pids = tree.flatMap((i) => inUse.get(i.entry) ?? []);
      if (pids.length) return pids;
      for (const item of tree)
        await remove(
          item.dir,
          item.entry,
          item.sizeOnDisk,
          item.entry === entry ? why : `layered over ${entry}, which goes`
        );
      remaining = remaining.filter((i) => !tree.includes(i));
      return void 0;
    };
    for (const item of scan.items)
      if (item.orphaned && remaining.includes(item)) await removeTree2(item.entry, item.orphaned);
    for (const image of scan.images) {
      const why = options.unreachable?.(image);
      const item = remaining.find((i) => i.dir === image.dir);
      if (why && item) await removeTree2(item.entry, why);
    }
    const keptInUse = [];
    let total = bytesBefore - removed.reduce((sum, r) => sum + r.bytes, 0);
    if (options.maxBytes !== void 0) {
      const skipped = /* @__PURE__ */ new Set();
      for (; ; ) {
        if (total <= options.maxBytes) break;
        const next = remaining.filter((i) => !skipped.has(i.entry)).map((i) => ({ item: i, used: lastUsedInTree(remaining, i.entry), depth: depthOf(i) })).sort((a, b) => a.used - b.used || b.depth - a.depth)[0]?.item;
        if (!next) break;
        const before = removed.length;
        const pids = await removeTree2(next.entry, leastRecentlyUsed(next));
        if (pids) {
          skipped.add(next.entry);
          keptInUse.push({ entry: next.entry, pids });
          continue;
        }
        total -= removed.slice(before).reduce((sum, r) => sum + r.bytes, 0);
      }
    }
    return { removed, keptInUse, bytesBefore, bytesAfter: total };
    function depthOf(item) {
      let depth = 0;
      for (let i = item; i?.parent; depth++)
        i = remaining.find((r) => r.entry === i.parent);
      return depth;
    }
  } catch (_) {
    var _error = _, _hasError = true;
  } finally {
    var _promise = __callDispose(_stack, _error, _hasError);
    _promise && await _promise;
  }
}
function leastRecentlyUsed(item) {
  return `least recently used (${item.lastUsed.toISOString().replace(/\.\d+Z$/, "Z")})`;
}
async function listDownloads(cacheDir) {
  const dir = cachePath(cacheDir, "downloads");
  let files;
  try {
    files = await readdir10(dir);
  } catch {
    return [];
  }
  const out = [];
  for (const file of files.filter((f) => f.endsWith(".part")).sort()) {
    const path = join28(dir, file);
    out.push({ entry: file.slice(0, -5), path, bytes: (await stat10(path)).blocks * 512 });
  }
  return out;
}
async function lockHeldByLiveProcess(cacheDir, entry) {
  let holder;
  try {
    holder = JSON.parse(
      await readFile25(cachePath(cacheDir, "locks", `${entry}.lock`), "utf8")
    );
  } catch {
    return false;
  }
  return await isProcessRunning(holder, await identifyProcess()) !== false;
}
async function pidExists(pid) {
  return stat10(`/proc/${pid}`).then(
    () => true,
    () => false
  );
}
async function sumSizes(paths) {
  let total = 0;
  for (const path of paths) total += await treeSize(path);
  return total;
}
async function treeSize(path) {
  try {
    const s = await stat10(path);
    if (!s.isDirectory()) return s.blocks * 512;
    let total = 0;
    for (const entry of await readdir10(path)) total += await treeSize(join28(path, entry));
    return total;
  } catch {
    return 0;
  }
}
var init_gc = __esm({
  "src/housekeeping/gc.ts"() {
    "use strict";
    init_cache();
    init_process_identity();
    init_in_use();
    init_cache_items();
    init_layout();
  }
});

// src/cli/commands/gc.ts
var gc_exports = {};
__export(gc_exports, {
  gcCommand: () => gcCommand
});
async function gcCommand(argv, proc) {
  const parsed = parseOptions(argv, gcOptions);
  if (parsed.values.help === true) {
    proc.stdout.write(`${renderHelp(gcHelp, helpWidth(proc.stdout))}
`);
    return 0;
  }
  const problems = [...parsed.problems];
  const maxSizeText = parsed.values["max-size"];
  const maxBytes = typeof maxSizeText === "string" ? maxSizeText === "0" ? 0 : parseSize(maxSizeText) : void 0;
  if (typeof maxSizeText === "string" && maxBytes === void 0)
    problems.push(
      `--max-size: expected a size like 10G or 500M, got ${JSON.stringify(maxSizeText)}`
    );
  problems.push(...positionalProblems(parsed.positionals, noWords("kvmci gc")));
  if (problems.length)
    throw new KvmciError("usage", `Invalid usage: ${problems.join("; ")}`, {
      hint: "Run `kvmci gc --help`."
    });
  const cacheDir = resolveCacheDir(proc.env);
  await requireWritableCache(cacheDir);
  const dryRun = parsed.values["dry-run"] === true;
  const recipeKeys = new Set(
    (await listCatalog(catalogDirs(proc.env))).flatMap((e) => e.kind === "recipe" ? [e.key] : [])
  );
  const report = await collectGarbage(cacheDir, {
    maxBytes,
    dryRun,
    unreachable: (image) => image.info.source.kind === "recipe" && !recipeKeys.has(image.info.source.key) ? "built from an older version of its recipe" : void 0
  });
  const verb = dryRun ? "would remove" : "removed";
  let keptRemoved = 0;
  for (const { guest, state } of await listKeptGuests(cacheDir)) {
    const over = Date.parse(guest.until) <= Date.now();
    if (state === "stopped" || state === "running" && over) {
      if (!dryRun) await stopKeptGuest(cacheDir, guest);
      keptRemoved++;
      proc.stdout.write(
        `${verb} kept guest ${guest.name}: ${state === "stopped" ? "its keeper is gone" : "its time is up"}
`
      );
    }
  }
  if (!dryRun)
    for (const folder of await removeStaleRunFolders())
      proc.stdout.write(`removed ${folder}: run folder of a kvmci that was killed
`);
  for (const r of report.removed)
    proc.stdout.write(`${verb} ${r.what} (${formatSize(r.bytes)}): ${r.why}
`);
  for (const k of report.keptInUse)
    proc.stdout.write(`kept ${k.entry}: in use by pid ${k.pids.join(", ")}
`);
  proc.stdout.write(
    `cache ${cacheDir}: ${formatSize(report.bytesBefore)} \u2192 ${formatSize(report.bytesAfter)}${maxBytes !== void 0 ? ` (limit ${formatSize(maxBytes)})` : ""}${report.removed.length === 0 && keptRemoved === 0 ? ", nothing to remove" : ""}
`
  );
  if (maxBytes !== void 0 && report.bytesAfter > maxBytes && report.keptInUse.length)
    proc.stdout.write("still above the limit: the rest is in use by running guests\n");
  return 0;
}
var gcHelp;
var init_gc2 = __esm({
  "src/cli/commands/gc.ts"() {
    "use strict";
    init_gc();
    init_size();
    init_errors();
    init_kept();
    init_run_folder();
    init_layout();
    init_cache();
    init_catalog();
    init_help();
    init_options();
    gcHelp = [
      "Usage: kvmci gc [options]",
      "Cleans what killed runs left (run folders in the temporary folder, unfinished builds and downloads, unreadable cache entries), kept guests whose keeper is gone or whose time is up, and images built from older versions of their recipe, and with --max-size whole images, least recently used first. Images a running guest uses are never removed.",
      { heading: "Options:", rows: optionRows(gcOptions) }
    ];
  }
});

// src/doctor/checks.ts
import { access as access9, mkdir as mkdir13, statfs } from "node:fs/promises";
import { userInfo as userInfo2 } from "node:os";
import { join as join29 } from "node:path";
import { execa as execa12 } from "execa";
async function runDoctor(o) {
  const hostArch = o.hostArch ?? "x86_64";
  const foreign = arches.filter((a) => a !== hostArch);
  const checks = [];
  checks.push(
    await toolCheck(qemuBinary(hostArch), qemuPackage(hostArch), "fail", "to run guests"),
    await toolCheck("qemu-img", "qemu-utils", "fail", "to make overlays"),
    await toolCheck("mmdebstrap", "mmdebstrap", "warn", "only to build images"),
    await toolCheck("tar", "tar", "fail", "to sync the workspace"),
    await toolCheck("git", "git", "warn", "to sync a git work tree"),
    await toolCheck(
      "mksquashfs",
      "squashfs-tools",
      "warn",
      "to put the workspace on a disk for restored guests; without it, it goes over SSH, more slowly",
      ["-version"]
    )
  );
  checks.push(await kvmCheck(o.cacheDir, hostArch));
  checks.push(await cacheCheck(o.cacheDir));
  const userns = await userNamespacesWork();
  const host = {
    isRoot: o.isRoot,
    username: userInfo2().username,
    unshareLacks: o.isRoot ? [] : await unshareBuildLacks(),
    sudo: !o.isRoot && await sudoWithoutPassword()
  };
  checks.push(...buildChecks(host, userns));
  for (const arch2 of foreign) {
    checks.push(
      await toolCheck(
        qemuBinary(arch2),
        qemuPackage(arch2),
        "warn",
        `only for ${arch2} guests (emulated here)`
      )
    );
    if (arch2 === "aarch64") checks.push(await uefiCheck());
    checks.push(
      foreignBuildCheck(arch2, hostArch, await readBinfmtState(arch2), {
        archTest: await which("arch-test") !== void 0,
        qemuUser: await which(qemuUserBinary(arch2)) !== void 0,
        mayRoot: host.isRoot || host.sudo
      })
    );
  }
  return checks;
}
function qemuPackage(arch2) {
  return arch2 === "x86_64" ? "qemu-system-x86" : "qemu-system-arm";
}
async function uefiCheck() {
  const present2 = await access9(aarch64Uefi.code).then(
    () => true,
    () => false
  );
  return present2 ? { name: "aarch64 firmware", status: "ok", detail: `UEFI for arm64 (${aarch64Uefi.code})` } : {
    name: "aarch64 firmware",
    status: "warn",
    detail: `${aarch64Uefi.code} is missing: aarch64 cloud images (ubuntu-24.04, debian-12-genericcloud, \u2026) boot through it; kvmci's own debian recipes do not need it`,
    fix: "sudo apt-get install qemu-efi-aarch64 (kvmci installs it itself when it may use sudo -n)"
  };
}
function foreignBuildCheck(arch2, hostArch, state, have) {
  const name = `${arch2} image builds`;
  const ready = state.mounted && state.entry?.enabled === true;
  const missing = [
    ...have.archTest ? [] : ["arch-test"],
    ...have.qemuUser || ready && state.entry?.flags.includes("F") ? [] : [qemuUserBinary(arch2)]
  ];
  const what = !state.mounted ? "binfmt_misc is not mounted" : !state.entry ? `binfmt_misc has no ${binfmtName(arch2)} entry` : !state.entry.enabled ? `binfmt_misc's ${binfmtName(arch2)} entry is switched off` : `${debianArch(arch2)} programs run through ${state.entry.interpreter ?? "qemu-user"} (flags ${state.entry.flags || "none"})`;
  if (ready && missing.length === 0)
    return {
      name,
      status: "ok",
      detail: `${what}: an ${arch2} recipe builds here under emulation (about 5 times as long as for ${hostArch})`
    };
  if (have.mayRoot)
    return {
      name,
      status: "ok",
      detail: `${[what, ...missing.length ? [`${missing.join(" and ")} not installed`] : []].join("; ")}: kvmci sets this up itself (as root) when it first builds an ${arch2} image`
    };
  return {
    name,
    status: "warn",
    detail: `${[what, ...missing.length ? [`${missing.join(" and ")} not installed`] : []].join("; ")}: ${arch2} images cannot be built here, and kvmci may not set it up (not root, no passwordless sudo)`,
    fix: `${binfmtFix(arch2)}. Downloaded ${arch2} images and ones built elsewhere still run.`
  };
}
function buildChecks(host, userns) {
  const sudo = host.isRoot ? { name: "sudo", status: "ok", detail: "not needed: kvmci runs as root" } : host.sudo ? {
    name: "sudo",
    status: "ok",
    detail: "sudo -n works: kvmci can install what the host lacks with apt-get"
  } : {
    name: "sudo",
    status: "warn",
    detail: `${host.username} may not use sudo without a password: kvmci cannot install what the host lacks, and says the command instead`,
    fix: "Install what the checks above say yourself, or run kvmci where it may use sudo -n (a CI runner's user usually may)."
  };
  const namespaces = userns.ok || host.isRoot ? {
    name: "user namespaces",
    status: "ok",
    detail: userns.ok ? "unprivileged user namespaces work" : `unprivileged user namespaces do not work (${userns.why}); not needed as root`
  } : {
    name: "user namespaces",
    status: "warn",
    detail: `unprivileged user namespaces do not work (${userns.why})`,
    fix: "Needed only to build images without root or sudo. Where AppArmor restricts them (Ubuntu 24.04): sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0; elsewhere: sudo sysctl -w kernel.unprivileged_userns_clone=1."
  };
  const choice2 = decideBuildMode(host);
  const path = "problem" in choice2 ? {
    name: "image builds",
    status: "warn",
    detail: `no way to build an image from its recipe here: ${choice2.problem}; downloaded images still work`,
    fix: choice2.hint
  } : {
    name: "image builds",
    status: "ok",
    detail: {
      root: "as root (kvmci runs as root)",
      unshare: `as ${host.username}, in user namespaces (mmdebstrap's unshare mode)`,
      sudo: `as root through sudo -n: building as ${host.username} would need ${host.unshareLacks.join(", ")}`
    }[choice2.mode]
  };
  return [sudo, namespaces, path];
}
async function toolCheck(tool, pkg, missing, purpose, versionArgs = ["--version"]) {
  const install = `sudo apt-get install ${pkg} (needed ${purpose}; kvmci installs it itself when it may use sudo -n)`;
  const path = await which(tool);
  if (!path) return { name: tool, status: missing, detail: "not installed", fix: install };
  const result = await execa12(path, versionArgs, {
    reject: false,
    stdin: "ignore",
    timeout: 3e4
  });
  if (result.exitCode !== 0)
    return {
      name: tool,
      status: missing,
      detail: `${path} ${versionArgs.join(" ")} failed (${result.exitCode === void 0 ? result.shortMessage : `exit code ${result.exitCode}`}): ${tailLines(String(result.stderr ?? ""), 1).join("") || "no output"}`,
      fix: `sudo apt-get install --reinstall ${pkg}`
    };
  const first = `${result.stdout}`.split("\n")[0] ?? "";
  return { name: tool, status: "ok", detail: `${first.trim() || "present"} (${path})` };
}
async function kvmCheck(cacheDir, hostArch) {
  const images = await listCachedImages(cacheDir);
  const withKernel = images.find((i) => i.info.boot.kernel && i.info.arch === hostArch);
  const kernel = withKernel ? join29(withKernel.dir, withKernel.info.boot.kernel ?? "") : void 0;
  const memo2 = fileProbeMemo(cacheDir);
  const problem = await probeKvm({
    arch: hostArch,
    hostArch,
    kernel,
    memo: { get: () => Promise.resolve(void 0), set: (k, v) => memo2.set(k, v) }
  });
  if (problem) {
    return {
      name: "kvm",
      status: "warn",
      detail: `not usable: ${problem.message}; guests will run under software emulation (much slower)`,
      fix: problem.hint
    };
  }
  return kernel ? {
    name: "kvm",
    status: "ok",
    detail: `/dev/kvm is usable: a 64-bit kernel booted under it (${hostArch} guests; others are emulated)`
  } : {
    name: "kvm",
    status: "warn",
    detail: "/dev/kvm can be opened; whether it runs 64-bit guests is proven once an image is cached",
    fix: `kvmci image build debian-12 --arch ${hostArch}, then kvmci doctor again`
  };
}
async function cacheCheck(cacheDir) {
  try {
    await mkdir13(cacheDir, { recursive: true });
    const fs = await statfs(cacheDir);
    const free = fs.bavail * fs.bsize;
    const enough = free > 4 * 1024 ** 3;
    const detail = `${cacheDir}, ${formatSize(free)} free`;
    return enough ? { name: "cache", status: "ok", detail } : {
      name: "cache",
      status: "warn",
      detail,
      fix: "Images need about 1 GiB each and guests write overlays: free some space, or set KVMCI_CACHE_DIR to a larger disk."
    };
  } catch (error) {
    return {
      name: "cache",
      status: "fail",
      detail: `${cacheDir} is not usable (${error.message})`,
      fix: "Set KVMCI_CACHE_DIR to a folder you can write."
    };
  }
}
var init_checks = __esm({
  "src/doctor/checks.ts"() {
    "use strict";
    init_size();
    init_text();
    init_packages();
    init_which();
    init_build_mode();
    init_cache();
    init_foreign_arch();
    init_accel();
    init_args();
    init_firmware();
    init_probe_memo();
    init_arch();
  }
});

// src/report/doctor.ts
function formatDoctor(checks) {
  return checks.map(
    (c) => `${marks[c.status]} ${c.name}: ${c.detail}
${c.status !== "ok" && c.fix ? `    fix: ${c.fix}
` : ""}`
  ).join("");
}
function doctorJson(checks) {
  return {
    version: 1,
    ok: !checks.some((c) => c.status === "fail"),
    checks: checks.map((c) => ({
      name: c.name,
      status: c.status,
      detail: c.detail,
      fix: c.status === "ok" ? null : c.fix ?? null
    }))
  };
}
var marks;
var init_doctor = __esm({
  "src/report/doctor.ts"() {
    "use strict";
    marks = { ok: "\u2713", warn: "!", fail: "\u2717" };
  }
});

// src/cli/commands/doctor.ts
var doctor_exports = {};
__export(doctor_exports, {
  doctorCommand: () => doctorCommand
});
async function doctorCommand(argv, proc) {
  const parsed = parseOptions(argv, doctorOptions);
  if (parsed.values.help === true) {
    proc.stdout.write(`${renderHelp(doctorHelp, helpWidth(proc.stdout))}
`);
    return 0;
  }
  const problems = [
    ...parsed.problems,
    ...positionalProblems(parsed.positionals, noWords("kvmci doctor"))
  ];
  if (problems.length)
    throw new KvmciError("usage", `Invalid usage: ${problems.join("; ")}`, {
      hint: "Run `kvmci doctor --help`."
    });
  const checks = await runDoctor({
    cacheDir: resolveCacheDir(proc.env),
    isRoot: proc.getuid?.() === 0,
    hostArch: archOfNode(proc.arch ?? "")
  });
  proc.stdout.write(
    parsed.values.json === true ? `${JSON.stringify(doctorJson(checks), null, 2)}
` : formatDoctor(checks)
  );
  return checks.some((c) => c.status === "fail") ? ExitCode.hostRequirement : 0;
}
var doctorHelp;
var init_doctor2 = __esm({
  "src/cli/commands/doctor.ts"() {
    "use strict";
    init_checks();
    init_errors();
    init_cache();
    init_help();
    init_options();
    init_doctor();
    init_arch();
    doctorHelp = [
      "Usage: kvmci doctor [--json]",
      "Checks QEMU, qemu-img, mmdebstrap, tar, git, /dev/kvm (present, permitted, really usable), the cache folder, sudo -n, unprivileged user namespaces, and which way an image build would go here; then what guests of the other architecture need (their QEMU, arm64 UEFI firmware, binfmt_misc and qemu-user to build their images). Prints the fix under each check that is not fine. Exits 69 when kvmci cannot run guests here.",
      { heading: "Options:", rows: optionRows(doctorOptions) }
    ];
  }
});

// src/cli/commands/kept.ts
var kept_exports = {};
__export(kept_exports, {
  lsCommand: () => lsCommand,
  lsHelp: () => lsHelp,
  sshCommand: () => sshCommand,
  sshHelp: () => sshHelp,
  stopCommand: () => stopCommand,
  stopHelp: () => stopHelp
});
import { readFile as readFile26 } from "node:fs/promises";
import { join as join30 } from "node:path";
async function lsCommand(argv, proc) {
  const parsed = parseOptions(argv, lsOptions);
  if (parsed.values.help === true) return help2(proc, lsHelp);
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
          memoryBytes: guest.memoryBytes
        })),
        null,
        2
      )}
`
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
        state === "running" ? formatDuration(Math.max(0, Date.parse(guest.until) - now)) : "\u2014",
        String(guest.sshPort),
        formatSize(guest.memoryBytes)
      ])
    ])
  );
  return 0;
}
async function sshCommand(argv, proc) {
  var _stack = [];
  try {
    const parsed = parseOptions(argv, sshOptions);
    if (parsed.values.help === true) return help2(proc, sshHelp);
    const [name, ...extra] = parsed.positionals;
    const problems = [...parsed.problems];
    if (!name) problems.push("expected the name of a kept guest (kvmci ls lists them)");
    if (extra.length) problems.push(`unexpected ${extra.join(" ")}: put a command after \`--\``);
    if (problems.length) throw usage(problems, "ssh");
    const guest = await findRunning(proc, name);
    const key = join30(guest.folder, RunFiles.clientKey);
    const knownHosts = join30(guest.folder, RunFiles.knownHosts);
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
        ...parsed.rest.length ? ["--", shellJoin(parsed.rest)] : []
      ];
      proc.stdout.write(`${shellJoin(command)}
`);
      return 0;
    }
    const hostKey = (await readFile26(knownHosts, "utf8")).trim().split(/\s+/).slice(1).join(" ");
    const session = __using(_stack, await SshSession.connect(
      {
        host: "127.0.0.1",
        port: guest.sshPort,
        user: guest.user,
        privateKey: await readFile26(key, "utf8"),
        hostPublicKey: hostKey
      },
      15e3
    ), true);
    const inWorkdir = (command) => `cd ${shellQuote(guest.workdir)} 2>/dev/null; ${command}`;
    if (parsed.rest.length > 0) {
      const result = await session.exec(inWorkdir(`exec ${shellJoin(parsed.rest)}`), {
        onStdout: (chunk) => proc.stdout.write(chunk),
        onStderr: (chunk) => proc.stderr.write(chunk)
      });
      return result.code;
    }
    const terminal = terminalOf(proc);
    if (!terminal)
      throw new KvmciError("usage", "kvmci ssh without a command needs a terminal", {
        hint: `Give a command: kvmci ssh ${name} -- COMMAND, or kvmci ssh ${name} --print for an ssh command line.`
      });
    return openShell(session, terminal, inWorkdir("exec bash -i"));
  } catch (_) {
    var _error = _, _hasError = true;
  } finally {
    var _promise = __callDispose(_stack, _error, _hasError);
    _promise && await _promise;
  }
}
async function stopCommand(argv, proc) {
  const parsed = parseOptions(argv, stopOptions);
  if (parsed.values.help === true) return help2(proc, stopHelp);
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
    proc.stdout.write(`stopped ${entry.guest.name}
`);
  }
  if (missing.length)
    throw new KvmciError("usage", `No kept guest named ${missing.join(", ")}`, {
      hint: "kvmci ls lists the kept guests."
    });
  return 0;
}
async function findRunning(proc, name) {
  const kept = await listKeptGuests(resolveCacheDir(proc.env));
  const found = kept.find((k) => k.guest.name === name);
  if (!found)
    throw new KvmciError("usage", `No kept guest named ${name}`, {
      hint: `kvmci ls lists the kept guests${kept.length ? ` (${kept.map((k) => k.guest.name).join(", ")})` : ""}.`
    });
  if (found.state !== "running")
    throw new KvmciError(
      "guestLost",
      `${name} is not running any more (${describe2(found.state, found.guest)})`,
      {
        hint: "kvmci gc removes it; kvmci run --keep keeps a new one."
      }
    );
  return found.guest;
}
function describe2(state, guest) {
  if (state === "elsewhere") return "it runs on another host sharing this cache";
  return Date.parse(guest.until) <= Date.now() ? `its time was up at ${guest.until}` : "its keeper was stopped";
}
function help2(proc, blocks) {
  proc.stdout.write(`${renderHelp(blocks, helpWidth(proc.stdout))}
`);
  return 0;
}
function usage(problems, command) {
  return new KvmciError("usage", `Invalid usage: ${problems.join("; ")}`, {
    hint: `Run \`kvmci ${command} --help\`.`
  });
}
var lsHelp, sshHelp, stopHelp;
var init_kept2 = __esm({
  "src/cli/commands/kept.ts"() {
    "use strict";
    init_errors();
    init_run_folder();
    init_kept();
    init_shell();
    init_cache();
    init_table();
    init_session();
    init_shell_quote();
    init_duration();
    init_size();
    init_help();
    init_options();
    init_terminal2();
    lsHelp = [
      "Usage: kvmci ls [--json]",
      "Lists the guests kept after their run (kvmci run --keep): name, image, state, age, time left, SSH port, memory.",
      { heading: "Options:", rows: optionRows(lsOptions) }
    ];
    sshHelp = [
      "Usage: kvmci ssh NAME [--print] [-- COMMAND...]",
      "Opens a shell in a kept guest (in its workdir, on this terminal), or runs one command there and exits with its exit code. The connection uses the guest's own key and pins its host key.",
      { heading: "Options:", rows: optionRows(sshOptions) }
    ];
    stopHelp = [
      "Usage: kvmci stop NAME...|--all",
      "Stops kept guests and removes them. A kept guest also stops by itself when its time is up; kvmci gc removes those whose keeper is gone.",
      { heading: "Options:", rows: optionRows(stopOptions) }
    ];
  }
});

// src/cli/main.ts
init_errors();
init_terminal();
init_similar_names();
init_help();
import { existsSync as existsSync2, readFileSync } from "node:fs";

// src/cli/interrupts.ts
init_errors();
var Interrupts = class {
  constructor(options) {
    this.options = options;
  }
  options;
  controller = new AbortController();
  get signal() {
    return this.controller.signal;
  }
  onSignal = (name) => {
    const code = name === "SIGTERM" ? ExitCode.sigterm : ExitCode.sigint;
    if (this.controller.signal.aborted) {
      this.forceExit(code, `a second ${name}`);
      return;
    }
    this.controller.abort(name);
    const deadlineMs = this.options.deadlineMs ?? 6e4;
    const setTimer = this.options.setTimer ?? setTimeout;
    setTimer(() => this.forceExit(code, `${deadlineMs / 1e3} s`), deadlineMs).unref();
  };
  forceExit(code, after) {
    this.options.warn(`kvmci: teardown did not finish (${after}); exiting now
`);
    this.options.exit(code);
  }
};

// src/cli/main.ts
var usage2 = [
  "Usage: kvmci <command> [options]",
  {
    heading: "Commands:",
    rows: [
      ["run [options] [-- COMMAND...]", "run a command in a throwaway guest"],
      ["prepare [options]", "make the prepared image and warm snapshot a run starts from"],
      ["image pull NAME|URL#sha256=\u2026", "download an image into the cache ahead of time"],
      ["image build [NAME]", "build an image from its recipe (default debian-12)"],
      ["image ls [--available] [--json]", "list cached images, or the catalog"],
      ["image rm NAME|ENTRY...", "remove cached images and snapshots"],
      ["gc [--max-size SIZE]", "clean the cache (least recently used first)"],
      ["doctor [--json]", "check this host and say how to fix what is missing"],
      ["ls [--json]", "list the guests kept after their run (run --keep)"],
      ["ssh NAME [-- COMMAND...]", "a shell, or one command, in a kept guest"],
      ["stop NAME...|--all", "stop kept guests"]
    ]
  },
  "Run `kvmci <command> --help` (or `kvmci help <command>`) for its options. Exit codes are listed in `kvmci run --help`."
];
var commands = {
  run: async (...a) => (await Promise.resolve().then(() => (init_run2(), run_exports))).runCommand(...a),
  prepare: async (...a) => (await Promise.resolve().then(() => (init_run2(), run_exports))).prepareCommand(...a),
  image: async (...a) => (await Promise.resolve().then(() => (init_image(), image_exports))).imageCommand(...a),
  gc: async (argv, proc) => (await Promise.resolve().then(() => (init_gc2(), gc_exports))).gcCommand(argv, proc),
  doctor: async (argv, proc) => (await Promise.resolve().then(() => (init_doctor2(), doctor_exports))).doctorCommand(argv, proc),
  ls: async (argv, proc) => (await Promise.resolve().then(() => (init_kept2(), kept_exports))).lsCommand(argv, proc),
  ssh: async (argv, proc) => (await Promise.resolve().then(() => (init_kept2(), kept_exports))).sshCommand(argv, proc),
  stop: async (argv, proc) => (await Promise.resolve().then(() => (init_kept2(), kept_exports))).stopCommand(argv, proc)
};
async function main(argv, proc) {
  const [command, ...rest] = argv;
  const reporter = new TerminalReporter({ stdout: proc.stdout, stderr: proc.stderr });
  const interrupts = new Interrupts({
    exit: (code) => proc.exit(code),
    warn: (message) => proc.stderr.write(message)
  });
  const controller = interrupts.controller;
  const onInt = () => interrupts.onSignal("SIGINT");
  const onTerm = () => interrupts.onSignal("SIGTERM");
  proc.on("SIGINT", onInt);
  proc.on("SIGTERM", onTerm);
  try {
    const known = commandNamed(command);
    if (known) return await known(rest, proc, controller.signal, reporter);
    switch (command) {
      case "--version":
      case "version":
        if (rest.length > 0) throw nothingMayFollow(command, rest);
        proc.stdout.write(`${version()}
`);
        return 0;
      case void 0:
        proc.stdout.write(`${renderHelp(usage2, helpWidth(proc.stdout))}
`);
        return ExitCode.usage;
      case "help":
      case "--help":
      case "-h": {
        const [topic, ...more] = rest;
        if (topic === void 0) {
          proc.stdout.write(`${renderHelp(usage2, helpWidth(proc.stdout))}
`);
          return 0;
        }
        const about = commandNamed(topic);
        if (!about || more.length > 0) throw unknownCommand(topic, more);
        return await about(["--help"], proc, controller.signal, reporter);
      }
      default:
        throw unknownCommand(command, []);
    }
  } catch (error) {
    if (controller.signal.aborted)
      return controller.signal.reason === "SIGTERM" ? ExitCode.sigterm : ExitCode.sigint;
    if (isKvmciError(error)) {
      reporter.error(error);
      return error.exitCode;
    }
    proc.stderr.write(
      `kvmci: internal error (a bug in kvmci, not something you did: please report it with this output)
${error instanceof Error ? error.stack ?? error.message : String(error)}
`
    );
    return ExitCode.internal;
  } finally {
    proc.off("SIGINT", onInt);
    proc.off("SIGTERM", onTerm);
  }
}
function commandNamed(word) {
  return word !== void 0 && Object.hasOwn(commands, word) ? commands[word] : void 0;
}
function unknownCommand(word, extra) {
  const names = Object.keys(commands);
  if (commandNamed(word))
    return new KvmciError("usage", `Unexpected ${extra.join(" ")} after kvmci help ${word}`, {
      hint: `\`kvmci ${word} --help\` shows its options.`
    });
  const suggestion = didYouMean(word, names);
  return new KvmciError(
    "usage",
    `Unknown command ${JSON.stringify(word)}${suggestion ? ` (${suggestion})` : ""}`,
    { hint: `Commands: ${names.join(", ")}. \`kvmci --help\` shows them.` }
  );
}
function nothingMayFollow(word, extra) {
  return new KvmciError("usage", `Unexpected ${extra.join(" ")}: nothing follows kvmci ${word}`, {
    hint: "`kvmci --help` lists the commands."
  });
}
function version() {
  const file = ["../package.json", "../../package.json"].map((relative5) => new URL(relative5, import.meta.url)).find((url) => existsSync2(url)) ?? new URL("../package.json", import.meta.url);
  const pkg = JSON.parse(readFileSync(file, "utf8"));
  return pkg.version;
}
export {
  main
};
