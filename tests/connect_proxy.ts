/**
 * A forward HTTP proxy on 127.0.0.1, as an operator's network would have one: CONNECT
 * tunnels (for https://) and absolute-URI requests (for http://), to loopback targets only
 * (127.0.0.1, localhost, *.localhost). It counts what it relayed, so that a test can tell
 * whether the CLI went through it.
 */
import { concatBytes } from "../lib/util/bytes.ts";
import { messageBytes, MessageReader } from "./http_faults.ts";

function encodeLatin1(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** The port of `host:port` when the host is a loopback name, else undefined (refused). */
function loopbackPort(authority: string): number | undefined {
  const match = /^(\[::1\]|127\.0\.0\.1|localhost|[a-z0-9-]+\.localhost):(\d+)$/i.exec(authority);
  return match ? Number(match[2]) : undefined;
}

/** A running forward proxy. */
export class ConnectProxy {
  /** CONNECT tunnels opened, as `host:port`. */
  readonly tunnels: string[] = [];
  /** Absolute-URI requests forwarded, as their request lines. */
  readonly forwarded: string[] = [];
  /** Requests refused (a non-loopback target, or missing credentials). */
  refused = 0;
  private readonly conns = new Set<Deno.Conn>();
  private readonly accepting: Promise<void>;

  private constructor(
    private readonly listener: Deno.Listener,
    private readonly authorization?: string,
  ) {
    this.accepting = this.acceptLoop();
  }

  /** Starts a proxy; with `credentials` ("user:password") it answers 407 without them. */
  static start(credentials?: string): ConnectProxy {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return new ConnectProxy(listener, credentials && `Basic ${btoa(credentials)}`);
  }

  /** The proxy's URL (for HTTPS_PROXY / HTTP_PROXY). */
  get url(): string {
    return `http://127.0.0.1:${(this.listener.addr as Deno.NetAddr).port}`;
  }

  private async acceptLoop(): Promise<void> {
    while (true) {
      let client: Deno.Conn;
      try {
        client = await this.listener.accept();
      } catch {
        return; // closed
      }
      this.conns.add(client);
      this.handle(client).catch(() => {}).finally(() => this.drop(client));
    }
  }

  private drop(conn: Deno.Conn | undefined): void {
    if (!conn) return;
    this.conns.delete(conn);
    try {
      conn.close();
    } catch { /* already closed */ }
  }

  private async handle(client: Deno.Conn): Promise<void> {
    const reader = new MessageReader(client);
    let upstream: Deno.Conn | undefined;
    let upstreamReader: MessageReader | undefined;
    let upstreamPort: number | undefined;
    try {
      while (true) {
        const head = await reader.readHead();
        if (!head) return;
        const [method, target] = head.firstLine.split(" ");
        const expects = /100-continue/i.test(head.headers.get("expect") ?? "");
        if (expects) await writeAll(client, encodeLatin1("HTTP/1.1 100 Continue\r\n\r\n"));
        const { body } = await reader.readBody(head.headers, false);
        if (this.authorization && head.headers.get("proxy-authorization") !== this.authorization) {
          this.refused++;
          await writeAll(
            client,
            encodeLatin1(
              "HTTP/1.1 407 Proxy Authentication Required\r\n" +
                'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n',
            ),
          );
          continue;
        }
        if (method === "CONNECT") {
          const port = loopbackPort(target);
          if (port === undefined) {
            this.refused++;
            await writeAll(
              client,
              encodeLatin1("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
            );
            return;
          }
          const server = await Deno.connect({ hostname: "127.0.0.1", port });
          this.conns.add(server);
          this.tunnels.push(target);
          await writeAll(client, encodeLatin1("HTTP/1.1 200 Connection established\r\n\r\n"));
          await Promise.all([
            client.readable.pipeTo(server.writable).catch(() => {}),
            server.readable.pipeTo(client.writable).catch(() => {}),
          ]);
          this.conns.delete(server);
          return;
        }
        const url = /^http:\/\/([^/]+)(\/.*)?$/.exec(target);
        const port = url ? loopbackPort(url[1].includes(":") ? url[1] : `${url[1]}:80`) : undefined;
        if (!url || port === undefined) {
          this.refused++;
          await writeAll(
            client,
            encodeLatin1("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
          );
          return;
        }
        if (upstreamPort !== port) {
          this.drop(upstream);
          upstream = await Deno.connect({ hostname: "127.0.0.1", port });
          this.conns.add(upstream);
          upstreamReader = new MessageReader(upstream);
          upstreamPort = port;
        }
        this.forwarded.push(head.firstLine);
        const lines = head.head.split("\r\n");
        lines[0] = `${method} ${url[2] ?? "/"} ${head.firstLine.split(" ")[2]}`;
        const forwardHead = lines.filter((l) => !/^(proxy-|expect:)/i.test(l)).join("\r\n");
        await writeAll(upstream!, messageBytes(forwardHead, body));
        let status: number;
        do {
          const answer = await upstreamReader!.readHead();
          if (!answer) return;
          status = Number(answer.firstLine.split(" ")[1]);
          const bodiless = method === "HEAD" || status < 200 || status === 204 || status === 304;
          const { body: answerBody } = bodiless
            ? { body: new Uint8Array(0) }
            : await upstreamReader!.readBody(answer.headers, true);
          await writeAll(client, concatBytes([encodeLatin1(answer.head), answerBody]));
        } while (status < 200);
      }
    } finally {
      this.drop(upstream);
    }
  }

  /** Stops accepting and closes every connection. */
  async close(): Promise<void> {
    this.listener.close();
    for (const conn of [...this.conns]) this.drop(conn);
    await this.accepting;
  }
}
