import { describe, expect, it } from "vitest";
import { failedUnitsOnConsole, panicLine, parseCloudInitErrors } from "../../src/guest/console.js";

describe("cloud-init results", () => {
  it("reads module errors from result.json", () => {
    expect(parseCloudInitErrors('{"v1": {"datasource": "NoCloud", "errors": []}}')).toEqual([]);
    expect(parseCloudInitErrors('{"v1": {"errors": ["module x failed"]}}')).toEqual([
      "module x failed",
    ]);
    expect(parseCloudInitErrors("garbage")[0]).toMatch(/unreadable/);
  });

  it("finds the units systemd failed to start on the console, once each", () => {
    // Lines of a real console (a guest under heavy load), colours removed.
    const console = [
      "[FAILED] Failed to start ssh.servic… - OpenBSD Secure Shell server.",
      "See 'systemctl status ssh.service' for details.",
      "[  OK  ] Stopped ssh.service - OpenBSD Secure Shell server.",
      "[FAILED] Failed to start ssh.servic… - OpenBSD Secure Shell server.",
      "[  OK  ] Started systemd-logind.service - User Login Management.",
    ];
    expect(failedUnitsOnConsole(console)).toEqual(["ssh.servic… - OpenBSD Secure Shell server"]);
    expect(failedUnitsOnConsole(["[  OK  ] Started ssh.service"])).toEqual([]);
  });
});

describe("a kernel panic on the console", () => {
  it("is found by its line", () => {
    expect(
      panicLine(["[ 1.0] ok", "[ 2.0] Kernel panic - not syncing: sysrq triggered crash  ", "x"]),
    ).toBe("[ 2.0] Kernel panic - not syncing: sysrq triggered crash");
    expect(panicLine(["[ 1.0] ok"])).toBeUndefined();
  });
});
