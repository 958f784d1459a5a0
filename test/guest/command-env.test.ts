import { describe, expect, it } from "vitest";
import { baseCommandEnv } from "../../src/guest/command-env.js";

const runner = {
  CI: "true",
  GITHUB_ACTIONS: "true",
  GITHUB_SHA: "abc123",
  GITHUB_REF: "refs/heads/main",
  GITHUB_TOKEN: "ghs_secret",
  GITHUB_WORKSPACE: "/home/runner/work/x/x",
  GITHUB_OUTPUT: "/home/runner/work/_temp/out",
  RUNNER_TEMP: "/home/runner/work/_temp",
  ACTIONS_RUNTIME_TOKEN: "secret",
  TERM: "xterm-256color",
};

describe("the command's environment", () => {
  it("has a full PATH, a UTF-8 locale, the host's TERM and the CI's variables, no paths or tokens", () => {
    const env = baseCommandEnv({
      hostEnv: runner,
      locale: "C.UTF-8",
      ciEnv: true,
      certificates: false,
      proxy: {},
    });
    expect(env).toEqual({
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      LANG: "C.UTF-8",
      TERM: "xterm-256color",
      CI: "true",
      GITHUB_ACTIONS: "true",
      GITHUB_SHA: "abc123",
      GITHUB_REF: "refs/heads/main",
    });
  });

  it("turns each part off, and adds the proxy and the certificates when carried", () => {
    const env = baseCommandEnv({
      hostEnv: runner,
      locale: undefined,
      ciEnv: false,
      certificates: true,
      proxy: { HTTPS_PROXY: "http://10.0.2.2:3128", https_proxy: "http://10.0.2.2:3128" },
    });
    expect(env).toEqual({
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      TERM: "xterm-256color",
      HTTPS_PROXY: "http://10.0.2.2:3128",
      https_proxy: "http://10.0.2.2:3128",
      NODE_EXTRA_CA_CERTS: "/etc/kvmci/host-ca.pem",
    });
    expect(
      baseCommandEnv({
        hostEnv: {},
        locale: undefined,
        ciEnv: true,
        certificates: false,
        proxy: {},
      }).TERM,
    ).toBe("dumb");
  });
});
