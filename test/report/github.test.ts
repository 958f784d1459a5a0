import { micromark } from "micromark";
import { gfm, gfmHtml } from "micromark-extension-gfm";
import { describe, expect, it } from "vitest";
import { KvmciError } from "../../src/errors.js";
import { GithubLogReporter, renderJobSummary } from "../../src/report/github.js";
import { parseJunit } from "../../src/report/junit.js";
import type { RunResult } from "../../src/run/run.js";

function reporter() {
  let text = "";
  const warnings: string[] = [];
  const out = { write: (chunk: string | Buffer) => ((text += chunk.toString()), true) };
  const r = new GithubLogReporter(out as NodeJS.WritableStream, {
    warning: (m) => warnings.push(m),
  });
  return { r, text: () => text, warnings };
}

describe("GithubLogReporter", () => {
  it("puts each phase in a group ending with its result, and fences the guest's output", () => {
    const { r, text } = reporter();
    r.onEvent({ type: "phase-start", phase: "command" });
    r.onEvent({
      type: "output",
      stream: "stdout",
      chunk: Buffer.from("::error::injected\nno newline"),
    });
    r.onEvent({ type: "phase-end", phase: "command", ms: 1500, ok: true });
    const lines = text().split("\n");
    expect(lines[0]).toBe("::group::kvmci: command");
    const fence = /^::stop-commands::(.+)$/.exec(lines[1]!)![1];
    expect(lines.slice(2)).toEqual([
      "::error::injected",
      "no newline",
      `::${fence}::`,
      "kvmci ✓ command 1.5s",
      "::endgroup::",
      "",
    ]);
  });

  it("marks the command's group with how the command ended", () => {
    const { r, text } = reporter();
    r.onEvent({
      type: "phase-end",
      phase: "command",
      ms: 1500,
      ok: true,
      command: { exitCode: 124, outcome: "timeout" },
    });
    r.onEvent({
      type: "phase-end",
      phase: "command",
      ms: 1500,
      ok: true,
      command: { exitCode: 2, outcome: "failed" },
    });
    expect(text()).toBe(
      "kvmci ✗ command 1.5s, timed out\n::endgroup::\nkvmci ✗ command 1.5s, exit code 2\n::endgroup::\n",
    );
  });

  it("turns warnings into annotations", () => {
    const { r, warnings } = reporter();
    r.onEvent({ type: "warning", message: "KVM is not usable here" });
    expect(warnings).toEqual(["KVM is not usable here"]);
  });
});

const passed: RunResult = {
  outcome: "passed",
  exitCode: 0,
  image: { name: "debian-12", digest: "sha256:x", origin: "cached" },
  accel: { name: "tcg", reason: "no KVM" },
  boot: "kernel",
  phases: [
    { phase: "restore", ms: 1600, ok: true },
    { phase: "command", ms: 300, ok: true },
  ],
  artifacts: [],
  cloudInitErrors: [],
  warnings: [],
  prepared: { entry: "debian-12-prepared-x", reused: true },
  snapshot: { entry: "s", use: "restored" },
  error: undefined,
};

/** The summary as GitHub would show it: GFM with raw HTML let through, so tags would show. */
function render(md: string): string {
  return micromark(md, {
    extensions: [gfm()],
    htmlExtensions: [gfmHtml()],
    allowDangerousHtml: true,
  });
}

/** The visible text of rendered HTML, tags removed and entities decoded. */
function visible(html: string): string {
  return html
    .replace(/<[^>]+>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, "&");
}

describe("renderJobSummary", () => {
  it("shows the outcome, image, accel, start and phases", () => {
    const html = render(
      renderJobSummary({ result: passed, junit: undefined, consoleTail: ["x"], durationMs: 2500 }),
    );
    expect(html).toContain("<h2>kvmci: ✅ passed</h2>");
    expect(html).toMatch(
      /<td>debian-12 \(cached, prepared: reused\)<\/td>\s*<td>tcg \(no KVM\)<\/td>\s*<td>restored from a warm snapshot<\/td>\s*<td>2.5s<\/td>/,
    );
    expect(html).toMatch(/<th>restore<\/th>\s*<th>command<\/th>/);
    expect(html).not.toContain("console");
  });

  it("lists suites and failures from JUnit, and the console tail when the run failed", () => {
    const report = parseJunit(
      '<testsuite name="s"><testcase name="a"/><testcase name="b" file="t.sh" line="3"><failure message="boom">x | y</failure></testcase></testsuite>',
    );
    const html = render(
      renderJobSummary({
        result: { ...passed, outcome: "failed", exitCode: 1 },
        junit: { path: "junit.xml", report },
        consoleTail: ["[ 1.0] kernel: hello"],
        durationMs: 1000,
      }),
    );
    expect(html).toContain("<h2>kvmci: ❌ failed (exit code 1)</h2>");
    expect(html).toContain("<h3>Tests: 1 passed, 1 failed, 0 skipped</h3>");
    expect(html).toMatch(/<td><code>s<\/code><\/td>\s*<td align="right">1<\/td>/);
    expect(visible(html)).toContain("❌ s › b — t.sh:3");
    expect(html).toContain("x | y\n</code></pre>");
    expect(html).toContain("Last lines of the guest console");
    expect(html).toContain("kernel: hello");
  });

  it("says what went wrong when the run could not complete, and every warning", () => {
    const error = new KvmciError("guestBoot", "The guest was not ready after 600s", {
      hint: "Raise --boot-timeout",
    });
    const html = render(
      renderJobSummary({
        result: {
          ...passed,
          outcome: "error",
          exitCode: 66,
          error,
          phases: [],
          warnings: ["2 entries from the guest's artifacts were not copied"],
        },
        junit: { path: "junit.xml", problem: "junit.xml was not written in the guest" },
        consoleTail: [],
        durationMs: 1000,
      }),
    );
    expect(html).toContain("<h2>kvmci: ❌ could not complete (exit code 66)</h2>");
    expect(html).toContain("<strong>The guest was not ready after 600s</strong>");
    expect(visible(html)).toContain("Raise --boot-timeout");
    expect(visible(html)).toContain("⚠️ 2 entries from the guest's artifacts were not copied");
    expect(visible(html)).toContain("⚠️ JUnit: junit.xml was not written in the guest");
  });

  it("shows hostile test names and messages as text: no links, images, tags or extra cells", () => {
    const hostile = [
      '<img src="https://evil.example/x.png"> <b>bold</b>',
      "[click](https://evil.example) ![i](https://evil.example/i.png) www.evil.example https://evil.example",
      "a | b | c",
      "line\n# Heading\n| x | y |",
      "`` ``` ~~~ **strong** _em_ <!-- -->",
    ];
    const xml = `<testsuites>${hostile
      .map(
        (name) =>
          `<testsuite name="${escapeXml(name)}"><testcase name="${escapeXml(name)}" file="${escapeXml(name)}" line="1"><failure message="${escapeXml(name)}">${escapeXml(`${name}\n\`\`\`\n</pre><a href="https://evil.example">x</a>`)}</failure></testcase></testsuite>`,
      )
      .join("")}</testsuites>`;
    const md = renderJobSummary({
      result: {
        ...passed,
        outcome: "failed",
        exitCode: 1,
        warnings: hostile,
        error: new KvmciError("guestLost", hostile.join(" ")),
      },
      junit: { path: "junit.xml", report: parseJunit(xml) },
      consoleTail: hostile,
      durationMs: 1000,
    });
    const html = render(md);
    expect(html).not.toMatch(/<a\s|<img|<b>|<em>|<h1|<h4>[^<]*<strong>/);
    // The suites table: a header row and one row per suite, four cells each.
    const rows = [...html.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((m) => m[1]!);
    const suiteRows = rows.filter((r) => r.includes('<td align="right"'));
    expect(suiteRows).toHaveLength(hostile.length);
    for (const row of suiteRows) expect(row.match(/<td/g)).toHaveLength(4);
    // Each hostile name is still readable, as text.
    for (const name of hostile) expect(visible(html)).toContain(name.split("\n")[0]!);
  });
});

function escapeXml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/\n/g, "&#10;");
}
