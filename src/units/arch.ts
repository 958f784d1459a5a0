/** The guest architectures kvmci runs, by the names `uname -m` gives them. */
export const arches = ["x86_64", "aarch64"] as const;

export type Arch = (typeof arches)[number];

export function isArch(value: string): value is Arch {
  return (arches as readonly string[]).includes(value);
}

/** Node's `process.arch` (`x64`, `arm64`) as an Arch; undefined for a host kvmci cannot emulate. */
export function archOfNode(nodeArch: string): Arch | undefined {
  return nodeArch === "x64" ? "x86_64" : nodeArch === "arm64" ? "aarch64" : undefined;
}

/** Debian's name for it: mmdebstrap's `--arch`, and the end of package names. */
export function debianArch(arch: Arch): "amd64" | "arm64" {
  return arch === "x86_64" ? "amd64" : "arm64";
}
