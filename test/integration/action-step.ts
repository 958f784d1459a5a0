import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { repoRoot, type Sandbox } from "./harness.js";

// The bundled Action (dist/) run the way the Actions runner runs it: inputs as INPUT_*
// variables, GITHUB_OUTPUT, GITHUB_STATE, GITHUB_STEP_SUMMARY and GITHUB_ENV as real files, the
// post step as a second process with the main step's state.

export interface StepResult {
  exitCode: number | undefined;
  log: string;
  outputs: Record<string, string>;
  state: Record<string, string>;
  summary: string;
}

let steps = 0;

/** Starts one step of the Action (main or post) in the sandbox, the workspace its root. */
export async function actionStep(
  sandbox: Sandbox,
  entry: "main" | "post",
  inputs: Record<string, string>,
  o: { state?: Record<string, string>; env?: NodeJS.ProcessEnv } = {},
) {
  const dir = join(sandbox.root, `step-${++steps}`);
  const files = {
    GITHUB_OUTPUT: join(dir, "output"),
    GITHUB_STATE: join(dir, "state"),
    GITHUB_STEP_SUMMARY: join(dir, "summary"),
    GITHUB_ENV: join(dir, "env"),
  };
  const env: NodeJS.ProcessEnv = {
    ...sandbox.env,
    ...files,
    GITHUB_WORKSPACE: sandbox.root,
    RUNNER_TEMP: join(sandbox.root, "runner-temp"),
    GITHUB_ACTIONS: "true",
    ...o.env,
    ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])),
    ...Object.fromEntries(Object.entries(o.state ?? {}).map(([k, v]) => [`STATE_${k}`, v])),
  };
  await mkdir(dir, { recursive: true });
  await mkdir(env.RUNNER_TEMP!, { recursive: true });
  for (const file of Object.values(files)) await writeFile(file, "");
  const child = execa("node", [join(repoRoot, "dist", `${entry}.js`)], {
    cwd: sandbox.root,
    env,
    extendEnv: false,
    reject: false,
    all: true,
    stdin: "ignore",
  });
  const result = child.then(async (r): Promise<StepResult> => ({
    exitCode: r.exitCode,
    log: r.all ?? "",
    outputs: parseCommandFile(await readFile(files.GITHUB_OUTPUT, "utf8")),
    state: parseCommandFile(await readFile(files.GITHUB_STATE, "utf8")),
    summary: await readFile(files.GITHUB_STEP_SUMMARY, "utf8"),
  }));
  return { child, result };
}

/** `name<<delimiter\nvalue\ndelimiter` records, as @actions/core writes them. */
export function parseCommandFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const pattern = /^(.+?)<<(\S+)\n([\s\S]*?)\n\2$/gm;
  for (const match of text.matchAll(pattern)) out[match[1]!] = match[3]!;
  return out;
}

/** Run folders and QEMU processes the Action left in the sandbox's runner temp. */
export async function actionLeftovers(
  sandbox: Sandbox,
): Promise<{ runFolders: string[]; qemu: string[] }> {
  const temp = join(sandbox.root, "runner-temp");
  const runFolders: string[] = [];
  for (const entry of await readdir(temp, { recursive: true }).catch(() => [] as string[]))
    if (entry.split("/").pop()!.startsWith("kvmci-run-")) runFolders.push(entry);
  const ps = await execa("ps", ["-eo", "pid,args"]);
  const qemu = ps.stdout.split("\n").filter((l) => l.includes("qemu-system") && l.includes(temp));
  return { runFolders, qemu };
}
