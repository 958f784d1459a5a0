/**
 * Finds the Debian mirror the host's APT uses, from the text of its sources files (both the
 * one-line `sources.list` format and deb822 `.sources`). Pure; returns undefined when the host
 * has no Debian archive configured (an Ubuntu host, say).
 */
export function findDebianMirror(files: { name: string; text: string }[]): string | undefined {
  for (const { name, text } of files) {
    const uris = name.endsWith(".sources") ? deb822Uris(text) : oneLineUris(text);
    const found = uris.find(
      (u) => /\/debian\/?$/.test(u.uri) && !u.suites.some((s) => s.endsWith("-security")),
    );
    if (found) return found.uri.replace(/\/$/, "");
  }
  return undefined;
}

export const defaultDebianMirror = "http://deb.debian.org/debian";

interface Source {
  uri: string;
  suites: string[];
}

function oneLineUris(text: string): Source[] {
  const out: Source[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    // deb [options] uri suite [components...]
    const match = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (match?.[1] && match[2]) out.push({ uri: match[1], suites: [match[2]] });
  }
  return out;
}

function deb822Uris(text: string): Source[] {
  const out: Source[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const raw of stanza.split("\n")) {
      if (raw.startsWith("#")) continue;
      const match = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (match?.[1] && match[2] !== undefined) fields.set(match[1].toLowerCase(), match[2].trim());
    }
    const types = (fields.get("types") ?? "").split(/\s+/);
    if (!types.includes("deb") || fields.get("enabled") === "no") continue;
    const suites = (fields.get("suites") ?? "").split(/\s+/).filter(Boolean);
    for (const uri of (fields.get("uris") ?? "").split(/\s+/).filter(Boolean))
      out.push({ uri, suites });
  }
  return out;
}
