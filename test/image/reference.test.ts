import { describe, expect, it } from "vitest";
import { parseImageReference, urlEntryName } from "../../src/image/reference.js";

const hex = "0123456789abcdef".repeat(4);

describe("parseImageReference", () => {
  it("takes a URL with a pinned digest", () => {
    expect(parseImageReference(`https://h/x/disk.qcow2#sha256=${hex}`, "/w", "/home/u")).toEqual({
      kind: "url",
      url: "https://h/x/disk.qcow2",
      digest: { algorithm: "sha256", hex },
    });
  });

  it("refuses a URL without a digest, explaining why and how to pin one", () => {
    const result = parseImageReference("https://h/disk.qcow2", "/w", "/home/u");
    if (!("problem" in result)) throw new Error("expected a problem");
    expect(result.problem).toContain(
      "needs a pinned digest, as in https://h/disk.qcow2#sha256=<hex>",
    );
    expect(result.hint).toContain("sha256sum");
  });

  it("refuses a malformed digest and other schemes", () => {
    expect(parseImageReference("https://h/d#sha256=abc", "/w", "/h")).toHaveProperty("problem");
    expect(parseImageReference(`ftp://h/d#sha256=${hex}`, "/w", "/h")).toHaveProperty(
      "problem",
      expect.stringContaining("only http:// and https://"),
    );
  });

  it("treats paths as files and bare words as catalog names", () => {
    expect(parseImageReference("./disk.qcow2", "/w", "/h")).toEqual({
      kind: "file",
      path: "/w/disk.qcow2",
    });
    expect(parseImageReference("~/vm/d.img", "/w", "/h")).toEqual({
      kind: "file",
      path: "/h/vm/d.img",
    });
    expect(parseImageReference("/abs/d.raw", "/w", "/h")).toEqual({
      kind: "file",
      path: "/abs/d.raw",
    });
    expect(parseImageReference("ubuntu-24.04", "/w", "/h")).toEqual({
      kind: "name",
      name: "ubuntu-24.04",
    });
  });

  it("names a URL's cache entry after its file and digest, safely", () => {
    expect(urlEntryName("https://h/a b/my disk.qcow2", { algorithm: "sha256", hex })).toBe(
      "url-my_disk.qcow2-0123456789abcdef",
    );
  });
});
