// Keeps imports pointing down (DESIGN.md, "Layers"): a folder imports from its own layer or a
// layer below it, never from one above. Run by `npm run lint`.
//
// Where these layers differ from the drawing in DESIGN.md, and why:
// - report/ sits just below the entry points (DESIGN.md lists it last, beside units/, but it
//   cannot sit that low). It renders what the orchestrator produces: run's events and results,
//   the guest's command, download progress. So it must be above run/, guest/ and image/, and
//   since only cli/ and action/ choose and drive a reporter, nothing below them may import it.
//   It needs nothing from config/ (the RunConfig it writes out is run/'s type) and config/
//   nothing from it; above config/ rather than below, so that config/ can never print.
// - run/ defines the RunConfig it consumes (run/run-config.ts) and guest/ the Provision it
//   hashes; config/ produces both. The consumer owning its input keeps config/ above run/.
// - doctor/ shares the housekeeping layer: like gc it looks over the host tools and the cache
//   from above and is used only by the CLI.
// - host/ (process runner, process identity, ports, sockets) sits beneath cache/, not beside
//   the other host tools: cache locks and in-use records name their owner by process identity.
//   Moving that into cache/ would be worse: run folders and host slots use it too.
// - src/errors.ts, the one error family, is a layer of its own just above units/: every layer
//   throws KvmciError, host/ included.
// - Folders within one layer may import each other (snapshot/ reads image/ entries, sync/
//   quotes with ssh/, action/ shares cli/'s signal handling); no-circular keeps that honest.

/** Top to bottom. A path is a folder under src/ or a file directly in it. */
const layers = [
  { name: "entry-points", paths: ["cli/", "action/"] },
  { name: "reporting", paths: ["report/"] },
  { name: "configuration", paths: ["config/"] },
  { name: "orchestration", paths: ["run/"] },
  { name: "guest-lifecycle", paths: ["guest/"] },
  { name: "housekeeping", paths: ["housekeeping/", "doctor/"] },
  {
    name: "host-tools",
    paths: ["image/", "snapshot/", "disk/", "cloud-init/", "qemu/", "ssh/", "sync/", "net/"],
  },
  { name: "cache", paths: ["cache/"] },
  { name: "host", paths: ["host/"] },
  { name: "errors", paths: ["errors.ts"] },
  { name: "units", paths: ["units/"] },
];

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const pattern = (paths) =>
  `^src/(${paths.map((p) => (p.endsWith("/") ? escape(p) : `${escape(p)}$`)).join("|")})`;
const allLayers = pattern(layers.flatMap((layer) => layer.paths));

// One rule per layer and layer above it, so that a failure names both.
const upward = layers.flatMap((layer, i) =>
  layers.slice(0, i).map((above) => ({
    name: `${layer.name}-not-to-${above.name}`,
    comment:
      `${layer.paths.join(", ")} (${layer.name}) sit below ${above.paths.join(", ")} ` +
      `(${above.name}): imports point downward only. Move what both need down (pure helpers ` +
      "to units/), or let the lower layer declare the small interface it needs and the " +
      "upper one pass it in. See DESIGN.md (Layers) and .dependency-cruiser.mjs.",
    severity: "error",
    from: { path: pattern(layer.paths) },
    to: { path: pattern(above.paths) },
  })),
);

/** @type {import("dependency-cruiser").IConfiguration} */
export default {
  forbidden: [
    {
      name: "no-circular",
      comment:
        "Part of an import cycle (type-only imports count). Put what both sides share in a " +
        "file of its own, or let the lower side declare the small interface it needs.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    ...upward,
    {
      name: "not-in-a-layer",
      comment:
        "Every folder of src/ belongs to one layer: add this one to .dependency-cruiser.mjs.",
      severity: "error",
      from: { path: "^src/", pathNot: allLayers },
      to: {},
    },
    {
      name: "to-a-folder-in-no-layer",
      comment:
        "Every folder of src/ belongs to one layer: add this one to .dependency-cruiser.mjs.",
      severity: "error",
      from: {},
      to: { path: "^src/", pathNot: allLayers },
    },
    {
      name: "units-do-no-io",
      comment:
        "units/ holds pure helpers (durations, sizes, problem lists, text): no Node.js " +
        "modules, so no files, processes, network or clock.",
      severity: "error",
      from: { path: pattern(["units/"]) },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "actions-core-in-action-only",
      comment:
        "Only src/action and the GitHub reporter talk to @actions/core (DESIGN.md); the rest " +
        "emits events and throws KvmciError.",
      severity: "error",
      from: { pathNot: "^src/action/|^src/report/github\\.ts$" },
      to: { path: "node_modules/@actions/core/" },
    },
    {
      name: "cli-never-loads-the-action",
      comment:
        "The CLI is installed from npm with `dependencies` only; @actions/* are devDependencies, " +
        "bundled into dist/ for the Action. Nothing the CLI imports, directly or not, may lead " +
        "to src/action, the GitHub reporter or @actions/*.",
      severity: "error",
      from: { path: "^src/cli/" },
      to: {
        path: "^src/action/|^src/report/github\\.ts$|node_modules/@actions/",
        reachable: true,
      },
    },
    {
      name: "runtime-imports-are-dependencies",
      comment:
        "Code the CLI runs may import only packages in `dependencies`: `npm install -g kvmci` " +
        "installs no devDependencies. (src/action and the GitHub reporter are bundled into " +
        "dist/ and may use devDependencies; type-only imports vanish at build time.)",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/action/|^src/report/github\\.ts$" },
      to: {
        dependencyTypes: ["npm-dev", "npm-optional", "npm-peer", "npm-no-pkg", "npm-unknown"],
        dependencyTypesNot: ["type-only"],
      },
    },
    {
      name: "not-to-unresolvable",
      comment: "An import that does not resolve would escape the rules above.",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // Type-only imports are dependencies too: a type cycle is still a cycle.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
