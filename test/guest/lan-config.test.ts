import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { buildLanCommand, buildProbeCommand } from "../../src/guest/lan-config.js";

describe("the private network in the guest", () => {
  it("is valid shell that names the card by MAC and the peers by name", async () => {
    const command = buildLanCommand({
      mac: "52:54:00:4c:00:01",
      address: "10.72.0.10",
      peers: [
        { name: "db", address: "10.72.0.10" },
        { name: "app", address: "10.72.0.11" },
      ],
    });
    // sudo sh -c SCRIPT: the script parses.
    const script = (await execa("sh", ["-c", `set -- ${command}; printf %s "$4"`])).stdout;
    await execa("sh", ["-n", "-c", script]);
    expect(script).toContain("MACAddress=52:54:00:4c:00:01");
    expect(script).toContain("10.72.0.11 app # kvmci-lan");
  });

  it("probes a port on the guest's own address, or runs a command", () => {
    expect(buildProbeCommand({ kind: "tcp", port: 8080 }, "10.72.0.10")).toBe(
      "timeout 2 bash -c '</dev/tcp/10.72.0.10/8080' 2>/dev/null",
    );
    expect(buildProbeCommand({ kind: "command", command: "pg_isready" }, "x")).toBe("pg_isready");
  });
});
