import { writeFile } from "node:fs/promises";
import { buildIso9660 } from "./iso9660.js";
import { firstBootCovers, firstBootFile, renderFirstBoot } from "./first-boot.js";
import { renderMetaData, renderNetworkConfig, renderUserData, type SeedSpec } from "./user-data.js";

/** The NoCloud volume label cloud-init looks for. */
export const seedLabel = "cidata";

/**
 * Renders the three NoCloud files into an ISO 9660 image labelled `cidata`, with kvmci's
 * first-boot script beside them when it can do all the cloud-config asks (first-boot.ts). Pure.
 */
export function buildSeedImage(spec: SeedSpec, date: Date): Buffer {
  return buildIso9660({
    volumeId: seedLabel,
    date,
    files: [
      { name: "user-data", data: Buffer.from(renderUserData(spec)) },
      { name: "meta-data", data: Buffer.from(renderMetaData(spec)) },
      { name: "network-config", data: Buffer.from(renderNetworkConfig()) },
      ...(firstBootCovers(spec.extra)
        ? [{ name: firstBootFile, data: Buffer.from(renderFirstBoot(spec)) }]
        : []),
    ],
  });
}

/** Writes the seed image; it holds the per-run host private key, so only the owner may read it. */
export async function writeSeed(path: string, spec: SeedSpec, date: Date): Promise<void> {
  await writeFile(path, buildSeedImage(spec, date), { mode: 0o600 });
}
