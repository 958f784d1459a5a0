// `npm run dist`: bundles src/ into dist/, which is committed (CI fails when it is not the
// bundle of the current src/). Committed, because both ways kvmci is used run it from a git
// checkout with nothing built there: the Action (`uses: kvmci/kvmci@v1`) and
// `npm install -g git+https://…`, which cannot build with npm 11 (npm/cli#8440: a global
// install from git runs its clone's `prepare` without devDependencies, and the clone's own
// install then takes the place of the package being installed).
import { build } from "esbuild";

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  outdir: "dist",
  legalComments: "none",
  logLevel: "warning",
};

// Every library inside, since the runner runs it from the checkout without node_modules, and
// a process that starts with one file loads faster than with hundreds of modules to resolve.
// ssh2's optional native helpers stay out (it works without them); the banner gives its
// bundled CommonJS the globals it expects.
const standalone = {
  ...common,
  external: ["cpu-features", "*.node"],
  banner: {
    js: "import { createRequire as __kvmciRequire } from 'node:module'; import { fileURLToPath as __kvmciPath } from 'node:url'; const require = __kvmciRequire(import.meta.url); const __filename = __kvmciPath(import.meta.url); const __dirname = __kvmciPath(new URL('.', import.meta.url));",
  },
};

await Promise.all([
  // The Action: one file per entry.
  build({
    ...standalone,
    entryPoints: ["src/action/entries/main.ts", "src/action/entries/post.ts"],
  }),
  // The CLI (bin/kvmci.js): one file too. Loading it is a third of a warm run's host time:
  // ~0.25 s bundled against ~0.33 s with its libraries beside it (Node 20, this machine).
  build({ ...standalone, entryPoints: { cli: "src/cli/main.ts" } }),
]);
