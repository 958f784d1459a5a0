import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guestProxy, parseCertificates, readHostTrust } from "../../src/host/trust.js";
import { trustCloudConfig } from "../../src/cloud-init/trust.js";
import { finalStageIdle } from "../../src/cloud-init/user-data.js";

let root: string;
const pem: string[] = [];

/** A self-signed CA made with openssl, as a company's TLS-inspecting proxy would have. */
async function makeCertificate(name: string): Promise<string> {
  const key = join(root, `${name}.key`);
  const crt = join(root, `${name}.crt`);
  await execa("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    key,
    "-out",
    crt,
    "-days",
    "1",
    "-subj",
    `/CN=${name}`,
  ]);
  return readFile(crt, "utf8");
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "kvmci-trust-"));
  pem.push(await makeCertificate("proxy-ca"), await makeCertificate("corp-ca"));
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe("readHostTrust", () => {
  it("carries the certificates added to the system's store and those variables name", async () => {
    const local = join(root, "local");
    await mkdir(join(local, "corp"), { recursive: true });
    await writeFile(join(local, "corp", "proxy.crt"), pem[0]!);
    await writeFile(join(local, "notes.txt"), "not a certificate");
    const extra = join(root, "extra.pem");
    // The same certificate again, and a second one.
    await writeFile(extra, `${pem[0]!}\n${pem[1]!}`);
    const trust = await readHostTrust(
      {
        NODE_EXTRA_CA_CERTS: extra,
        // Pointing at the whole system store names nothing extra.
        SSL_CERT_FILE: "/etc/ssl/certs/ca-certificates.crt",
      },
      [local, join(root, "missing")],
    );
    expect(trust.sources).toEqual([join(local, "corp", "proxy.crt"), extra]);
    expect(trust.certificates).toHaveLength(2);
    expect(parseCertificates(trust.certificates.join("\n"))).toHaveLength(2);
  });

  it("skips what does not parse", () => {
    expect(
      parseCertificates("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"),
    ).toEqual([]);
  });
});

describe("guestProxy", () => {
  it("gives the guest the host's proxy, a loopback one at the host's address from the guest", () => {
    expect(
      guestProxy({
        https_proxy: "http://user:pw@127.0.0.1:3128",
        HTTP_PROXY: "http://localhost:8080/",
        NO_PROXY: "localhost,.corp",
      }),
    ).toEqual({
      HTTPS_PROXY: "http://user:pw@10.0.2.2:3128",
      https_proxy: "http://user:pw@10.0.2.2:3128",
      HTTP_PROXY: "http://10.0.2.2:8080/",
      http_proxy: "http://10.0.2.2:8080/",
      NO_PROXY: "localhost,.corp",
      no_proxy: "localhost,.corp",
    });
    expect(guestProxy({ HTTPS_PROXY: "http://proxy.corp:3128" }).HTTPS_PROXY).toBe(
      "http://proxy.corp:3128",
    );
    expect(guestProxy({})).toEqual({});
  });
});

describe("trustCloudConfig", () => {
  it("adds each certificate to the guest's store and updates it with whichever tool it has", async () => {
    expect(trustCloudConfig([])).toBeUndefined();
    const config = trustCloudConfig(pem)!;
    const files = config.write_files as { path: string; content: string }[];
    expect(files.map((f) => f.path)).toEqual([
      "/usr/local/share/ca-certificates/kvmci-host-1.crt",
      "/etc/pki/ca-trust/source/anchors/kvmci-host-1.crt",
      "/usr/local/share/ca-certificates/kvmci-host-2.crt",
      "/etc/pki/ca-trust/source/anchors/kvmci-host-2.crt",
      "/etc/kvmci/host-ca.pem",
    ]);
    // In the init stage, once per instance: the final stage keeps nothing to do for it.
    expect(config.runcmd).toBeUndefined();
    expect(finalStageIdle(config)).toBe(true);
    const [command] = config.bootcmd as string[][];
    expect(command!.slice(0, 5)).toEqual([
      "cloud-init-per",
      "instance",
      "kvmci-host-trust",
      "sh",
      "-c",
    ]);
    // The script itself, run on a copy standing in for the system's bundle.
    const bundle = join(root, "ca-certificates.crt");
    await writeFile(bundle, "SYSTEM\n");
    const script = command![5]!.replace("/etc/ssl/certs/ca-certificates.crt", bundle);
    expect(script).not.toBe(command![5]);
    await execa("sh", ["-c", script, ...command!.slice(6)]);
    expect(await readFile(bundle, "utf8")).toBe(`SYSTEM\n${pem.join("\n")}\n`);
  });
});
