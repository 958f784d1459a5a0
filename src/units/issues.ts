import type { z } from "zod";

/** One zod issue as `path: message`, the form every configuration problem takes. */
export function formatIssue(issue: z.core.$ZodIssue): string {
  const path = formatPath(issue.path);
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => `${path ? `${path}.` : ""}${key}: unknown setting`).join("; ");
  }
  // zod's own wording ("Invalid input: expected string, received object") without its prefix.
  const message = issue.message.replace(/^Invalid input: /, "").replace(/, received /, ", got ");
  return `${path || "(top level)"}: ${message}`;
}

/** `["guests", 1, "memory"]` → `guests[1].memory`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, part) =>
      typeof part === "number" ? `${out}[${part}]` : out ? `${out}.${String(part)}` : String(part),
    "",
  );
}
