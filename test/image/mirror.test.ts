import { describe, expect, it } from "vitest";
import { findDebianMirror } from "../../src/image/mirror.js";

describe("findDebianMirror", () => {
  it("reads deb822 sources and skips the security archive", () => {
    const text =
      "Types: deb\nURIs: http://security.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n";
    expect(findDebianMirror([{ name: "debian.sources", text }])).toBe(
      "http://mirror.example/debian",
    );
  });

  it("reads one-line sources with options", () => {
    const text =
      "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://ftp.de.debian.org/debian bookworm main\n";
    expect(findDebianMirror([{ name: "sources.list", text }])).toBe(
      "http://ftp.de.debian.org/debian",
    );
  });

  it("finds nothing on a host without a Debian archive", () => {
    expect(
      findDebianMirror([
        { name: "sources.list", text: "deb http://archive.ubuntu.com/ubuntu noble main\n" },
      ]),
    ).toBeUndefined();
  });
});
