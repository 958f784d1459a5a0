import { describe, expect, it } from "vitest";
import type { Check } from "../../src/doctor/checks.js";
import { doctorJson, formatDoctor } from "../../src/report/doctor.js";

// What runDoctor found on a host with QEMU, no mmdebstrap and no tar (doctor itself boots a
// KVM probe, so its rendering is tested on checks as data).
const checks: Check[] = [
  {
    name: "qemu-system-x86_64",
    status: "ok",
    detail: "QEMU emulator version 7.2.15 (/usr/bin/qemu-system-x86_64)",
  },
  {
    name: "mmdebstrap",
    status: "warn",
    detail: "not installed",
    fix: "sudo apt-get install mmdebstrap (only needed to build images)",
  },
  { name: "tar", status: "fail", detail: "not installed", fix: "sudo apt-get install tar" },
];

describe("kvmci doctor's output", () => {
  it("is a line a check, with the fix under each that is not fine", () => {
    expect(formatDoctor(checks)).toBe(
      [
        "✓ qemu-system-x86_64: QEMU emulator version 7.2.15 (/usr/bin/qemu-system-x86_64)",
        "! mmdebstrap: not installed",
        "    fix: sudo apt-get install mmdebstrap (only needed to build images)",
        "✗ tar: not installed",
        "    fix: sudo apt-get install tar",
        "",
      ].join("\n"),
    );
  });

  it("--json: every check with its status, detail and fix, and whether guests can run here", () => {
    const json = doctorJson(checks);
    expect(JSON.parse(JSON.stringify(json))).toEqual({
      version: 1,
      ok: false,
      checks: [
        {
          name: "qemu-system-x86_64",
          status: "ok",
          detail: "QEMU emulator version 7.2.15 (/usr/bin/qemu-system-x86_64)",
          fix: null,
        },
        {
          name: "mmdebstrap",
          status: "warn",
          detail: "not installed",
          fix: "sudo apt-get install mmdebstrap (only needed to build images)",
        },
        { name: "tar", status: "fail", detail: "not installed", fix: "sudo apt-get install tar" },
      ],
    });
    // Warnings alone do not stop guests from running.
    expect(doctorJson(checks.slice(0, 2)).ok).toBe(true);
  });
});
