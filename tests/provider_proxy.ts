/**
 * A provider-personality proxy: an HTTP/1.1 proxy on 127.0.0.1 in front of the test S3
 * server that answers the way some provider does (one quirk per personality, chosen when the
 * proxy starts), so that the CLI can be tested against each quirk through the real server.
 *
 * API (for tests):
 * - `ProviderProxy.start(personality, options?)`: starts a proxy in front of the test server
 *   (`options.upstream`, default SPARE_TEST_ENDPOINT), re-signing with `options.credentials`
 *   (default the test server's keys). `options.tls` ({ cert, key } PEM text) makes it listen
 *   with TLS; `options.hostname` (default 127.0.0.1) is the address it listens on.
 * - `proxy.endpoint`: the URL to give the CLI (http:// or https://).
 * - `proxy.requests`: every request seen (method, target, lowercased headers), in order;
 *   `proxy.refused`: how many the personality answered itself.
 * - `proxy.close()`: stops it.
 * - `PERSONALITIES`: the personalities by name; `PersonalityName`: their names.
 * - `resign(request, credentials)`: signs a (changed) request again with AWS SigV4, reusing
 *   the scope and date of its Authorization header and signing the headers it still has.
 * - `s3ErrorResponse(status, code, message)`: a complete S3 XML error response.
 *
 * Adding a personality: one entry in PERSONALITIES whose `request` hook returns
 * `{ respond: bytes }` (answer without asking the server), `{ forward: request }` (send this,
 * possibly changed, request instead; call `resign` after changing signed headers) or
 * undefined (pass the request on unchanged). The hook sees the whole request, body included.
 * `Expect: 100-continue` is answered by the proxy itself and not passed on.
 */
import { createHash, createHmac } from "node:crypto";
import { concatBytes } from "../lib/util/bytes.ts";
import { messageBytes, MessageReader } from "./http_faults.ts";
import { testS3Env } from "./s3_env.ts";

/** One request as the proxy received it; `headers` has lowercase names and no duplicates. */
export interface ProxiedRequest {
  method: string;
  /** The request target: path and query as sent ("/bucket/key?x-id=PutObject"). */
  target: string;
  headers: Map<string, string>;
  /** The body as sent on the wire (a chunked body stays encoded). */
  body: Uint8Array;
}

/** The keys the proxy signs with (those of the test server). */
export interface Credentials {
  accessKey: string;
  secretKey: string;
}

/** What a personality does with a request. */
export type Verdict = { respond: Uint8Array } | { forward: ProxiedRequest } | undefined;

/** What a personality may use besides the request. */
export interface PersonalityContext {
  credentials: Credentials;
}

/** One provider quirk. */
export interface Personality {
  /** What it imitates, in a few words (for test names and messages). */
  description: string;
  /** Decides each request's fate; undefined passes it on unchanged. */
  request?(request: ProxiedRequest, context: PersonalityContext): Verdict;
}

/** True for a DeleteObjects request (POST /bucket?delete). */
export function isDeleteObjects(request: ProxiedRequest): boolean {
  return request.method === "POST" && /[?&]delete(=|&|$)/.test(request.target);
}

/** True for a PUT of an object that carries If-None-Match. */
function isConditionalPut(request: ProxiedRequest): boolean {
  return request.method === "PUT" && request.headers.has("if-none-match");
}

/** Names of the flexible-checksum headers a request carries (x-amz-checksum-*, and kin). */
export function checksumHeaders(request: Pick<ProxiedRequest, "headers">): string[] {
  const names = [...request.headers.keys()].filter((name) =>
    name.startsWith("x-amz-checksum-") || name === "x-amz-sdk-checksum-algorithm"
  );
  if (/x-amz-checksum-/i.test(request.headers.get("x-amz-trailer") ?? "")) {
    names.push("x-amz-trailer");
  }
  return names;
}

/** The region of the wrong-region personality's buckets. */
export const PROVIDER_REGION = "eu-west-3";

/** The personalities, by name. */
export const PERSONALITIES = {
  /** No quirk: passes everything on (records the requests). */
  plain: { description: "the server as it is" },
  /** Backblaze B2's answer to `If-None-Match: *`. */
  "conditional-put-refused": {
    description: "conditional PUT refused with 501 NotImplemented",
    request: (request) =>
      isConditionalPut(request)
        ? {
          respond: s3ErrorResponse(
            501,
            "NotImplemented",
            "A header you provided implies functionality that is not implemented",
          ),
        }
        : undefined,
  },
  /** GCS's XML API, Garage, SeaweedFS up to 3.96: the header is dropped, the PUT overwrites. */
  "conditional-put-ignored": {
    description: "conditional PUT ignored (the object is overwritten)",
    request: (request, { credentials }) => {
      if (!isConditionalPut(request)) return undefined;
      const headers = new Map(request.headers);
      headers.delete("if-none-match");
      return { forward: resign({ ...request, headers }, credentials) };
    },
  },
  /** Servers that know no flexible checksums. */
  "checksum-refused": {
    description: "x-amz-checksum-* headers refused with 501",
    request: (request) => {
      const names = checksumHeaders(request);
      return names.length
        ? {
          respond: s3ErrorResponse(501, "NotImplemented", `header ${names[0]} is not implemented`),
        }
        : undefined;
    },
  },
  /** MinIO of 2023 to early 2025 with a current SDK. */
  "delete-needs-md5": {
    description: "DeleteObjects without Content-MD5 refused with 400 MissingContentMD5",
    request: (request) =>
      isDeleteObjects(request) && !request.headers.has("content-md5")
        ? {
          respond: s3ErrorResponse(
            400,
            "MissingContentMD5",
            "Missing required header for this request: Content-Md5.",
          ),
        }
        : undefined,
  },
  /** Servers without the batch delete. */
  "delete-objects-refused": {
    description: "DeleteObjects refused with 501 NotImplemented",
    request: (request) =>
      isDeleteObjects(request)
        ? {
          respond: s3ErrorResponse(501, "NotImplemented", "DeleteObjects is not implemented"),
        }
        : undefined,
  },
  /** HTTPS with a CA of the test (start it with `options.tls`, e.g. from tests/tls.ts). */
  https: {
    description: "HTTPS with a certificate of the test's own CA",
    request: (request, { credentials }) => atServerAddress(request, credentials),
  },
  /** AWS's answer to a request signed for another region than the bucket's. */
  "wrong-region": {
    description: `requests signed for another region than ${PROVIDER_REGION} refused as AWS does`,
    request: (request) => {
      const authorization = request.headers.get("authorization") ?? "";
      const region = /Credential=[^/]+\/[^/]+\/([^/]+)\//.exec(authorization)?.[1];
      if (region === undefined || region === PROVIDER_REGION) return undefined;
      return { respond: wrongRegionResponse(request.method, region) };
    },
  },
  /** Virtual-hosted only (`bucket.s3.localhost:PORT`); path-style requests refused. */
  "virtual-only": {
    description: "path-style requests refused (virtual-hosted only)",
    request: (request, { credentials }) => {
      const host = request.headers.get("host") ?? "";
      const bucket = /^([^.:]+)\.s3\.localhost(:\d+)?$/i.exec(host)?.[1];
      if (bucket === undefined) {
        if (request.target.split("?")[0] === "/") return undefined; // ListBuckets
        const message = "Path-style requests are not supported: use virtual-hosted-style";
        return {
          respond: request.method === "HEAD"
            ? encodeLatin1("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            : s3ErrorResponse(400, "InvalidRequest", message),
        };
      }
      // The server behind knows path-style only: the bucket goes back into the path.
      const target = `/${bucket}${request.target.startsWith("/") ? "" : "/"}${request.target}`;
      return atServerAddress({ ...request, target }, credentials, true);
    },
  },
} satisfies Record<string, Personality>;

/**
 * The request with the Host the server behind knows (127.0.0.1:PORT: Ceph's rgw dns name
 * takes any other name for a virtual-hosted bucket), signed again when changed.
 */
function atServerAddress(
  request: ProxiedRequest,
  credentials: Credentials,
  changed = false,
): Verdict {
  const host = request.headers.get("host") ?? "";
  const port = /:(\d+)$/.exec(host)?.[1];
  const serverHost = port ? `127.0.0.1:${port}` : "127.0.0.1";
  if (host === serverHost && !changed) return undefined;
  const headers = new Map(request.headers);
  headers.set("host", serverHost);
  return { forward: resign({ ...request, headers }, credentials) };
}

/** AWS's 400 for a request signed for `region`: with an XML body naming the bucket's region, or (HEAD) none. */
function wrongRegionResponse(method: string, region: string): Uint8Array {
  if (method === "HEAD") {
    return encodeLatin1(
      `HTTP/1.1 400 Bad Request\r\nx-amz-bucket-region: ${PROVIDER_REGION}\r\n` +
        `Content-Type: application/xml\r\nContent-Length: 0\r\n\r\n`,
    );
  }
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error>` +
    `<Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is ` +
    `malformed; the region '${region}' is wrong; expecting '${PROVIDER_REGION}'</Message>` +
    `<Region>${PROVIDER_REGION}</Region><RequestId>provider-proxy</RequestId></Error>`;
  return encodeLatin1(
    `HTTP/1.1 400 Bad Request\r\nx-amz-bucket-region: ${PROVIDER_REGION}\r\n` +
      `Content-Type: application/xml\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
}

/** The names of the personalities. */
export type PersonalityName = keyof typeof PERSONALITIES;

const REASONS: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  412: "Precondition Failed",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
};

const latin1 = new TextDecoder("latin1");

function encodeLatin1(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** A complete S3 XML error response. */
export function s3ErrorResponse(status: number, code: string, message: string): Uint8Array {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
    `<Message>${message}</Message><RequestId>provider-proxy</RequestId></Error>`;
  return encodeLatin1(
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\nContent-Type: application/xml\r\n` +
      `Content-Length: ${body.length}\r\n\r\n${body}`,
  );
}

/** RFC 3986 encoding, as SigV4 wants it. */
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** SigV4's canonical query string of a request target. */
function canonicalQuery(target: string): string {
  const at = target.indexOf("?");
  if (at < 0) return "";
  const pairs = target.slice(at + 1).split("&").filter(Boolean).map((part) => {
    const eq = part.indexOf("=");
    const key = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? "" : decodeURIComponent(part.slice(eq + 1));
    return [uriEncode(key), uriEncode(value)];
  });
  pairs.sort(([a, x], [b, y]) => a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0);
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

function hmac(key: string | Uint8Array, text: string): Uint8Array {
  return new Uint8Array(createHmac("sha256", key).update(text).digest());
}

/**
 * The request signed again with AWS SigV4 (header form): same credential scope and
 * x-amz-date as its Authorization header, the headers it still has among those signed.
 */
export function resign(request: ProxiedRequest, credentials: Credentials): ProxiedRequest {
  const authorization = request.headers.get("authorization") ?? "";
  const scope = /Credential=[^/]+\/([^,]+)/.exec(authorization)?.[1];
  const signed = /SignedHeaders=([^,]+)/.exec(authorization)?.[1];
  const amzDate = request.headers.get("x-amz-date");
  if (!scope || !signed || !amzDate) throw new Error("resign: not a SigV4 header-signed request");
  const [date, region, service] = scope.split("/");
  const names = signed.split(";").filter((name) => request.headers.has(name));
  const canonicalHeaders = names.map((name) =>
    `${name}:${request.headers.get(name)!.trim().replace(/\s+/g, " ")}\n`
  ).join("");
  const path = request.target.split("?")[0];
  const payloadHash = request.headers.get("x-amz-content-sha256") ??
    createHash("sha256").update(request.body).digest("hex");
  const canonical = [
    request.method,
    path,
    canonicalQuery(request.target),
    canonicalHeaders,
    names.join(";"),
    payloadHash,
  ].join("\n");
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    amzDate,
    scope,
    createHash("sha256").update(canonical).digest("hex"),
  ].join("\n");
  let key = hmac(`AWS4${credentials.secretKey}`, date);
  for (const part of [region, service, "aws4_request"]) key = hmac(key, part);
  const signature = createHmac("sha256", key).update(stringToSign).digest("hex");
  const headers = new Map(request.headers);
  headers.set(
    "authorization",
    `AWS4-HMAC-SHA256 Credential=${credentials.accessKey}/${scope}, ` +
      `SignedHeaders=${names.join(";")}, Signature=${signature}`,
  );
  return { ...request, headers };
}

/** The head of a request as sent on the wire. */
function requestHead(request: ProxiedRequest): string {
  const lines = [`${request.method} ${request.target} HTTP/1.1`];
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  return lines.join("\r\n") + "\r\n\r\n";
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Options of `ProviderProxy.start`. */
export interface ProviderProxyOptions {
  /** The server behind the proxy (http://127.0.0.1:PORT); default SPARE_TEST_ENDPOINT. */
  upstream?: string;
  /** The keys to sign with; default the test server's. */
  credentials?: Credentials;
  /** Listen with TLS, with this certificate and key (PEM text). */
  tls?: { cert: string; key: string };
  /** The address to listen on; default 127.0.0.1. */
  hostname?: string;
}

/** A running provider-personality proxy. */
export class ProviderProxy {
  /** Every request seen, in order. */
  readonly requests: { method: string; target: string; headers: Map<string, string> }[] = [];
  /** Requests the personality answered itself. */
  refused = 0;
  private readonly conns = new Set<Deno.Conn>();
  private readonly accepting: Promise<void>;

  private constructor(
    readonly personality: Personality,
    private readonly listener: Deno.Listener,
    private readonly upstreamPort: number,
    private readonly credentials: Credentials,
    private readonly scheme: "http" | "https",
  ) {
    this.accepting = this.acceptLoop();
  }

  /** Starts a proxy with the personality `name` in front of the test server. */
  static start(name: PersonalityName, options: ProviderProxyOptions = {}): ProviderProxy {
    const env = testS3Env();
    const upstream = options.upstream ?? env?.endpoint;
    const credentials = options.credentials ??
      (env ? { accessKey: env.accessKey, secretKey: env.secretKey } : undefined);
    if (!upstream || !credentials) throw new Error("ProviderProxy: no test S3 server");
    const hostname = options.hostname ?? "127.0.0.1";
    const listener = options.tls
      ? Deno.listenTls({ hostname, port: 0, cert: options.tls.cert, key: options.tls.key })
      : Deno.listen({ hostname, port: 0 });
    return new ProviderProxy(
      PERSONALITIES[name],
      listener,
      Number(new URL(upstream).port),
      credentials,
      options.tls ? "https" : "http",
    );
  }

  /** The endpoint to give the CLI. */
  get endpoint(): string {
    const { hostname, port } = this.listener.addr as Deno.NetAddr;
    return `${this.scheme}://${hostname}:${port}`;
  }

  private async acceptLoop(): Promise<void> {
    while (true) {
      let client: Deno.Conn;
      try {
        client = await this.listener.accept();
      } catch {
        return; // closed
      }
      this.handle(client).catch(() => {});
    }
  }

  private async handle(client: Deno.Conn): Promise<void> {
    this.conns.add(client);
    let server: Deno.Conn | undefined;
    try {
      server = await Deno.connect({ hostname: "127.0.0.1", port: this.upstreamPort });
      this.conns.add(server);
      await this.relay(client, server);
    } catch { /* a side went away */ }
    for (const c of [client, server]) {
      if (!c) continue;
      this.conns.delete(c);
      try {
        c.close();
      } catch { /* already closed */ }
    }
  }

  /** Relays requests and responses one by one, letting the personality decide on each. */
  private async relay(client: Deno.Conn, server: Deno.Conn): Promise<void> {
    const fromClient = new MessageReader(client);
    const fromServer = new MessageReader(server);
    while (true) {
      const head = await fromClient.readHead();
      if (!head) return;
      const [method, target] = head.firstLine.split(" ");
      const headers = new Map(head.headers);
      if (/100-continue/i.test(headers.get("expect") ?? "")) {
        headers.delete("expect");
        await writeAll(client, encodeLatin1("HTTP/1.1 100 Continue\r\n\r\n"));
      }
      const { body } = await fromClient.readBody(head.headers, false);
      let request: ProxiedRequest = { method, target, headers, body };
      this.requests.push({ method, target, headers: new Map(headers) });
      const verdict = this.personality.request?.(request, { credentials: this.credentials });
      if (verdict && "respond" in verdict) {
        this.refused++;
        await writeAll(client, verdict.respond);
        continue;
      }
      if (verdict) request = verdict.forward;
      await writeAll(server, messageBytes(requestHead(request), request.body));
      let status: number;
      do { // interim 1xx answers are passed on as they are
        const answer = await fromServer.readHead();
        if (!answer) return;
        status = Number(answer.firstLine.split(" ")[1]);
        const bodiless = method === "HEAD" || status < 200 || status === 204 || status === 304;
        const { body: answerBody } = bodiless
          ? { body: new Uint8Array(0) }
          : await fromServer.readBody(answer.headers, true);
        await writeAll(client, concatBytes([encodeLatin1(answer.head), answerBody]));
        if (/close/i.test(answer.headers.get("connection") ?? "")) return;
      } while (status < 200);
    }
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

/** The text of a request's body (for assertions on small XML bodies). */
export function bodyText(request: ProxiedRequest): string {
  return latin1.decode(request.body);
}
