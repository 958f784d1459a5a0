import { existsSync, readFileSync } from "node:fs";
import { ExitCode, KvmciError, isKvmciError } from "../errors.js";
import { TerminalReporter } from "../report/terminal.js";
import { Interrupts } from "./interrupts.js";
import type { Process } from "./process.js";
import { didYouMean } from "../units/similar-names.js";

const commandNames = ["run", "prepare", "image", "gc", "doctor"];

const usage = `Usage: kvmci <command> [options]

Commands:
  run [options] [-- COMMAND...]   run a command in a throwaway guest
  prepare [options]               make the prepared image and warm snapshot a run starts from
  image pull NAME|URL#sha256=…   download an image into the cache ahead of time
  image build [NAME]              build an image from its recipe (default debian-12)
  image ls [--available]          list cached images, or the catalog
  image rm NAME|ENTRY...          remove cached images and snapshots
  gc [--max-size SIZE]            clean the cache (least recently used first)
  doctor                          check this host and say how to fix what is missing

Run \`kvmci <command> --help\` for its options. Exit codes are listed in \`kvmci run --help\`.`;

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
  try {
    switch (command) {
      case "run":
        return await (
          await import("./commands/run.js")
        ).runCommand(rest, proc, controller.signal, reporter);
      case "prepare":
        return await (
          await import("./commands/run.js")
        ).prepareCommand(rest, proc, controller.signal, reporter);
      case "image":
        return await (
          await import("./commands/image.js")
        ).imageCommand(rest, proc, controller.signal, reporter);
      case "gc":
        return await (await import("./commands/gc.js")).gcCommand(rest, proc);
      case "doctor":
        return await (await import("./commands/doctor.js")).doctorCommand(rest, proc);
      case "--version":
      case "version":
        proc.stdout.write(`${version()}\n`);
        return 0;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        proc.stdout.write(`${usage}\n`);
        return command === undefined ? ExitCode.usage : 0;
      default: {
        const hint = didYouMean(command, commandNames);
        throw new KvmciError(
          "usage",
          `Unknown command ${JSON.stringify(command)}${hint ? ` (${hint})` : ""}`,
          { hint: `Commands: ${commandNames.join(", ")}. \`kvmci --help\` shows them.` },
        );
      }
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

// From dist/cli.js (bin/kvmci.js) or from src/cli/main.ts (tests).
function version(): string {
  const file =
    ["../package.json", "../../package.json"]
      .map((relative) => new URL(relative, import.meta.url))
      .find((url) => existsSync(url)) ?? new URL("../package.json", import.meta.url);
  const pkg = JSON.parse(readFileSync(file, "utf8")) as { version: string };
  return pkg.version;
}
