import type { CloudConfig } from "./user-data.js";

/** Where the guest finds the host's extra certificates as one file (for NODE_EXTRA_CA_CERTS). */
export const guestCertificateBundle = "/etc/kvmci/host-ca.pem";

/**
 * cloud-config that makes the guest trust the host's extra certificates: each one added to the
 * system's store the way Debian/Ubuntu (update-ca-certificates) and Fedora/RHEL (update-ca-trust)
 * expect, and all of them in one file for tools with their own store (Node.js). Pure.
 */
export function trustCloudConfig(certificates: string[]): CloudConfig | undefined {
  if (certificates.length === 0) return undefined;
  const files = certificates.flatMap((pem, i) => [
    { path: `/usr/local/share/ca-certificates/kvmci-host-${i + 1}.crt`, content: `${pem}\n` },
    { path: `/etc/pki/ca-trust/source/anchors/kvmci-host-${i + 1}.crt`, content: `${pem}\n` },
  ]);
  return {
    write_files: [
      ...files.map((f) => ({ ...f, permissions: "0644" })),
      {
        path: guestCertificateBundle,
        content: `${certificates.join("\n")}\n`,
        permissions: "0644",
      },
    ],
    runcmd: [
      [
        "sh",
        "-c",
        "if command -v update-ca-certificates >/dev/null; then update-ca-certificates >/dev/null; " +
          "elif command -v update-ca-trust >/dev/null; then update-ca-trust; fi",
      ],
    ],
  };
}
