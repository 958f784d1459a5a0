import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { buildGuestCommandLine } from "../../src/guest/command-line.js";
import { shellJoin } from "../../src/ssh/shell-quote.js";

describe("guest command line", () => {
  it("runs an argv exactly, with awkward characters intact, in the workdir with the env", async () => {
    const line = buildGuestCommandLine(
      { argv: ["printf", "%s|%s|%s", "a b", "it's", "$HOME"] },
      { workdir: "/tmp", env: { GREETING: "hi there" } },
    );
    const { stdout } = await execa("sh", ["-c", `${line}; echo never`]);
    expect(stdout).toBe("a b|it's|$HOME");
    const env = await execa("sh", [
      "-c",
      buildGuestCommandLine(
        { script: 'echo "$GREETING from $(pwd)"' },
        { workdir: "/tmp", env: { GREETING: "hi there" } },
      ),
    ]);
    expect(env.stdout).toBe("hi there from /tmp");
  });

  it("passes the exit code through", async () => {
    const result = await execa(
      "sh",
      ["-c", buildGuestCommandLine({ script: "exit 7" }, { workdir: "/", env: {} })],
      { reject: false },
    );
    expect(result.exitCode).toBe(7);
  });

  it("quotes words for a shell", () => {
    expect(shellJoin(["a", "b c", "", "d'e"])).toBe(`a 'b c' '' 'd'\\''e'`);
  });
});
