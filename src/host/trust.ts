import { X509Certificate } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";

/**
 * What the host trusts beyond a stock system and how it reaches the outside: extra CA
 * certificates (a company's TLS-inspecting proxy, say) and proxy variables. Carried into the
 * guest so that `npm ci`, `pip install` and `apt-get` work there wherever they work here.
 */
export interface HostTrust {
  /** PEM certificates, each once. */
  certificates: string[];
  /** Where they came from, for messages. */
  sources: string[];
  /** Proxy variables as the guest must see them (a proxy on the host's loopback rewritten). */
  proxy: Record<string, string>;
}

/** Folders where Debian/Ubuntu and Fedora/RHEL keep certificates added to the system's store. */
const localCertificateFolders = [
  "/usr/local/share/ca-certificates",
  "/etc/pki/ca-trust/source/anchors",
];

/** The stock bundles: variables pointing here name nothing extra (they hold the whole store). */
const systemBundles = new Set([
  "/etc/ssl/certs/ca-certificates.crt",
  "/etc/pki/tls/certs/ca-bundle.crt",
  "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
  "/etc/ssl/cert.pem",
  "/etc/ssl/ca-bundle.pem",
]);

const certificateVariables = [
  "NODE_EXTRA_CA_CERTS",
  "SSL_CERT_FILE",
  "REQUESTS_CA_BUNDLE",
  "CURL_CA_BUNDLE",
];

const proxyVariables = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"];

/** The guest reaches the host at this address on QEMU's user network. */
export const hostFromGuest = "10.0.2.2";

/** A bundle beyond this is not a list of extra CAs; it is not carried. */
const maxCertificates = 500;

/** Reads the host's extra certificates and proxy settings. Unreadable files are skipped. */
export async function readHostTrust(
  env: NodeJS.ProcessEnv,
  folders: string[] = localCertificateFolders,
): Promise<HostTrust> {
  const files: string[] = [];
  for (const folder of folders) files.push(...(await certificateFiles(folder)));
  for (const name of certificateVariables) {
    const path = env[name];
    if (path && !systemBundles.has(path)) files.push(path);
  }
  const certificates = new Map<string, string>();
  const sources: string[] = [];
  for (const file of [...new Set(files)]) {
    const text = await readFile(file, "utf8").catch(() => "");
    const found = parseCertificates(text);
    if (found.length === 0 || found.length > maxCertificates) continue;
    sources.push(file);
    for (const { fingerprint, pem } of found) certificates.set(fingerprint, pem);
  }
  return { certificates: [...certificates.values()], sources, proxy: guestProxy(env) };
}

async function certificateFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true }).catch(() => [] as string[]);
  const files: string[] = [];
  for (const entry of entries.map(String)) {
    if (!/\.(crt|pem)$/.test(entry)) continue;
    const path = join(folder, entry);
    if ((await stat(path).catch(() => undefined))?.isFile()) files.push(path);
  }
  return files.sort();
}

/** The valid certificates in a PEM text, with their SHA-256 fingerprints. Pure. */
export function parseCertificates(text: string): { fingerprint: string; pem: string }[] {
  const out: { fingerprint: string; pem: string }[] = [];
  for (const match of text.matchAll(
    /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g,
  )) {
    try {
      const certificate = new X509Certificate(match[0]);
      out.push({ fingerprint: certificate.fingerprint256, pem: certificate.toString().trim() });
    } catch {
      // Not a certificate after all: skipped.
    }
  }
  return out;
}

/**
 * The host's proxy variables for the guest, upper and lower case alike. A proxy on the host's
 * own loopback is, from the guest, at the host's address on QEMU's network. Pure.
 */
export function guestProxy(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of proxyVariables) {
    const value = env[name] ?? env[name.toLowerCase()];
    if (!value) continue;
    const guestValue = name === "NO_PROXY" ? value : throughHost(value);
    out[name] = guestValue;
    out[name.toLowerCase()] = guestValue;
  }
  return out;
}

function throughHost(value: string): string {
  return value.replace(
    /^((?:[a-z][a-z0-9+.-]*:\/\/)?(?:[^@/]*@)?)(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?=[:/]|$)/i,
    `$1${hostFromGuest}`,
  );
}
