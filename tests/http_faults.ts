/**
 * HTTP/1.1 messages as the fault proxy sees them, and the lies it can tell in a response:
 * a body cut short, a Content-Length that disagrees with the body, an error status in place
 * of the answer, another object's bytes.
 */
import { concatBytes } from "../lib/util/bytes.ts";

/** One lie, told to the responses of the requests it matches. */
export interface HttpFault {
  /** Matched against the request line ("GET /bucket/key?query HTTP/1.1"). */
  when: RegExp;
  /** How many more responses to spoil (default: every matching one). */
  count?: number;
  /**
   * - `truncate`: the real status and headers, half of the body, then the connection closes;
   * - `lengthShort`: Content-Length 100 bytes below the body, the whole body sent behind it;
   * - `lengthLong`: Content-Length 100 bytes above the body, then the connection closes;
   * - `status`: `status` with the S3 XML error `code`, without asking the server;
   * - `swap`: the body of another object matched earlier (`sameLength`: only one of the
   *   same length), under the real status and headers.
   */
  kind: "truncate" | "lengthShort" | "lengthLong" | "status" | "swap";
  status?: number;
  code?: string;
  sameLength?: boolean;
}

/** A request or response: its head as sent, parsed, and its body. */
export interface HttpMessage {
  firstLine: string;
  headers: Map<string, string>;
  head: string;
  /** The body as sent on the wire (chunked bodies stay encoded). */
  body: Uint8Array;
  chunked: boolean;
}

const latin1 = new TextDecoder("latin1");

function encodeLatin1(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** Reads HTTP/1.1 messages from a connection. */
export class MessageReader {
  private buffer = new Uint8Array(0);
  private eof = false;

  constructor(private readonly conn: Deno.Conn) {}

  private async fill(): Promise<boolean> {
    if (this.eof) return false;
    const piece = new Uint8Array(64 * 1024);
    const n = await this.conn.read(piece);
    if (n === null) {
      this.eof = true;
      return false;
    }
    const joined = new Uint8Array(this.buffer.length + n);
    joined.set(this.buffer);
    joined.set(piece.subarray(0, n), this.buffer.length);
    this.buffer = joined;
    return true;
  }

  private take(n: number): Uint8Array {
    const out = this.buffer.slice(0, n);
    this.buffer = this.buffer.slice(n);
    return out;
  }

  private async line(): Promise<string> {
    while (true) {
      const at = latin1.decode(this.buffer).indexOf("\r\n");
      if (at >= 0) return latin1.decode(this.take(at + 2));
      if (!(await this.fill())) throw new Error("connection closed inside a message");
    }
  }

  private async exactly(n: number): Promise<Uint8Array> {
    while (this.buffer.length < n) {
      if (!(await this.fill())) throw new Error("connection closed inside a body");
    }
    return this.take(n);
  }

  /** The next message's head, or undefined when the connection ended between messages. */
  async readHead(): Promise<Omit<HttpMessage, "body" | "chunked"> | undefined> {
    while (latin1.decode(this.buffer).indexOf("\r\n\r\n") < 0) {
      if (!(await this.fill())) {
        if (this.buffer.length === 0) return undefined;
        throw new Error("connection closed inside a head");
      }
    }
    const end = latin1.decode(this.buffer).indexOf("\r\n\r\n") + 4;
    const head = latin1.decode(this.take(end));
    const [firstLine, ...lines] = head.slice(0, -4).split("\r\n");
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    return { firstLine, headers, head };
  }

  /** Reads the body a head announces; `toEnd` reads until the connection closes. */
  async readBody(
    headers: Map<string, string>,
    toEnd: boolean,
  ): Promise<{ body: Uint8Array; chunked: boolean }> {
    if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
      const parts: Uint8Array[] = [];
      while (true) {
        const sizeLine = await this.line();
        parts.push(encodeLatin1(sizeLine));
        const size = parseInt(sizeLine, 16);
        if (size === 0) {
          while (true) { // trailers, then the empty line
            const trailer = await this.line();
            parts.push(encodeLatin1(trailer));
            if (trailer === "\r\n") break;
          }
          break;
        }
        parts.push(await this.exactly(size + 2));
      }
      return { body: concatBytes(parts), chunked: true };
    }
    const length = headers.get("content-length");
    if (length !== undefined) return { body: await this.exactly(Number(length)), chunked: false };
    if (!toEnd) return { body: new Uint8Array(0), chunked: false };
    while (await this.fill()) { /* to the end */ }
    return { body: this.take(this.buffer.length), chunked: false };
  }
}

/** A chunked response as one with a Content-Length, so that a lie can be told about it. */
export function dechunked(message: HttpMessage): HttpMessage {
  if (!message.chunked) return message;
  const parts: Uint8Array[] = [];
  let at = 0;
  const wire = message.body;
  while (true) {
    const lineEnd = latin1.decode(wire.subarray(at, at + 64)).indexOf("\r\n");
    const size = parseInt(latin1.decode(wire.subarray(at, at + lineEnd)), 16);
    at += lineEnd + 2;
    if (size === 0) break;
    parts.push(wire.subarray(at, at + size));
    at += size + 2;
  }
  const body = concatBytes(parts);
  const head = message.head.replace(
    /^transfer-encoding:[^\r\n]*/im,
    `Content-Length: ${body.length}`,
  );
  return { ...message, head, body, chunked: false };
}

/** The head with Content-Length set to `length`. */
export function withContentLength(head: string, length: number): string {
  return head.replace(/^content-length:[^\r\n]*/im, `Content-Length: ${length}`);
}

/** A complete S3 error response. */
export function errorResponse(status: number, code: string): Uint8Array {
  const reason = status === 503 ? "Service Unavailable" : "Internal Server Error";
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
    `<Message>injected by the fault proxy</Message><RequestId>fault</RequestId></Error>`;
  return encodeLatin1(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/xml\r\n` +
      `Content-Length: ${body.length}\r\n\r\n${body}`,
  );
}

/** The bytes of a message: head and body. */
export function messageBytes(head: string, body: Uint8Array): Uint8Array {
  return concatBytes([encodeLatin1(head), body]);
}
