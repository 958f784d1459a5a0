import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { locate, parseJunit } from "../../src/report/junit.js";

// fixtures/junit holds real output of two producers, made from small failing suites:
// vitest 4 (--reporter=junit) and pytest 9 (--junitxml).
const fixture = (name: string) =>
  readFile(new URL(`../../fixtures/junit/${name}`, import.meta.url), "utf8");

describe("parseJunit", () => {
  it("reads vitest's report: counts, failures with message, file and line", async () => {
    const report = parseJunit(await fixture("vitest.xml"));
    expect(report.totals).toEqual({ tests: 4, passed: 1, failed: 2, skipped: 1 });
    expect(report.suites).toEqual([
      expect.objectContaining({
        name: "test/math.test.ts",
        tests: 4,
        passed: 1,
        failed: 2,
        skipped: 1,
      }),
    ]);
    expect(report.failures.map((f) => [f.test, f.message, f.file, f.line])).toEqual([
      [
        "math > adds negative numbers",
        "expected -5 to be -6 // Object.is equality",
        "test/math.test.ts",
        9,
      ],
      [
        "strings > joins",
        "expected 'a-b' to be 'a+b' // Object.is equality",
        "test/math.test.ts",
        17,
      ],
    ]);
    expect(report.failures[0]!.details).toContain("+ -5");
  });

  it("reads pytest's report: the file comes from the classname and the traceback", async () => {
    const report = parseJunit(await fixture("pytest.xml"));
    expect(report.totals).toEqual({ tests: 5, passed: 2, failed: 2, skipped: 1 });
    expect(report.failures.map((f) => [f.test, f.message.split("\n")[0], f.file, f.line])).toEqual([
      ["test_adds_negative", "AssertionError: negative numbers add up", "tests/test_math.py", 13],
      ["test_by_zero", "ZeroDivisionError: division by zero", "tests/test_math.py", 21],
    ]);
  });

  it("takes a bare <testsuite>, nested suites, errors and file/line attributes", () => {
    const report = parseJunit(`<?xml version="1.0"?>
<testsuite name="outer" file="spec/a_spec.rb">
  <testsuite name="inner">
    <testcase name="boom" line="12"><error message="undefined method">trace</error></testcase>
    <testcase name="fine"/>
  </testsuite>
</testsuite>`);
    expect(report.totals).toEqual({ tests: 2, passed: 1, failed: 1, skipped: 0 });
    expect(report.failures).toEqual([
      expect.objectContaining({
        suite: "inner",
        kind: "error",
        message: "undefined method",
        file: "spec/a_spec.rb",
        line: 12,
      }),
    ]);
  });

  it("reads text that is not JUnit XML as an empty report", () => {
    expect(() => parseJunit("not xml at all")).not.toThrow();
    expect(parseJunit("not xml at all").totals.tests).toBe(0);
  });
});

describe("locate", () => {
  it("ignores file:line references to other files", () => {
    expect(
      locate("at node_modules/lib/x.js:10\n at test/a.test.ts:5:3", { suite: "test/a.test.ts" }),
    ).toEqual({ file: "test/a.test.ts", line: 5 });
    expect(locate("at lib/x.js:10", { file: "t.js", line: 2 })).toEqual({ file: "t.js", line: 2 });
  });
});
