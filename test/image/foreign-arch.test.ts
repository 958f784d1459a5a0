import { describe, expect, it } from "vitest";
import {
  binfmtFix,
  binfmtRegistration,
  parseBinfmtEntry,
  planBinfmtSetup,
} from "../../src/image/foreign-arch.js";

// What binfmt_misc says is read on the host; what kvmci makes of it, and the commands it would
// run as root, are checked here as data. (Changing the host's binfmt_misc in a test would change
// it for everyone on the machine.)

/** /proc/sys/fs/binfmt_misc/qemu-aarch64 as Debian 12's qemu-user-static registers it. */
const debianEntry = [
  "enabled",
  "interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P",
  "flags: PF",
  "offset 0",
  "magic 7f454c460201010000000000000000000200b700",
  "mask ffffffffffffff00fffffffffffffffffeffffff",
  "",
].join("\n");

describe("binfmt_misc for building another architecture's image", () => {
  it("reads an entry: enabled, its interpreter and flags", () => {
    expect(parseBinfmtEntry(debianEntry)).toEqual({
      enabled: true,
      interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P",
      flags: "PF",
    });
    expect(parseBinfmtEntry(debianEntry.replace("enabled", "disabled")).enabled).toBe(false);
  });

  it("registers qemu-user for the architecture's ELF header, opened at once (F)", () => {
    const line = binfmtRegistration("aarch64", "/usr/bin/qemu-aarch64-static");
    expect(line).toBe(
      ":qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:" +
        "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:" +
        "/usr/bin/qemu-aarch64-static:F",
    );
    // The magic matches what the kernel shows for Debian's own registration.
    const magic = /magic (\S+)/.exec(debianEntry)![1]!;
    const fromLine = line
      .split(":")[4]!
      .replace("\\x7fELF", "\\x7f\\x45\\x4c\\x46")
      .split("\\x")
      .filter(Boolean)
      .join("");
    expect(fromLine).toBe(magic);
    expect(binfmtRegistration("x86_64", "/q").split(":")[1]).toBe("qemu-x86_64");
  });

  it("plans nothing when the entry is there and enabled", () => {
    const entry = parseBinfmtEntry(debianEntry);
    expect(planBinfmtSetup("aarch64", { mounted: true, entry }, "/usr/bin/q")).toEqual([]);
  });

  it("mounts binfmt_misc and registers, or enables a switched-off entry, saying each", () => {
    const unmounted = planBinfmtSetup("aarch64", { mounted: false, entry: undefined }, "/q");
    expect(unmounted.map((s) => s.argv.slice(0, 3))).toEqual([
      ["mount", "-t", "binfmt_misc"],
      ["sh", "-c", "printf '%s' \"$1\" > /proc/sys/fs/binfmt_misc/register"],
    ]);
    expect(unmounted[1]!.argv.at(-1)).toBe(binfmtRegistration("aarch64", "/q"));
    expect(unmounted.map((s) => s.done)).toEqual([
      "mounted binfmt_misc at /proc/sys/fs/binfmt_misc",
      "registered /q with binfmt_misc for aarch64 programs (qemu-aarch64, flag F)",
    ]);
    const off = parseBinfmtEntry(debianEntry.replace("enabled", "disabled"));
    expect(planBinfmtSetup("aarch64", { mounted: true, entry: off }, "/q")).toEqual([
      {
        argv: ["sh", "-c", "echo 1 > /proc/sys/fs/binfmt_misc/qemu-aarch64"],
        done: "enabled binfmt_misc's qemu-aarch64 entry (it was switched off)",
      },
    ]);
  });

  it("tells an administrator what to run once", () => {
    expect(binfmtFix("aarch64")).toMatch(
      /^sudo apt-get install qemu-user-static binfmt-support arch-test && sudo update-binfmts --enable qemu-aarch64 /,
    );
  });
});
