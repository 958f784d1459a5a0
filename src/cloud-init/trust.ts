import type { CloudConfig } from "./user-data.js";

/** Where the guest finds the host's extra certificates as one file (for NODE_EXTRA_CA_CERTS). */
export const guestCertificateBundle = "/etc/kvmci/host-ca.pem";

/**
 * cloud-config that makes the guest trust the host's extra certificates: appended to the
 * system's bundle (which OpenSSL, curl, apt and Python read), kept where Debian/Ubuntu and
 * Fedora/RHEL keep local certificates (so a later update-ca-certificates or update-ca-trust keeps
 * them), and in one file for tools with a store of their own (Node.js). The store is not rebuilt:
 * update-ca-certificates took 10–40 s of every cold boot under emulation. The bundle is appended
 * to in cloud-init's init stage (bootcmd, once per instance, the certificates given as an
 * arguments since bootcmd runs before write_files), so that its final stage has nothing of
 * kvmci's to do (see finalStageIdle). Pure.
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
    bootcmd: [
      [
        "cloud-init-per",
        "instance",
        "kvmci-host-trust",
        "sh",
        "-c",
        "for b in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do " +
          `if [ -f "$b" ]; then printf '%s\\n' "$@" >> "$b"; fi; done`,
        "kvmci-host-trust",
        // One argument each: Linux takes no single argument over 128 KiB, and a host may have
        // more certificates than that.
        ...certificates,
      ],
    ],
  };
}
