import type { Readable } from "node:stream";
import type { Dispatcher } from "undici";

export interface HttpResponse {
  status: number;
  headers: Record<string, string | undefined>;
  body: Readable;
}

/** A GET request: the one thing kvmci asks of the network. Injected, so tests can count calls. */
export type HttpGet = (
  url: string,
  options: { headers?: Record<string, string>; signal?: AbortSignal },
) => Promise<HttpResponse>;

/**
 * GET over undici, through the proxy named in `HTTP_PROXY`/`HTTPS_PROXY` (and not for hosts in
 * `NO_PROXY`), following redirects (mirror networks redirect to a mirror). A connection that
 * sends nothing for a minute fails, so a stalled download is retried instead of hanging.
 */
export function createHttpGet(): HttpGet {
  // undici is loaded on the first request: most commands (a run with a cached image) make none.
  let client: Promise<{ request: typeof import("undici").request; dispatcher: Dispatcher }>;
  const load = async () => {
    const { EnvHttpProxyAgent, interceptors, request } = await import("undici");
    const dispatcher = new EnvHttpProxyAgent({
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
      // http:// through an http proxy as a plain forward request, as curl does; many proxies
      // allow CONNECT only to port 443. https:// still tunnels.
      proxyTunnel: false,
    }).compose(interceptors.redirect({ maxRedirections: 10 }));
    return { request, dispatcher };
  };
  return async (url, options) => {
    client ??= load();
    const { request, dispatcher } = await client;
    const response = await request(url, {
      method: "GET",
      dispatcher,
      headers: { "user-agent": "kvmci", ...options.headers },
      signal: options.signal,
    });
    const headers: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(response.headers))
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
    return { status: response.statusCode, headers, body: response.body };
  };
}
