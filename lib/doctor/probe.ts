/**
 * One probe request of `spare doctor`: an SDK command sent once, with headers added or taken
 * away just before signing, and what came back: the answer (status, S3 code, the headers
 * such as Date and x-amz-bucket-region) or why there was none (TLS, DNS, refused, timeout).
 */
import { contentMd5, errorName, httpStatus, type ObjectStore } from "../s3/mod.ts";

/** What the server answered (an error answer included). */
export interface Answer {
  status?: number;
  /** The S3 error code, for an error answer. */
  code?: string;
  /** The error's message, first line. */
  message?: string;
  /** The region an error answer names (AuthorizationHeaderMalformed, PermanentRedirect). */
  region?: string;
  /** Response headers, lower-case names. */
  headers: Record<string, string>;
  /** Milliseconds from sending to the answer. */
  elapsedMs: number;
  /** Local time (ms since the epoch) halfway between sending and the answer. */
  localMidpoint: number;
}

/** Why no answer came. */
export type NoAnswerKind =
  | "tls"
  | "not tls"
  | "dns"
  | "refused"
  | "timeout"
  | "permission"
  | "network";

/** The outcome of one probe. */
export type ProbeResult<T> =
  | { ok: true; value: T; answer: Answer }
  | { ok: false; answer: Answer; error: unknown }
  | { ok: false; answer?: undefined; noAnswer: NoAnswerKind; detail: string; error: unknown };

/** How a probe changes the request before it is signed. */
export interface RequestEdits {
  /** Headers set on the request. */
  set?: Record<string, string>;
  /** Header names (lower-case prefixes) removed, e.g. "x-amz-checksum-". */
  remove?: string[];
  /** Adds Content-MD5 of the request's body. */
  contentMd5?: boolean;
}

interface HttpLike {
  headers: Record<string, string>;
  body?: unknown;
  statusCode?: number;
}

/** An SDK command's middleware stack, as far as a probe touches it. */
interface MiddlewareStack {
  add(middleware: Middleware, options: { step: string; name: string; priority?: string }): void;
  addRelativeTo(
    middleware: Middleware,
    options: { relation: "before" | "after"; toMiddleware: string; name: string },
  ): void;
}

type Middleware = (
  next: (args: unknown) => Promise<unknown>,
) => (args: unknown) => Promise<unknown>;

function lowerHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = value;
  return out;
}

function firstLine(text: string): string {
  return text.split("\n")[0].trim();
}

/** The text of an error and of its causes, for classifying network failures. */
function errorText(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof Error) {
      parts.push(`${current.name}: ${current.message}`);
      const code = (current as { code?: unknown }).code;
      if (typeof code === "string") parts.push(code);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(" | ");
}

/** Why a request got no answer, from its error. */
export function classifyNoAnswer(err: unknown): { kind: NoAnswerKind; detail: string } {
  const text = errorText(err);
  const detail = firstLine(err instanceof Error ? err.message || err.name : String(err));
  if (/NotCapable|Requires \w+ access|PermissionDenied/i.test(text)) {
    return { kind: "permission", detail };
  }
  if (
    /wrong version number|InvalidContentType|corrupt message|packet length too long/i.test(text)
  ) {
    return { kind: "not tls", detail };
  }
  if (
    /certificate|UnknownIssuer|CERT_|self[- ]signed|TLS|SSL|handshake|NotValidForName/i.test(text)
  ) {
    return { kind: "tls", detail };
  }
  if (/ENOTFOUND|EAI_AGAIN|getaddrinfo|dns error|failed to lookup|Name or service/i.test(text)) {
    return { kind: "dns", detail };
  }
  if (/ECONNREFUSED|Connection refused/i.test(text)) return { kind: "refused", detail };
  if (/RequestTimeoutError|TimeoutError|timed? ?out|ETIMEDOUT/i.test(text)) {
    return { kind: "timeout", detail };
  }
  return { kind: "network", detail };
}

/** The region an error answer names: its <Region> element, or x-amz-bucket-region. */
function regionOf(err: unknown, headers: Record<string, string>): string | undefined {
  const fromBody = (err as { Region?: unknown }).Region;
  if (typeof fromBody === "string" && fromBody) return fromBody;
  const message = err instanceof Error ? err.message : "";
  const expecting = /expecting '([a-z0-9-]+)'/i.exec(message);
  if (expecting) return expecting[1];
  return headers["x-amz-bucket-region"] || undefined;
}

/** Sends `command` once through `store` with `edits`, and reports what came back. */
export async function probe<T>(
  store: ObjectStore,
  command: { middlewareStack: unknown },
  edits: RequestEdits = {},
): Promise<ProbeResult<T>> {
  let headers: Record<string, string> = {};
  let status: number | undefined;
  const stack = command.middlewareStack as MiddlewareStack;
  stack.addRelativeTo(
    (next) => async (args) => {
      const request = (args as { request: HttpLike }).request;
      for (const name of Object.keys(request.headers)) {
        if (edits.remove?.some((prefix) => name.toLowerCase().startsWith(prefix))) {
          delete request.headers[name];
        }
      }
      if (edits.contentMd5) {
        const body = typeof request.body === "string" || request.body instanceof Uint8Array
          ? request.body
          : "";
        request.headers["content-md5"] = contentMd5(body);
      }
      Object.assign(request.headers, edits.set ?? {});
      return await next(args);
    },
    // just before signing: after every header the SDK and the ObjectStore's own
    // middleware set or removed
    { relation: "before", toMiddleware: "httpSigningMiddleware", name: "doctorRequestEdits" },
  );
  stack.add(
    (next) => async (args) => {
      const result = await next(args) as { response?: HttpLike };
      headers = lowerHeaders(result.response?.headers);
      status = result.response?.statusCode;
      return result;
    },
    { step: "deserialize", name: "doctorAnswer", priority: "low" },
  );
  const sent = Date.now();
  const started = performance.now();
  const timing = () => {
    const elapsedMs = performance.now() - started;
    return { elapsedMs, localMidpoint: sent + elapsedMs / 2 };
  };
  try {
    const value = await store.sendOnce<T>(command);
    return { ok: true, value, answer: { status, headers, ...timing() } };
  } catch (err) {
    const response = (err as { $response?: HttpLike }).$response;
    const answerStatus = httpStatus(err) ?? response?.statusCode;
    if (answerStatus === undefined) {
      const { kind, detail } = classifyNoAnswer(err);
      return { ok: false, noAnswer: kind, detail, error: err };
    }
    const answerHeaders = lowerHeaders(response?.headers);
    const message = err instanceof Error ? firstLine(err.message) : undefined;
    return {
      ok: false,
      error: err,
      answer: {
        status: answerStatus,
        code: errorName(err),
        message: message && message !== errorName(err) ? message : undefined,
        region: regionOf(err, answerHeaders),
        headers: answerHeaders,
        ...timing(),
      },
    };
  }
}

/** An answer in a few words: `HTTP 501 NotImplemented: message`. */
export function describeAnswer(answer: Answer): string {
  const code = answer.code && !/^\d+$/.test(answer.code) ? ` ${answer.code}` : "";
  const message = answer.message && answer.message !== "UnknownError" ? `: ${answer.message}` : "";
  return `HTTP ${answer.status}${code}${message}`;
}
