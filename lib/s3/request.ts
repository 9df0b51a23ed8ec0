/**
 * What one S3 request needs around the SDK: its own deadline, a response body read into one
 * array, the header middleware that keeps flexible checksums out, and how a server's refusal
 * of a conditional write or a batch delete is recognised.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { errorName, httpStatus, TruncatedBodyError } from "./errors.ts";

/**
 * Reads a response body of `length` bytes into one array allocated up front (the SDK's
 * collector keeps every piece until the end, then copies them together). Rejects when the
 * stream fails, brings more than `length` bytes, closes before its end, or `signal` aborts.
 */
export function readBody(body: Readable, length: number, signal: AbortSignal): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const whole = new Uint8Array(length);
    let received = 0;
    let settled = false;
    const settle = (error: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      if (error === undefined) return resolve(whole.subarray(0, received));
      body.destroy();
      reject(error);
    };
    const onAbort = () => settle(signal.reason ?? new Error("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    body.on("data", (piece: Uint8Array) => {
      if (received + piece.length > length) {
        return settle(new TruncatedBodyError(`more than the ${length} bytes announced`));
      }
      whole.set(piece, received);
      received += piece.length;
    });
    body.once("end", () => settle(undefined));
    body.once("error", (err) => settle(err));
    body.once("close", () => {
      if (!settled) settle(new TruncatedBodyError("the connection closed early"));
    });
    if (signal.aborted) onAbort();
  });
}

/**
 * The signal of one attempt of a request: it aborts after `timeoutMs` (our own deadline: the
 * SDK's requestTimeout does not fire under Deno, and a server that stops answering would
 * otherwise hold the run forever) or when `abandoned` aborts. end() clears the timer and the
 * listener at once: with AbortSignal.timeout and AbortSignal.any, every request's signals,
 * timer and closures stayed alive for the whole timeout, 60 s (thousands of them in a
 * create over small files, several MiB).
 */
export function abortableRequest(abandoned: AbortSignal, timeoutMs: number) {
  const controller = new AbortController();
  let timedOut = false;
  const onAbandon = () => controller.abort(abandoned.reason);
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException("the request timed out", "TimeoutError"));
  }, timeoutMs);
  Deno.unrefTimer(timer);
  if (abandoned.aborted) onAbandon();
  else abandoned.addEventListener("abort", onAbandon, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    end() {
      clearTimeout(timer);
      abandoned.removeEventListener("abort", onAbandon);
    },
  };
}

/** Drops a response body that will not be read (its connection is not reused). */
export function destroyBody(body: unknown): void {
  if (body instanceof Readable) body.destroy();
}

/** The Content-MD5 header's value for a request body. */
export function contentMd5(body: string | Uint8Array): string {
  return createHash("md5").update(body).digest("base64");
}

/**
 * SDK middleware, run after the SDK's own checksum middleware: takes out every
 * flexible-checksum header (x-amz-checksum-*, x-amz-sdk-checksum-*; the SDK adds CRC32 to
 * DeleteObjects even with WHEN_REQUIRED, and servers without flexible checksums refuse it)
 * and gives DeleteObjects the Content-MD5 that every S3 implementation accepts.
 */
// deno-lint-ignore no-explicit-any
export const withoutFlexibleChecksums = (next: any, context: any) => (args: any) => {
  const request = args.request as { headers?: Record<string, string>; body?: unknown };
  const headers = request?.headers;
  if (headers) {
    for (const name of Object.keys(headers)) {
      const lower = name.toLowerCase();
      if (lower.startsWith("x-amz-checksum-") || lower.startsWith("x-amz-sdk-checksum-")) {
        delete headers[name];
      }
    }
    const body = request.body;
    if (
      context?.commandName === "DeleteObjectsCommand" &&
      (typeof body === "string" || body instanceof Uint8Array)
    ) {
      headers["content-md5"] = contentMd5(body);
    }
  }
  return next(args);
};

/** The outcome of a conditional PUT (ObjectStore.putIfAbsent). */
export type ConditionalPut = "written" | "exists" | "refused";

/** True for a server's refusal of `If-None-Match`: 501, NotImplemented, a 400 naming it. */
export function conditionalWriteRefused(err: unknown): boolean {
  const status = httpStatus(err);
  if (status === 501 || errorName(err) === "NotImplemented") return true;
  const text = `${errorName(err) ?? ""} ${err instanceof Error ? err.message : ""}`;
  return status === 400 && /if-none-match|conditional|precondition|not (implemented|supported)/i
    .test(text);
}

/** True for a refused batch delete: 501, or a 400 that names Content-MD5 or checksums. */
export function batchDeleteRefused(err: unknown): boolean {
  const status = httpStatus(err);
  if (status === 501 || errorName(err) === "NotImplemented") return true;
  const text = `${errorName(err) ?? ""} ${err instanceof Error ? err.message : ""}`;
  return status === 400 && /md5|checksum|digest/i.test(text);
}
