import type { Check } from "../doctor/checks.js";

const marks = { ok: "✓", warn: "!", fail: "✗" } as const;

/** `kvmci doctor`: a line a check, and under each that is not fine, its fix. Pure. */
export function formatDoctor(checks: readonly Check[]): string {
  return checks
    .map(
      (c) =>
        `${marks[c.status]} ${c.name}: ${c.detail}\n${c.status !== "ok" && c.fix ? `    fix: ${c.fix}\n` : ""}`,
    )
    .join("");
}

/**
 * `kvmci doctor --json`: every check with its status (`ok`, `warn`, `fail`), what was found and
 * the fix (null when it is fine), and whether kvmci can run guests here at all. Pure.
 */
export function doctorJson(checks: readonly Check[]) {
  return {
    version: 1,
    ok: !checks.some((c) => c.status === "fail"),
    checks: checks.map((c) => ({
      name: c.name,
      status: c.status,
      detail: c.detail,
      fix: c.status === "ok" ? null : (c.fix ?? null),
    })),
  };
}
