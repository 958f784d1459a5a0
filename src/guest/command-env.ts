import { guestCertificateBundle } from "../cloud-init/trust.js";

/**
 * The variables a CI system sets that say where a test runs (never a path on the host, never a
 * token): a suite in the guest sees it runs under CI, as it would on the runner itself.
 */
export const ciVariables = [
  "CI",
  "CONTINUOUS_INTEGRATION",
  "BUILD_NUMBER",
  "BUILD_ID",
  "GITHUB_ACTIONS",
  "GITHUB_SHA",
  "GITHUB_REF",
  "GITHUB_REF_NAME",
  "GITHUB_REF_TYPE",
  "GITHUB_BASE_REF",
  "GITHUB_HEAD_REF",
  "GITHUB_REPOSITORY",
  "GITHUB_REPOSITORY_OWNER",
  "GITHUB_RUN_ID",
  "GITHUB_RUN_NUMBER",
  "GITHUB_RUN_ATTEMPT",
  "GITHUB_JOB",
  "GITHUB_WORKFLOW",
  "GITHUB_EVENT_NAME",
  "GITHUB_ACTOR",
  "GITHUB_SERVER_URL",
  "GITHUB_API_URL",
  "RUNNER_OS",
  "RUNNER_ARCH",
  "GITLAB_CI",
  "CI_COMMIT_SHA",
  "CI_COMMIT_REF_NAME",
  "CI_PIPELINE_ID",
  "CI_JOB_ID",
  "CI_PROJECT_PATH",
  "CI_SERVER_URL",
  "BUILDKITE",
  "CIRCLECI",
  "TRAVIS",
  "TF_BUILD",
  "JENKINS_URL",
];

/** PATH in the guest: sbin folders too, as on a CI runner (ssh's default leaves them out). */
export const guestPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface CommandEnvOptions {
  hostEnv: NodeJS.ProcessEnv;
  /** LANG for the command (C.UTF-8 by default), or undefined to leave the guest's. */
  locale: string | undefined;
  /** Pass the CI system's variables when kvmci runs under one. */
  ciEnv: boolean;
  /** The host's extra certificates were carried in (see trustCloudConfig). */
  certificates: boolean;
  /** Proxy variables as the guest must see them. */
  proxy: Record<string, string>;
}

/**
 * What the command's environment holds before the user's own --env (which wins): a full PATH,
 * a UTF-8 locale, TERM, the CI system's variables, the host's proxy and extra certificates. Pure.
 */
export function baseCommandEnv(o: CommandEnvOptions): Record<string, string> {
  const env: Record<string, string> = { PATH: guestPath };
  if (o.locale) env.LANG = o.locale;
  env.TERM = o.hostEnv.TERM || "dumb";
  if (o.ciEnv) {
    for (const name of ciVariables) {
      const value = o.hostEnv[name];
      if (value !== undefined) env[name] = value;
    }
  }
  Object.assign(env, o.proxy);
  if (o.certificates) env.NODE_EXTRA_CA_CERTS = guestCertificateBundle;
  return env;
}
