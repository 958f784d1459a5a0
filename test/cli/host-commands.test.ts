import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { watchHostCommands } from "../../src/cli/host-commands.js";

describe("watchHostCommands", () => {
  it("sees each process started, with its argv and how it ended, until disposed", async () => {
    const seen: string[] = [];
    {
      using _watch = watchHostCommands({
        started: (argv) => seen.push(`start ${argv.join(" ")}`),
        ended: (argv, code, signal) => seen.push(`end ${argv[0]} ${code} ${signal}`),
      });
      await execa("sh", ["-c", "exit 3"], { reject: false });
      await execa("true");
      // One that cannot be started is not a command that ran (its error says so).
      await execa("kvmci-no-such-tool", { reject: false });
    }
    await execa("true", ["after"]);
    expect(seen).toEqual(["start sh -c exit 3", "end sh 3 null", "start true", "end true 0 null"]);
  });
});
