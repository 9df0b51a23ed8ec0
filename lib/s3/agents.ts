/**
 * The node:http and node:https agents the S3 client connects through: TLS checked against
 * the CAs of lib/s3/trust.ts, requests sent through the proxy of lib/s3/proxy.ts (a CONNECT
 * tunnel for https, an absolute-URI request for http), and names under `.localhost` sent to
 * 127.0.0.1 without asking DNS (RFC 6761, as curl does).
 */
import http from "node:http";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import type { Duplex } from "node:stream";
import { type Proxy, proxyFor, type ProxySettings } from "./proxy.ts";

/** A proxy that could not be reached or refused the tunnel. */
export class ProxyError extends Error {
  constructor(message: string, readonly transient: boolean) {
    super(message);
    this.name = "ProxyError";
  }
}

/** How the agents connect. */
export interface AgentSettings {
  /** PEM CAs that https:// servers must chain to (replacing Deno's own roots). */
  ca?: string[];
  proxies?: ProxySettings;
  keepAlive?: boolean;
  maxSockets?: number;
}

/** True for `localhost` and names under `.localhost`. */
export function isLocalhostName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, "");
  return name === "localhost" || name.endsWith(".localhost");
}

/** The address to dial for `host`: 127.0.0.1 for localhost names, else the name itself. */
function dialHost(host: string): string {
  return isLocalhostName(host) ? "127.0.0.1" : host;
}

type ConnectOptions = {
  host?: string;
  hostname?: string;
  port?: number | string;
  servername?: string;
  [key: string]: unknown;
};
type Callback = (err: Error | null, socket?: Duplex) => void;

function targetOf(options: ConnectOptions, defaultPort: number): { host: string; port: number } {
  const host = String(options.host ?? options.hostname ?? "localhost").replace(/^\[|\]$/g, "");
  return { host, port: Number(options.port ?? defaultPort) };
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Opens a CONNECT tunnel to `host`:`port` through `proxy`; resolves with the raw socket. */
export function openTunnel(
  proxy: Proxy,
  host: string,
  port: number,
  timeoutMs = 10_000,
): Promise<net.Socket> {
  const where = `the proxy ${proxy.display} (${proxy.variable})`;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: dialHost(proxy.host), port: proxy.port });
    const timer = setTimeout(() => {
      fail(new ProxyError(`${where} did not answer CONNECT within ${timeoutMs / 1000} s`, true));
    }, timeoutMs);
    let received = "";
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const onError = (err: Error) => {
      const code = (err as { code?: string }).code;
      fail(new ProxyError(`cannot reach ${where}: ${code ?? err.message}`, true));
    };
    const onClose = () =>
      fail(new ProxyError(`${where} closed the connection before answering CONNECT`, true));
    const onData = (piece: Uint8Array) => {
      received += new TextDecoder("latin1").decode(piece);
      const end = received.indexOf("\r\n\r\n");
      if (end < 0) {
        if (received.length > 65536) fail(new ProxyError(`${where} sent an endless answer`, false));
        return;
      }
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("close", onClose);
      const status = /^HTTP\/1\.[01] (\d{3})([^\r\n]*)/.exec(received);
      if (!status || status[1] !== "200") {
        const line = received.slice(0, received.indexOf("\r\n"));
        const hint = status?.[1] === "407"
          ? `: it asks for credentials (put them in ${proxy.variable} as http://user:password@host:port)`
          : "";
        return fail(
          new ProxyError(
            `${where} refused the tunnel to ${hostPort(host, port)} (${line})${hint}`,
            status !== null && status[1].startsWith("5"),
          ),
        );
      }
      if (received.length > end + 4) {
        return fail(new ProxyError(`${where} sent data before the TLS handshake`, false));
      }
      clearTimeout(timer);
      socket.pause();
      resolve(socket);
    };
    socket.once("connect", () => {
      const headers = [
        `CONNECT ${hostPort(host, port)} HTTP/1.1`,
        `Host: ${hostPort(host, port)}`,
        ...(proxy.authorization ? [`Proxy-Authorization: ${proxy.authorization}`] : []),
      ];
      socket.write(headers.join("\r\n") + "\r\n\r\n");
    });
    socket.on("data", onData);
    socket.once("error", onError);
    socket.once("close", onClose);
  });
}

/** https:// through a CONNECT tunnel when a proxy applies; the CAs of the run. */
class SpareHttpsAgent extends https.Agent {
  constructor(options: https.AgentOptions, private readonly proxies?: ProxySettings) {
    super(options);
  }

  // @ts-ignore: node's createConnection takes a callback for sockets made asynchronously
  override createConnection(options: ConnectOptions, callback: Callback): Duplex {
    const { host, port } = targetOf(options, 443);
    const servername = options.servername || (net.isIP(host) ? undefined : host);
    const proxy = this.proxies &&
      proxyFor(this.proxies, new URL(`https://${hostPort(host, port)}`));
    if (!proxy) {
      // @ts-ignore: the options object form
      return super.createConnection({ ...options, host: dialHost(host), servername });
    }
    openTunnel(proxy, host, port).then((socket) => {
      const secure = tls.connect({ ...options, socket, servername } as tls.ConnectionOptions);
      const onError = (err: Error) => callback(err);
      secure.once("error", onError);
      secure.once("secureConnect", () => {
        secure.off("error", onError);
        callback(null, secure);
      });
    }, (err) => callback(err));
    // No socket yet: node's agent waits for the callback.
    return undefined as unknown as Duplex;
  }
}

/** http:// as absolute-URI requests to the proxy when one applies. */
class SpareHttpAgent extends http.Agent {
  constructor(options: http.AgentOptions, private readonly proxies?: ProxySettings) {
    super(options);
  }

  // @ts-ignore: addRequest is node's internal hook, called before the request's head is sent
  override addRequest(request: http.ClientRequest, options: ConnectOptions): void {
    const { host, port } = targetOf(options, 80);
    const proxy = this.proxies && proxyFor(this.proxies, new URL(`http://${hostPort(host, port)}`));
    if (proxy) {
      request.path = `http://${hostPort(host, port)}${request.path}`;
      if (proxy.authorization) request.setHeader("Proxy-Authorization", proxy.authorization);
      options = { ...options, host: proxy.host, port: proxy.port, viaProxy: proxy.display };
    }
    // @ts-ignore: see above
    super.addRequest(request, options);
  }

  // @ts-ignore: the options object form
  override createConnection(options: ConnectOptions, callback: Callback): Duplex {
    const { host } = targetOf(options, 80);
    // @ts-ignore: the options object form
    return super.createConnection({ ...options, host: dialHost(host) }, callback);
  }
}

/** The agents of one S3 client. */
export function makeAgents(settings: AgentSettings): { http: http.Agent; https: https.Agent } {
  const base = { keepAlive: settings.keepAlive ?? true, maxSockets: settings.maxSockets ?? 32 };
  return {
    http: new SpareHttpAgent(base, settings.proxies),
    https: new SpareHttpsAgent(
      settings.ca ? { ...base, ca: settings.ca } : base,
      settings.proxies,
    ),
  };
}
