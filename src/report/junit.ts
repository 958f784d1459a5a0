import { XMLParser } from "fast-xml-parser";

export interface JunitFailure {
  suite: string;
  test: string;
  /** `failure` (an assertion) or `error` (the test could not run). */
  kind: "failure" | "error";
  message: string;
  /** The failure's full text (stack, diff), trimmed. */
  details: string;
  file: string | undefined;
  line: number | undefined;
}

export interface JunitSuite {
  name: string;
  tests: number;
  passed: number;
  failed: number;
  skipped: number;
  seconds: number | undefined;
}

export interface JunitReport {
  suites: JunitSuite[];
  failures: JunitFailure[];
  totals: { tests: number; passed: number; failed: number; skipped: number };
}

type Node = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  textNodeName: "#text",
  isArray: (name) => ["testsuite", "testcase", "failure", "error", "skipped"].includes(name),
  parseAttributeValue: false,
  trimValues: false,
  // pytest writes newlines in attributes as &#10;.
  htmlEntities: true,
});

/**
 * Reads JUnit XML as test runners write it (vitest, jest-junit, pytest, go-junit-report, …):
 * `<testsuites>` or a bare `<testsuite>`, nested suites, failures and errors with or without a
 * message, and the file and line where the XML gives them (`file`/`line` attributes, or a
 * `path:line` in the failure text that points at the test's file). Pure.
 */
export function parseJunit(xml: string): JunitReport {
  const root = parser.parse(xml) as Node;
  const top = (root.testsuites as Node | undefined) ?? root;
  const suites: JunitSuite[] = [];
  const failures: JunitFailure[] = [];
  const visit = (suite: Node, parentFile: string | undefined) => {
    const name = attr(suite, "name") ?? "(unnamed suite)";
    const file = attr(suite, "file") ?? attr(suite, "filepath") ?? parentFile;
    const cases = (suite.testcase as Node[] | undefined) ?? [];
    let failed = 0;
    let skipped = 0;
    for (const testcase of cases) {
      const problems = [
        ...((testcase.failure as unknown[] | undefined) ?? []).map((p) => ["failure", p] as const),
        ...((testcase.error as unknown[] | undefined) ?? []).map((p) => ["error", p] as const),
      ];
      if (problems.length) failed++;
      else if (testcase.skipped !== undefined) skipped++;
      for (const [kind, problem] of problems) {
        const text = typeof problem === "string" ? problem : (text_(problem as Node) ?? "");
        const message =
          (typeof problem === "object" && problem ? attr(problem as Node, "message") : undefined) ??
          firstLine(text) ??
          kind;
        const where = locate(text, {
          file: attr(testcase, "file") ?? file,
          line: numberAttr(testcase, "line"),
          classname: attr(testcase, "classname"),
          suite: name,
        });
        failures.push({
          suite: name,
          test: attr(testcase, "name") ?? "(unnamed test)",
          kind,
          message: message.trim(),
          details: text.trim(),
          file: where.file,
          line: where.line,
        });
      }
    }
    if (cases.length)
      suites.push({
        name,
        tests: cases.length,
        passed: cases.length - failed - skipped,
        failed,
        skipped,
        seconds: numberAttr(suite, "time"),
      });
    for (const child of (suite.testsuite as Node[] | undefined) ?? []) visit(child, file);
  };
  for (const suite of (top.testsuite as Node[] | undefined) ?? []) visit(suite, undefined);
  const totals = suites.reduce(
    (t, s) => ({
      tests: t.tests + s.tests,
      passed: t.passed + s.passed,
      failed: t.failed + s.failed,
      skipped: t.skipped + s.skipped,
    }),
    { tests: 0, passed: 0, failed: 0, skipped: 0 },
  );
  return { suites, failures, totals };
}

function attr(node: Node, name: string): string | undefined {
  const value = node[`@${name}`];
  return typeof value === "string" && value !== "" ? value : undefined;
}

function numberAttr(node: Node, name: string): number | undefined {
  const value = Number(attr(node, name));
  return Number.isFinite(value) ? value : undefined;
}

function text_(node: Node): string | undefined {
  const value = node["#text"];
  return typeof value === "string" ? value : undefined;
}

function firstLine(text: string): string | undefined {
  return text
    .split("\n")
    .find((l) => l.trim())
    ?.trim();
}

/**
 * Where a failure happened: the first `path:line` in its text that is the test's own file
 * (vitest names it in the suite and classname; pytest gives `classname="tests.test_math"` and
 * `tests/test_math.py:13` in the text), else the `file` and `line` attributes. Pure.
 */
export function locate(
  text: string,
  test: { file?: string; line?: number; classname?: string; suite?: string },
): { file: string | undefined; line: number | undefined } {
  const isTestFile = (path: string) => {
    const dotted = path
      .replace(/\.[^./]+$/, "")
      .replace(/^\.?\//, "")
      .replaceAll("/", ".");
    return [test.file, test.suite, test.classname].some(
      (known) =>
        known !== undefined &&
        (known === path ||
          known.endsWith(`/${path}`) ||
          path.endsWith(`/${known}`) ||
          known === dotted ||
          known.startsWith(`${dotted}.`)),
    );
  };
  for (const match of text.matchAll(/([\w./@+-]+\.[A-Za-z]\w*):(\d+)/g)) {
    const path = match[1]!;
    if (isTestFile(path)) return { file: path, line: Number(match[2]) };
  }
  return { file: test.file, line: test.line };
}
