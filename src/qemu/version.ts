import { execa } from "execa";
import type { Arch } from "../units/arch.js";
import { qemuBinary } from "./args.js";

const memo = new Map<Arch, Promise<string>>();

/** `qemu-system-… --version`'s first line for guests of this architecture (asked once). */
export function qemuVersion(arch: Arch): Promise<string> {
  let version = memo.get(arch);
  if (!version) {
    version = execa(qemuBinary(arch), ["--version"]).then(
      (r) => r.stdout.split("\n")[0]?.trim() ?? "",
    );
    // A failure proves nothing for the next caller (the binary may be installed meanwhile).
    version.catch(() => memo.delete(arch));
    memo.set(arch, version);
  }
  return version;
}
