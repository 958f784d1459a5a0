import { existsSync, readFileSync } from "node:fs";
import { ExitCode, KvmciError, isKvmciError } from "../errors.js";
import { TerminalReporter } from "../report/terminal.js";
import { didYouMean } from "../units/similar-names.js";
import { helpWidth, renderHelp, type HelpBlock } from "./help.js";
import { failOnStall, Interrupts, stalledMessage } from "./interrupts.js";
import type { Process } from "./process.js";

/** `kvmci --help`. */
const usage: HelpBlock[] = [
  "Usage: kvmci <command> [options]",
  {
    heading: "Commands:",
    rows: [
      ["run [options] [-- COMMAND...]", "run a command in a throwaway guest"],
      ["prepare [options]", "make the prepared image and warm snapshot a run starts from"],
      ["image pull NAME|URL#sha256=…", "download an image into the cache ahead of time"],
      ["image build [NAME]", "build an image from its recipe (default debian-12)"],
      ["image ls [--available] [--json]", "list cached images, or the catalog"],
      ["image rm NAME|ENTRY...", "remove cached images and snapshots"],
      ["gc [--max-size SIZE]", "clean the cache (least recently used first)"],
      ["doctor [--json]", "check this host and say how to fix what is missing"],
      ["ls [--json]", "list the guests kept after their run (run --keep)"],
      ["ssh NAME [-- COMMAND...]", "a shell, or one command, in a kept guest"],
      ["stop NAME...|--all", "stop kept guests"],
    ],
  },
  "Run `kvmci <command> --help` (or `kvmci help <command>`) for its options. Exit codes are listed in `kvmci run --help`.",
];

type Command = (
  argv: string[],
  proc: Process,
  signal: AbortSignal,
  reporter: TerminalReporter,
) => Promise<number>;

/** Each command, loaded when it is used. */
const commands: Record<string, Command> = {
  run: async (...a) => (await import("./commands/run.js")).runCommand(...a),
  prepare: async (...a) => (await import("./commands/run.js")).prepareCommand(...a),
  image: async (...a) => (await import("./commands/image.js")).imageCommand(...a),
  gc: async (argv, proc) => (await import("./commands/gc.js")).gcCommand(argv, proc),
  doctor: async (argv, proc) => (await import("./commands/doctor.js")).doctorCommand(argv, proc),
  ls: async (argv, proc) => (await import("./commands/kept.js")).lsCommand(argv, proc),
  ssh: async (argv, proc) => (await import("./commands/kept.js")).sshCommand(argv, proc),
  stop: async (argv, proc) => (await import("./commands/kept.js")).stopCommand(argv, proc),
};

/** The CLI entry point: argv in, exit code out. The only place errors become exit codes. */
export async function main(argv: string[], proc: Process): Promise<number> {
  const [command, ...rest] = argv;
  const reporter = new TerminalReporter({ stdout: proc.stdout, stderr: proc.stderr });
  const interrupts = new Interrupts({
    exit: (code) => proc.exit(code),
    warn: (message) => proc.stderr.write(message),
  });
  const controller = interrupts.controller;
  const onInt = () => interrupts.onSignal("SIGINT");
  const onTerm = () => interrupts.onSignal("SIGTERM");
  proc.on("SIGINT", onInt);
  proc.on("SIGTERM", onTerm);
  using _stall = failOnStall(proc, () => {
    proc.stderr.write(`${stalledMessage}\n`);
    proc.exit(ExitCode.internal);
  });
  try {
    const known = commandNamed(command);
    if (known) return await known(rest, proc, controller.signal, reporter);
    switch (command) {
      case "--version":
      case "version":
        if (rest.length > 0) throw nothingMayFollow(command, rest);
        proc.stdout.write(`${version()}\n`);
        return 0;
      case undefined:
        proc.stdout.write(`${renderHelp(usage, helpWidth(proc.stdout))}\n`);
        return ExitCode.usage;
      case "help":
      case "--help":
      case "-h": {
        // `kvmci help run` is `kvmci run --help`.
        const [topic, ...more] = rest;
        if (topic === undefined) {
          proc.stdout.write(`${renderHelp(usage, helpWidth(proc.stdout))}\n`);
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
    // A bug, not a user mistake: the stack helps whoever reports it.
    proc.stderr.write(
      `kvmci: internal error (a bug in kvmci, not something you did: please report it with this output)\n` +
        `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return ExitCode.internal;
  } finally {
    proc.off("SIGINT", onInt);
    proc.off("SIGTERM", onTerm);
  }
}

function commandNamed(word: string | undefined): Command | undefined {
  return word !== undefined && Object.hasOwn(commands, word) ? commands[word] : undefined;
}

function unknownCommand(word: string, extra: string[]): KvmciError {
  const names = Object.keys(commands);
  if (commandNamed(word))
    return new KvmciError("usage", `Unexpected ${extra.join(" ")} after kvmci help ${word}`, {
      hint: `\`kvmci ${word} --help\` shows its options.`,
    });
  const suggestion = didYouMean(word, names);
  return new KvmciError(
    "usage",
    `Unknown command ${JSON.stringify(word)}${suggestion ? ` (${suggestion})` : ""}`,
    { hint: `Commands: ${names.join(", ")}. \`kvmci --help\` shows them.` },
  );
}

function nothingMayFollow(word: string, extra: string[]): KvmciError {
  return new KvmciError("usage", `Unexpected ${extra.join(" ")}: nothing follows kvmci ${word}`, {
    hint: "`kvmci --help` lists the commands.",
  });
}

// From dist/cli.js (bin/kvmci.js) or from src/cli/main.ts (tests).
function version(): string {
  const file =
    ["../package.json", "../../package.json"]
      .map((relative) => new URL(relative, import.meta.url))
      .find((url) => existsSync(url)) ?? new URL("../package.json", import.meta.url);
  const pkg = JSON.parse(readFileSync(file, "utf8")) as { version: string };
  return pkg.version;
}
