import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { XMLValidator } from "fast-xml-parser";
import { formatSize } from "../units/size.js";
import { parseJunit, type JunitReport } from "./junit.js";

/** A JUnit file as read back from the guest: its report, or why there is none. */
export type JunitRead = { path: string; report: JunitReport } | { path: string; problem: string };

/** Real suites write a few MiB at most; past this the file is not read. */
export const maxJunitBytes = 32 * 1024 ** 2;

/**
 * Reads the JUnit file the command wrote, from the artifacts copied back (`dir`). It came from
 * the guest, so it is data with limits: a regular file only (never a link or a FIFO, which
 * would block), opened without blocking, at most `maxBytes`, well-formed XML without a
 * DOCTYPE. Whatever is wrong with it is returned as a problem, never thrown.
 */
export async function readJunitFile(
  dir: string,
  path: string,
  maxBytes = maxJunitBytes,
): Promise<JunitRead> {
  let handle;
  try {
    handle = await open(
      join(dir, path),
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
    );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return {
      path,
      problem:
        code === "ENOENT" || code === "ENOTDIR"
          ? `${path} was not written in the guest (nothing was copied back)`
          : code === "ELOOP"
            ? `${path} is a symbolic link; kvmci reads only a regular file`
            : `${path} could not be read (${code ?? String(error)})`,
    };
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return { path, problem: `${path} is not a regular file` };
    if (stat.size > maxBytes)
      return {
        path,
        problem: `${path} is ${formatSize(stat.size)}, more than the ${formatSize(maxBytes)} kvmci reads`,
      };
    const text = (await handle.readFile()).subarray(0, maxBytes).toString("utf8");
    const problem = junitTextProblem(text);
    if (problem) return { path, problem: `${path} ${problem}` };
    let report: JunitReport;
    try {
      report = parseJunit(text);
    } catch (error) {
      return { path, problem: `${path} could not be read as JUnit XML (${String(error)})` };
    }
    if (report.totals.tests === 0) return { path, problem: `${path} holds no test cases` };
    return { path, report };
  } finally {
    await handle.close();
  }
}

/**
 * Why a text is not JUnit XML kvmci reads, or undefined: a DOCTYPE (entities could expand it
 * without end), or XML that is not well-formed (cut short, say: counting the cases it does hold
 * would report a crashed suite as passing). Pure.
 */
export function junitTextProblem(text: string): string | undefined {
  if (/<!DOCTYPE|<!ENTITY/i.test(text))
    return "declares a DOCTYPE or entities, which kvmci does not read";
  const valid = XMLValidator.validate(text);
  if (valid !== true)
    return `is not well-formed XML (line ${valid.err.line}: ${valid.err.msg.replace(/\s+/g, " ")}); it may have been cut short`;
  return undefined;
}

/** What the JSON report says of the JUnit file: its counts, or why there are none. Pure. */
export function junitSummary(read: JunitRead | undefined) {
  if (!read) return undefined;
  if ("problem" in read) return { path: read.path, problem: read.problem };
  return { path: read.path, ...read.report.totals };
}
