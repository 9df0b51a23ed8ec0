/**
 * HTTP proxies from the environment, as curl and restic read them: HTTPS_PROXY for https://
 * endpoints, HTTP_PROXY for http:// ones (lowercase names first, as curl), NO_PROXY for the
 * hosts reached directly. Only the choice is made here; lib/s3/agents.ts connects.
 */
import { UsageError } from "../util/mod.ts";

/** The environment variables read for proxies. */
export const PROXY_ENV = [
  "https_proxy",
  "HTTPS_PROXY",
  "http_proxy",
  "HTTP_PROXY",
  "no_proxy",
  "NO_PROXY",
];

/** A proxy to send requests through. */
export interface Proxy {
  /** The proxy's host name or address (IPv6 without brackets). */
  host: string;
  port: number;
  /** `Basic …` when the proxy URL carries a user name. */
  authorization?: string;
  /** The variable it came from, for messages. */
  variable: string;
  /** The proxy URL without its password, for messages. */
  display: string;
}

/** The proxy settings of a run: one proxy per scheme, and the hosts that bypass them. */
export interface ProxySettings {
  https?: Proxy;
  http?: Proxy;
  noProxy: string[];
}

function firstSet(
  env: (name: string) => string | undefined,
  names: string[],
): [string, string] | undefined {
  for (const name of names) {
    const value = env(name);
    if (value !== undefined) return [name, value];
  }
  return undefined;
}

/** Parses a proxy variable's value: `[http://][user:password@]host[:port]`. */
export function parseProxy(variable: string, value: string): Proxy {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`${variable} is not a proxy URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== "http:") {
    throw new UsageError(
      `${variable}: only http:// proxies are supported (CONNECT for https), got ${url.protocol}//`,
    );
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = url.port ? Number(url.port) : 80;
  const proxy: Proxy = { host, port, variable, display: `http://${url.host}` };
  if (url.username) {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    proxy.authorization = `Basic ${btoa(`${user}:${password}`)}`;
  }
  return proxy;
}

/** Reads the proxy variables (empty values count as unset). */
export function proxySettings(env: (name: string) => string | undefined): ProxySettings {
  const get = (name: string) => {
    const value = env(name)?.trim();
    return value ? value : undefined;
  };
  const https = firstSet(get, ["https_proxy", "HTTPS_PROXY"]);
  const http = firstSet(get, ["http_proxy", "HTTP_PROXY"]);
  const noProxy = firstSet(get, ["no_proxy", "NO_PROXY"]);
  return {
    https: https && parseProxy(...https),
    http: http && parseProxy(...http),
    noProxy: noProxy
      ? noProxy[1].split(/[\s,]+/).map((e) => e.trim().toLowerCase()).filter((e) => e)
      : [],
  };
}

function ipv4Number(address: string): number | undefined {
  const parts = address.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) < 256)) {
    return undefined;
  }
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

/** True when an IPv4 `address` is within `cidr` (a.b.c.d/n). */
function inCidr(address: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split("/");
  const a = ipv4Number(address);
  const b = ipv4Number(base);
  const bits = Number(bitsText);
  if (a === undefined || b === undefined || !/^\d+$/.test(bitsText) || bits > 32) return false;
  if (bits === 0) return true;
  const shift = 32 - bits;
  return Math.floor(a / 2 ** shift) === Math.floor(b / 2 ** shift);
}

/**
 * True when NO_PROXY lets `host`:`port` be reached directly: `*` matches every host; `name`,
 * `.name` and `*.name` match that host and every host under it; an IP address matches
 * itself, `a.b.c.d/n` an IPv4 range; an entry with `:port` matches that port only.
 */
export function bypassesProxy(noProxy: string[], host: string, port: number): boolean {
  const name = host.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
  for (const raw of noProxy) {
    if (raw === "*") return true;
    let entry = raw;
    const portMatch = /^(.*[^:]):(\d+)$/.exec(entry);
    if (portMatch && !entry.startsWith("[") && entry.split(":").length === 2) {
      if (Number(portMatch[2]) !== port) continue;
      entry = portMatch[1];
    } else if (/^\[.*\]:\d+$/.test(entry)) {
      const close = entry.lastIndexOf("]");
      if (Number(entry.slice(close + 2)) !== port) continue;
      entry = entry.slice(1, close);
    }
    entry = entry.replace(/^\[|\]$/g, "").replace(/\.$/, "");
    if (entry.includes("/")) {
      if (inCidr(name, entry)) return true;
      continue;
    }
    const suffix = entry.replace(/^\*?\./, "");
    if (suffix === "") continue;
    if (name === suffix || name.endsWith(`.${suffix}`)) return true;
  }
  return false;
}

/** The proxy for a request to `url`, or undefined for a direct connection. */
export function proxyFor(settings: ProxySettings, url: URL): Proxy | undefined {
  const proxy = url.protocol === "https:" ? settings.https : settings.http;
  if (!proxy) return undefined;
  const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
  return bypassesProxy(settings.noProxy, url.hostname, port) ? undefined : proxy;
}
