/**
 * A TCP proxy on 127.0.0.1 between the CLI and the S3 server that can refuse connections,
 * reset a connection when a request matches, cut a response short, or stall.
 */

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

  private constructor(
    private readonly listener: Deno.Listener,
    private readonly upstreamPort: number,
  ) {
    this.accepting = this.acceptLoop();
  }

  /** Starts a proxy in front of `upstream` (http://127.0.0.1:PORT). */
  static start(upstream: string): FaultProxy {
    const port = Number(new URL(upstream).port);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return new FaultProxy(listener, port);
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
