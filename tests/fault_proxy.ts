/**
 * A TCP proxy on 127.0.0.1 between the CLI and the S3 server that can refuse connections,
 * reset a connection when a request matches, cut a response short, or stall; started with
 * `startHttp`, it reads HTTP/1.1 messages and makes responses lie (tests/http_faults.ts).
 */
import {
  dechunked,
  errorResponse,
  type HttpFault,
  type HttpMessage,
  messageBytes,
  MessageReader,
  withContentLength,
} from "./http_faults.ts";

export type { HttpFault };

/** How the proxy treats traffic right now. */
export interface FaultRules {
  /** Accept and close at once every new connection. */
  refuse?: boolean;
  /** Hold every byte (in both directions) while set. */
  stall?: boolean;
  /** Reset the connection when a request's bytes match (checked per chunk). */
  resetWhen?: RegExp;
  /** How many more requests resetWhen may reset (default: unlimited). */
  resetCount?: number;
  /** After a reset by resetWhen, behave like a server that went away: refuse and drop everything. */
  downAfterReset?: boolean;
  /** Hold a connection for good (until the proxy closes) once one of its requests matches. */
  stallWhen?: RegExp;
  /** Wait this long before forwarding each chunk (a slow link). */
  delayMs?: number;
  /** Cut the next `cutResponses` responses after this many bytes. */
  cutResponseAfter?: number;
  cutResponses?: number;
  /** HTTP-level lies (proxies started with `startHttp` only), the first matching one applies. */
  http?: HttpFault[];
  /** With `http`: lie at most once about each request path (retries then get the truth). */
  oncePerPath?: boolean;
}

/** A running proxy; `rules` may be changed at any time. */
export class FaultProxy {
  rules: FaultRules = {};
  /** Connections reset, cut or stalled by a rule. */
  faults = 0;
  /** Requests seen, by their first line. */
  requests: string[] = [];
  private readonly conns = new Set<Deno.Conn>();
  private readonly accepting: Promise<void>;
  /** For `swap`: the first body of a matching GET (of each length), and its request path. */
  private firstSwapSource?: { path: string; body: Uint8Array };
  private readonly swapSources = new Map<number, { path: string; body: Uint8Array }>();
  /** Request paths lied about. */
  private readonly spoiledPaths = new Set<string>();

  private constructor(
    private readonly listener: Deno.Listener,
    private readonly upstreamPort: number,
    private readonly httpLevel: boolean,
  ) {
    this.accepting = this.acceptLoop();
  }

  /** Starts a proxy in front of `upstream` (http://127.0.0.1:PORT). */
  static start(upstream: string): FaultProxy {
    return FaultProxy.listen(upstream, false);
  }

  /** Starts a proxy that reads HTTP messages and applies `rules.http` to responses. */
  static startHttp(upstream: string): FaultProxy {
    return FaultProxy.listen(upstream, true);
  }

  private static listen(upstream: string, httpLevel: boolean): FaultProxy {
    const port = Number(new URL(upstream).port);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return new FaultProxy(listener, port, httpLevel);
  }

  /** The endpoint to give the CLI. */
  get endpoint(): string {
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
      if (this.rules.refuse) {
        client.close();
        continue;
      }
      this.handle(client).catch(() => {});
    }
  }

  private async handle(client: Deno.Conn): Promise<void> {
    let server: Deno.Conn;
    try {
      server = await Deno.connect({ hostname: "127.0.0.1", port: this.upstreamPort });
    } catch {
      client.close();
      return;
    }
    this.conns.add(client);
    this.conns.add(server);
    let closed = false;
    const closeBoth = () => {
      if (closed) return;
      closed = true;
      for (const c of [client, server]) {
        this.conns.delete(c);
        try {
          c.close();
        } catch { /* already closed */ }
      }
    };
    if (this.httpLevel) {
      try {
        await this.relayMessages(client, server);
      } catch { /* a side went away */ }
      return closeBoth();
    }
    let responseBytes = 0;
    let cutting = false;
    let stalled = false;
    const pump = async (from: Deno.Conn, to: Deno.Conn, request: boolean) => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        while (true) {
          const n = await from.read(buffer);
          if (n === null) break;
          while ((this.rules.stall || stalled) && !closed) {
            await new Promise((r) => setTimeout(r, 20));
          }
          if (this.rules.delayMs) await new Promise((r) => setTimeout(r, this.rules.delayMs));
          let chunk = buffer.subarray(0, n);
          if (request) {
            const text = new TextDecoder("latin1").decode(chunk);
            const firstLine = /^(GET|PUT|HEAD|POST|DELETE) [^\r\n]*/.exec(text);
            if (firstLine) this.requests.push(firstLine[0]);
            if (this.rules.stallWhen?.test(text)) {
              this.faults++;
              stalled = true;
              while (!closed) await new Promise((r) => setTimeout(r, 20));
              break;
            }
            const rule = this.rules.resetWhen;
            if (rule && rule.test(text) && (this.rules.resetCount ?? Infinity) > 0) {
              if (this.rules.resetCount !== undefined) this.rules.resetCount--;
              this.faults++;
              if (this.rules.downAfterReset) this.down();
              break;
            }
            // a new request on this connection: a new response follows
            if (/^(GET|PUT|HEAD|POST|DELETE) /.test(text)) {
              responseBytes = 0;
              cutting = (this.rules.cutResponses ?? 0) > 0 &&
                this.rules.cutResponseAfter !== undefined;
              if (cutting) this.rules.cutResponses!--;
            }
          } else if (cutting) {
            const limit = this.rules.cutResponseAfter!;
            if (responseBytes + chunk.length > limit) {
              chunk = chunk.subarray(0, Math.max(0, limit - responseBytes));
              if (chunk.length) await to.write(chunk);
              this.faults++;
              break;
            }
            responseBytes += chunk.length;
          }
          let written = 0;
          while (written < chunk.length) written += await to.write(chunk.subarray(written));
        }
      } catch { /* a side went away */ }
      closeBoth();
    };
    await Promise.all([pump(client, server, true), pump(server, client, false)]);
  }

  /** Relays requests and responses one by one, telling the lies of `rules.http`. */
  private async relayMessages(client: Deno.Conn, server: Deno.Conn): Promise<void> {
    const fromClient = new MessageReader(client);
    const fromServer = new MessageReader(server);
    while (true) {
      const request = await fromClient.readHead();
      if (!request) return;
      const { body: requestBody } = await fromClient.readBody(request.headers, false);
      this.requests.push(request.firstLine);
      const path = request.firstLine.split(" ")[1];
      const fault = this.rules.oncePerPath && this.spoiledPaths.has(path)
        ? undefined
        : this.rules.http?.find((f) => f.when.test(request.firstLine) && (f.count ?? 1) > 0);
      // taken now (requests run in parallel), given back when it turns out not to apply
      if (fault?.count !== undefined) fault.count--;
      if (fault?.kind === "status") {
        this.spend(path);
        await writeAll(client, errorResponse(fault.status ?? 503, fault.code ?? "SlowDown"));
        continue;
      }
      await writeAll(server, messageBytes(request.head, requestBody));
      const method = request.firstLine.split(" ")[0];
      let response: HttpMessage & { status: number };
      do { // interim 1xx answers are passed on as they are
        const head = await fromServer.readHead();
        if (!head) return;
        const status = Number(head.firstLine.split(" ")[1]);
        const bodiless = method === "HEAD" || status < 200 || status === 204 || status === 304;
        const { body, chunked } = bodiless
          ? { body: new Uint8Array(0), chunked: false }
          : await fromServer.readBody(head.headers, true);
        response = { ...head, status, body, chunked };
        if (status < 200) await writeAll(client, messageBytes(response.head, body));
      } while (response.status < 200);
      const spoiled = fault && response.status === 200 && method === "GET"
        ? this.spoil(fault, path, dechunked(response))
        : undefined;
      if (fault && !spoiled && fault.count !== undefined) fault.count++;
      await writeAll(client, spoiled?.bytes ?? messageBytes(response.head, response.body));
      if (spoiled?.close) return;
    }
  }

  /** The bytes a fault sends instead of `response`, or undefined when it does not apply. */
  private spoil(
    fault: HttpFault,
    path: string,
    response: HttpMessage,
  ): { bytes: Uint8Array; close: boolean } | undefined {
    const { head, body } = response;
    switch (fault.kind) {
      case "truncate":
        this.spend(path);
        return { bytes: messageBytes(head, body.subarray(0, body.length >> 1)), close: true };
      case "lengthShort":
        if (body.length <= 100) return undefined;
        this.spend(path);
        return {
          bytes: messageBytes(withContentLength(head, body.length - 100), body),
          close: false,
        };
      case "lengthLong":
        this.spend(path);
        return {
          bytes: messageBytes(withContentLength(head, body.length + 100), body),
          close: true,
        };
      case "swap": {
        // the first body of each length is the source for later ones of another object
        const source = fault.sameLength ? this.swapSources.get(body.length) : this.firstSwapSource;
        if (!source || source.path === path) {
          if (!this.swapSources.has(body.length)) this.swapSources.set(body.length, { path, body });
          this.firstSwapSource ??= { path, body };
          return undefined;
        }
        this.spend(path);
        const bytes = messageBytes(withContentLength(head, source.body.length), source.body);
        return { bytes, close: false };
      }
    }
    return undefined;
  }

  private spend(path: string): void {
    this.faults++;
    this.spoiledPaths.add(path);
  }

  /** Refuses new connections and drops the open ones, like a server that went away. */
  down(): void {
    this.rules.refuse = true;
    for (const c of this.conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    this.conns.clear();
  }

  /** Stops accepting and closes every connection. */
  async close(): Promise<void> {
    this.listener.close();
    for (const c of this.conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    this.conns.clear();
    await this.accepting;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}
