import { randomUUID } from "node:crypto";
import { access, cp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createFixtureProject, sandboxPerTest, type Sandbox } from "./harness.js";

// Several guests on one private network (guests: in kvmci.yml), against real guests. All the
// tests use two guests of 1 GiB in the same places, so that after the first run each guest
// restores the same warm snapshot.

const sandboxOf = sandboxPerTest();

interface Report {
  exitCode: number;
  guests: { name: string; verdict: string; exitCode: number; snapshot?: { use: string } }[];
}

/** The fixture project (made once per sandbox) with a kvmci.yml, as `name` in the sandbox. */
async function topology(sandbox: Sandbox, yaml: string, name = "project"): Promise<string> {
  const fixture = join(sandbox.root, "project");
  if (
    !(await access(fixture).then(
      () => true,
      () => false,
    ))
  )
    await createFixtureProject(sandbox);
  const dir = join(sandbox.root, name);
  if (dir !== fixture) await cp(fixture, dir, { recursive: true });
  await writeFile(join(dir, "kvmci.yml"), yaml);
  return dir;
}

async function run(sandbox: Sandbox, dir: string, extra: string[] = []) {
  const json = join(dir, "report.json");
  const result = await sandbox.start(["run", "--json", json, ...extra], dir);
  const report = JSON.parse(await readFile(json, "utf8").catch(() => "{}")) as Report;
  return { result, report };
}

const example = (token: string) => `memory: 1G
guests:
  db:
    image: debian-12
    memory: 1G
    service: python3 -m http.server 8080 # started in the background before any command
    ready: tcp:8080 # the run waits for this before running commands
  app:
    run: |
      python3 -c "import urllib.request as u; print(u.urlopen('http://db:8080/').status)"
      python3 -c "import urllib.request as u; print(u.urlopen('http://db:8080/token.txt').read().decode())"
      if getent hosts stranger; then echo "stranger resolves"; exit 9; fi
      echo "stranger is not part of this run"
      test "$(cat token.txt)" = ${token}
`;

describe("guests: on one private network", () => {
  it("the client reaches the server by name, and nothing else; warm the second time", async () => {
    const sandbox = sandboxOf();
    const token = randomUUID();
    const dir = await topology(sandbox, example(token));
    await writeFile(join(dir, "token.txt"), token);
    const first = await run(sandbox, dir);
    expect(first.result.exitCode, first.result.all).toBe(0);
    expect(first.result.stdout).toMatch(/^\[app\] 200$/m);
    expect(first.result.stdout).toMatch(new RegExp(`^\\[app\\] ${token}$`, "m"));
    expect(first.result.stdout).toMatch(/^\[app\] stranger is not part of this run$/m);
    // The server's log is there too, under its name.
    expect(first.result.all).toMatch(/\[db\] .*"GET \/token.txt HTTP\/1.1" 200/);
    expect(first.report.guests.map((g) => [g.name, g.verdict])).toEqual([
      ["db", "served"],
      ["app", "passed"],
    ]);
    const second = await run(sandbox, dir);
    expect(second.result.exitCode, second.result.all).toBe(0);
    for (const guest of second.report.guests)
      expect(guest.snapshot?.use, guest.name).toBe("restored");
    expect(second.result.stdout).toMatch(/^\[app\] 200$/m);
  });

  it("two runs at the same time each see only their own guests", async () => {
    const sandbox = sandboxOf();
    const tokens = [randomUUID(), randomUUID()];
    const dirs: string[] = [];
    for (const [i, token] of tokens.entries()) {
      const dir = await topology(sandbox, example(token), `run-${i}`);
      await writeFile(join(dir, "token.txt"), token);
      dirs.push(dir);
    }
    // --parallel 4: both topologies on the host at once, not one after the other.
    const results = await Promise.all(dirs.map((dir) => run(sandbox, dir, ["--parallel", "4"])));
    results.forEach(({ result }, i) => {
      expect(result.exitCode, result.all).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^\\[app\\] ${tokens[i]}$`, "m"));
      expect(result.stdout).not.toContain(tokens[1 - i]);
    });
  });

  it("a ready: probe that never succeeds fails the run, naming the guest and the probe", async () => {
    const sandbox = sandboxOf();
    const dir = await topology(
      sandbox,
      `memory: 1G
ready-timeout: 10s
guests:
  db:
    service: sleep 600
    ready: tcp:9999
  app:
    run: echo never runs
`,
    );
    const { result, report } = await run(sandbox, dir);
    expect(result.exitCode, result.all).toBe(77);
    expect(result.all).toContain(
      "db was not ready: its probe tcp:9999 did not succeed within --ready-timeout 10.0s",
    );
    expect(result.stdout).not.toContain("never runs");
    expect(report.guests.map((g) => [g.name, g.verdict])).toEqual([
      ["db", "error"],
      ["app", "stopped (another guest failed)"],
    ]);
  });

  it("a failing run: in one guest fails the run with 77, and the table says which", async () => {
    const sandbox = sandboxOf();
    const dir = await topology(
      sandbox,
      `memory: 1G
guests:
  db:
    run: echo db is fine
  app:
    run: echo app fails; exit 3
`,
    );
    const { result, report } = await run(sandbox, dir);
    expect(result.exitCode, result.all).toBe(77);
    expect(result.stderr).toMatch(/^db\s+debian-12\s+\S+\s+passed\s+0/m);
    expect(result.stderr).toMatch(/^app\s+debian-12\s+\S+\s+failed\s+3/m);
    expect(report.guests.map((g) => [g.name, g.verdict, g.exitCode])).toEqual([
      ["db", "passed", 0],
      ["app", "failed", 3],
    ]);
  });
});
