/**
 * Text in the job summary. GitHub renders it as Markdown with some HTML, so anything that came
 * from the guest (test names, messages, console lines) must not be able to add links, images,
 * tags or table cells: it can change what a cell says, never the page around it.
 */

/**
 * Text from the guest as inline code: inside a code span nothing is a link, an image, a tag or
 * emphasis. Newlines become spaces; in a table cell `|` is escaped too, so a row stays one row
 * of the same cells. Pure.
 */
export function code(text: string, where: "cell" | "text" = "text"): string {
  const oneLine = text.replace(/[\r\n]+/g, " ");
  const flat = where === "cell" ? oneLine.replace(/\|/g, "\\|") : oneLine;
  if (flat.trim() === "") return "—";
  const longest = Math.max(0, ...[...flat.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = "`".repeat(longest + 1);
  // A span that starts or ends with a backtick needs a space inside its fence.
  const pad = flat.startsWith("`") || flat.endsWith("`") ? " " : "";
  return `${ticks}${pad}${flat}${pad}${ticks}`;
}

/**
 * kvmci's own words, which may quote a setting or a name: every character Markdown or HTML
 * would act on is escaped, and `www.`/`://` are broken up so that nothing becomes a link. Pure.
 */
export function plain(text: string): string {
  return text
    .replace(/[\r\n]+/g, " ")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/[\\`*_{}[\]()#+\-.!|~]/g, (c) => `\\${c}`)
    .replace(/:\/\//g, "&#58;//")
    .replace(/\bwww\\\./gi, (m) => `${m.slice(0, 3)}&#46;`)
    .replace(/@/g, "&#64;");
}

/** A fenced code block whose fence no line inside can close; long text is cut. Pure. */
export function fence(text: string, maxChars: number): string {
  const body = text.length > maxChars ? `${text.slice(0, maxChars)}\n…` : text;
  const longest = Math.max(0, ...[...body.matchAll(/`{3,}/g)].map((m) => m[0].length));
  const ticks = "`".repeat(Math.max(3, longest + 1));
  return `${ticks}text\n${body}\n${ticks}`;
}
