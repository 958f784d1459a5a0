import type { HttpGet } from "../host/http.js";
import type { EnsureTools } from "../host/packages.js";
import type { TransferProgress } from "./download.js";
import type { Arch } from "../units/arch.js";

// Apart from resolve.ts so that pull.ts, which resolve.ts calls, can take the same options
// without importing resolve.ts back.

/** What the image phase tells the person waiting. */
export interface ImageEvents {
  /** A step of a long operation (a build step), for a status line. */
  onStep?: (step: string) => void;
  /** Something worth a line in the log: a build or download starting, a wait for a lock. */
  onNote?: (message: string) => void;
  onTransfer?: (what: string, progress: TransferProgress) => void;
}

export interface ResolveOptions extends ImageEvents {
  /** The guest's architecture: a catalog name resolves to its entry for it. */
  arch: Arch;
  /** The host's: building for another runs its programs under qemu-user (see foreign-arch.ts). */
  hostArch: Arch | undefined;
  cacheDir: string;
  catalogDirs: string[];
  http: HttpGet;
  cwd: string;
  home: string;
  /** Overrides the host's configured Debian mirror for recipe builds. */
  mirror: string | undefined;
  isRoot: boolean;
  signal?: AbortSignal;
  /** `kvmci image pull`: ask the catalog's checksum list again even when an image is cached. */
  refresh?: boolean;
  /** `kvmci image build --force`: build a recipe again even when cached. */
  force?: boolean;
  /** Installs what the host lacks (or says how); missing tools are an error without it. */
  ensureTools?: EnsureTools;
}

export type ImageOrigin = "cached" | "built" | "downloaded" | "file";
