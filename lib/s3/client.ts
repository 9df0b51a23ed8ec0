/**
 * S3 access over @aws-sdk/client-s3: path-style or virtual-hosted, TLS checked against the
 * system's CAs, proxies from the environment (lib/s3/agents.ts), byte-array bodies, no
 * flexible-checksum header on any request (Content-MD5 on DeleteObjects), conditional writes
 * that tell a refusal apart, listings that follow continuation tokens, batch deletes with a
 * fallback to single deletes, request timeouts and bounded retries. Errors come out as one-line SpareErrors
 * (lib/s3/errors.ts).
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { makeAgents } from "./agents.ts";
import type { ProxySettings } from "./proxy.ts";
import { trustedCertificates } from "./trust.ts";
import { SpareError } from "../util/errors.ts";
import { forEachConcurrent } from "../util/limit.ts";
import {
  BodyLengthError,
  describeS3Error,
  errorName,
  httpStatus,
  isNotFound,
  isTransient,
  RequestTimeoutError,
  TruncatedBodyError,
} from "./errors.ts";
import {
  type ListingHolder,
  type ListingPage,
  type ObjectInfo,
  readListingFast,
} from "./listing.ts";

export type { ObjectInfo };

/** Where and how to reach the S3 server. */
export interface S3Config {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region?: string;
  /** Milliseconds before a request without progress is abandoned (and retried). */
  requestTimeoutMs?: number;
  /** Attempts per request, the first included. */
  maxAttempts?: number;
  /** PEM CAs an https:// endpoint must chain to (lib/s3/trust.ts); required for https://. */
  ca?: string[];
  /** Proxies from the environment (lib/s3/proxy.ts). */
  proxies?: ProxySettings;
  /** Bucket in the path or in the host name; by default `defaultAddressing(endpoint)`. */
  addressing?: Addressing;
}

/** Where the bucket goes in a request's URL. */
export type Addressing = "path" | "virtual";

/** Virtual-hosted for AWS endpoints (*.amazonaws.com), path-style for every other server. */
export function defaultAddressing(endpoint: string): Addressing {
  const host = new URL(endpointUrl(endpoint)).hostname.toLowerCase().replace(/\.$/, "");
  return host === "amazonaws.com" || host.endsWith(".amazonaws.com") ? "virtual" : "path";
}

/** An endpoint without a scheme means https://. */
export function endpointUrl(endpoint: string): string {
  const trimmed = endpoint.trim().replace(/\/+$/, "");
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Reads a response body of `length` bytes into one array allocated up front (the SDK's
 * collector keeps every piece until the end, then copies them together). Rejects when the
 * stream fails, brings more than `length` bytes, closes before its end, or `signal` aborts.
 */
function readBody(body: Readable, length: number, signal: AbortSignal): Promise<Uint8Array> {
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
function destroyBody(body: unknown): void {
  if (body instanceof Readable) body.destroy();
}

/**
 * SDK middleware, run after the SDK's own checksum middleware: takes out every
 * flexible-checksum header (x-amz-checksum-*, x-amz-sdk-checksum-*; the SDK adds CRC32 to
 * DeleteObjects even with WHEN_REQUIRED, and servers without flexible checksums refuse it)
 * and gives DeleteObjects the Content-MD5 that every S3 implementation accepts.
 */
// deno-lint-ignore no-explicit-any
const withoutFlexibleChecksums = (next: any, context: any) => (args: any) => {
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
      headers["content-md5"] = createHash("md5").update(body).digest("base64");
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

/** Single deletes in flight at once where batches are refused. */
const SINGLE_DELETES_AT_ONCE = 8;

/** True for a refused batch delete: 501, or a 400 that names Content-MD5 or checksums. */
export function batchDeleteRefused(err: unknown): boolean {
  const status = httpStatus(err);
  if (status === 501 || errorName(err) === "NotImplemented") return true;
  const text = `${errorName(err) ?? ""} ${err instanceof Error ? err.message : ""}`;
  return status === 400 && /md5|checksum|digest/i.test(text);
}

/** An S3 bucket's objects, addressed by key; every call names its operation in errors. */
export class ObjectStore {
  readonly endpoint: string;
  /** The region requests are signed for. */
  readonly region: string;
  private readonly client: S3Client;
  private readonly attempts: number;
  private readonly requestTimeoutMs: number;
  private abandon = new AbortController();
  /** Set once the server refused a batch delete: this run deletes one object at a time. */
  batchDeletesRefused = false;
  /** Keys per DeleteObjects request: S3's limit (tests lower it). */
  deleteBatchKeys = 1000;

  constructor(config: S3Config) {
    this.endpoint = endpointUrl(config.endpoint);
    this.attempts = config.maxAttempts ?? 5;
    this.requestTimeoutMs = config.requestTimeoutMs ?? 60_000;
    const ca = config.ca ??
      (this.endpoint.toLowerCase().startsWith("https:") ? trustedCertificates() : undefined);
    const agents = makeAgents({ ca, proxies: config.proxies, maxSockets: 32 });
    this.region = config.region ?? "us-east-1";
    this.client = new S3Client({
      endpoint: this.endpoint,
      region: this.region,
      forcePathStyle: (config.addressing ?? defaultAddressing(this.endpoint)) === "path",
      credentials: { accessKeyId: config.accessKey, secretAccessKey: config.secretKey },
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      // Our own loop below retries (with backoff), so that body reads are retried too.
      maxAttempts: 1,
      requestHandler: {
        connectionTimeout: 10_000,
        requestTimeout: this.requestTimeoutMs,
        httpAgent: agents.http,
        httpsAgent: agents.https,
      },
    });
    // last of the build step: after the checksum middleware (build, normal), before signing
    this.client.middlewareStack.add(withoutFlexibleChecksums, {
      name: "spareWithoutFlexibleChecksums",
      step: "build",
      priority: "low",
    });
  }

  /**
   * Aborts every request in flight (an S3 object is stored whole or not at all); requests
   * started afterwards, such as releasing the lock, run normally.
   */
  abandonInFlight(): void {
    this.abandon.abort();
    this.abandon = new AbortController();
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.client.destroy();
  }

  /**
   * Runs one S3 operation with bounded retries and exponential backoff on network faults,
   * timeouts, throttling and 5xx answers; other errors are final.
   */
  async call<T>(
    operation: string,
    target: string,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1;; attempt++) {
      const abandoned = this.abandon.signal;
      const request = abortableRequest(abandoned, this.requestTimeoutMs);
      try {
        return await fn(request.signal);
      } catch (caught) {
        if (abandoned.aborted) throw new SpareError(`S3 ${operation} ${target} abandoned`);
        const err = request.timedOut()
          ? new RequestTimeoutError(`no answer within ${this.requestTimeoutMs / 1000} s`)
          : caught;
        if (attempt >= this.attempts || !isTransient(err)) {
          throw this.describe(operation, target, err);
        }
        await sleep(Math.min(4000, 200 * 2 ** (attempt - 1)) * (0.5 + Math.random()));
      } finally {
        request.end();
      }
    }
  }

  /** Turns an SDK or network error into a one-line SpareError naming endpoint and operation. */
  describe(operation: string, target: string, err: unknown): SpareError {
    return describeS3Error(`${operation} ${target} at ${this.endpoint}`, err, {
      endpoint: this.endpoint,
      region: this.region,
    });
  }

  /**
   * Sends one SDK command once, without retries, within the request timeout; the SDK's
   * error comes out as it is (for `spare doctor`'s probes, which look at the answer itself).
   */
  async sendOnce<T>(command: object): Promise<T> {
    const request = abortableRequest(this.abandon.signal, this.requestTimeoutMs);
    try {
      // deno-lint-ignore no-explicit-any
      return await (this.client.send as any)(command, { abortSignal: request.signal });
    } catch (err) {
      throw request.timedOut()
        ? new RequestTimeoutError(`no answer within ${this.requestTimeoutMs / 1000} s`)
        : err;
    } finally {
      request.end();
    }
  }

  /** True when the bucket exists and we may use it. */
  bucketExists(bucket: string): Promise<boolean> {
    return this.call("HeadBucket", bucket, async (abortSignal) => {
      try {
        await this.client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal });
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    });
  }

  /** Creates the bucket; an existing bucket of ours is not an error. */
  createBucket(bucket: string): Promise<void> {
    return this.call("CreateBucket", bucket, async (abortSignal) => {
      try {
        await this.client.send(new CreateBucketCommand({ Bucket: bucket }), { abortSignal });
      } catch (err) {
        if (errorName(err) !== "BucketAlreadyOwnedByYou") throw err;
      }
    });
  }

  /**
   * Stores an object. With `ifNoneMatch` the write is conditional (`If-None-Match: *`) and
   * returns false when the key already exists (servers that ignore the header overwrite).
   */
  put(
    bucket: string,
    key: string,
    body: Uint8Array,
    opts: { ifNoneMatch?: boolean } = {},
  ): Promise<boolean> {
    return this.call("PutObject", `${bucket}/${key}`, async (abortSignal) => {
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
            IfNoneMatch: opts.ifNoneMatch ? "*" : undefined,
          }),
          { abortSignal },
        );
        return true;
      } catch (err) {
        if (
          opts.ifNoneMatch && (httpStatus(err) === 412 || errorName(err) === "PreconditionFailed")
        ) {
          return false;
        }
        throw err;
      }
    });
  }

  /**
   * Stores an object only when its key does not exist yet (`If-None-Match: *`): "written",
   * "exists" (412, or AWS's 409 for a conditional write of the key in flight), or "refused" when the server does not do conditional writes (501,
   * NotImplemented, or a 400 naming the condition). A server that ignores the header
   * overwrites and answers "written".
   */
  putIfAbsent(bucket: string, key: string, body: Uint8Array): Promise<ConditionalPut> {
    return this.call("PutObject", `${bucket}/${key}`, async (abortSignal) => {
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
            IfNoneMatch: "*",
          }),
          { abortSignal },
        );
        return "written";
      } catch (err) {
        if (httpStatus(err) === 412 || errorName(err) === "PreconditionFailed") return "exists";
        // AWS: another conditional write of the key is in flight; one of them will win
        if (errorName(err) === "ConditionalRequestConflict") return "exists";
        if (conditionalWriteRefused(err)) return "refused";
        throw err;
      }
    });
  }

  /**
   * Reads a whole object; a body shorter than its Content-Length, or (with `size`, the
   * object's size from a listing) of another length than the object has, is retried, never
   * returned. With `maxSize`, a larger object is refused unread.
   */
  get(
    bucket: string,
    key: string,
    { size, maxSize }: { size?: number; maxSize?: number } = {},
  ): Promise<Uint8Array> {
    return this.call("GetObject", `${bucket}/${key}`, async (abortSignal) => {
      const response = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
        abortSignal,
      });
      if (!response.Body) throw new TruncatedBodyError("no body");
      const announced = response.ContentLength;
      if (size !== undefined && announced !== undefined && announced !== size) {
        destroyBody(response.Body);
        throw new BodyLengthError(announced, size);
      }
      if (maxSize !== undefined && (announced === undefined || announced > maxSize)) {
        destroyBody(response.Body);
        throw new SpareError(
          `S3 GetObject ${bucket}/${key}: ${announced ?? "an unknown number of"} bytes, ` +
            `more than the ${maxSize} such an object may have`,
        );
      }
      let bytes: Uint8Array;
      try {
        bytes = response.Body instanceof Readable && announced !== undefined
          ? await readBody(response.Body, announced, abortSignal)
          : await response.Body.transformToByteArray();
      } catch (err) {
        if (abortSignal.aborted) throw err;
        throw new TruncatedBodyError(
          `connection lost: ${err instanceof Error ? err.message : err}`,
        );
      }
      if (announced !== undefined && bytes.length !== announced) {
        throw new TruncatedBodyError(`got ${bytes.length} of ${announced} bytes`);
      }
      if (size !== undefined && bytes.length !== size) {
        throw new BodyLengthError(bytes.length, size);
      }
      return bytes;
    });
  }

  /** Reads a whole object (see `get`), or undefined when it or its bucket does not exist. */
  async getIfExists(
    bucket: string,
    key: string,
    expect: { size?: number; maxSize?: number } = {},
  ): Promise<Uint8Array | undefined> {
    try {
      return await this.get(bucket, key, expect);
    } catch (err) {
      if (err instanceof SpareError && isNotFound(err.cause)) return undefined;
      throw err;
    }
  }

  /** True when the key exists. */
  exists(bucket: string, key: string): Promise<boolean> {
    return this.call("HeadObject", `${bucket}/${key}`, async (abortSignal) => {
      try {
        await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), {
          abortSignal,
        });
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    });
  }

  /**
   * Lists every object under `prefix` (after the key `startAfter`, when given), following
   * continuation tokens.
   */
  async *list(
    bucket: string,
    prefix?: string,
    maxKeys?: number,
    startAfter?: string,
  ): AsyncGenerator<ObjectInfo> {
    let token: string | undefined;
    do {
      const page = await this.listPage(bucket, { prefix, maxKeys, startAfter, token });
      yield* page.objects;
      token = page.next;
    } while (token);
  }

  /** One page of a listing, and the continuation token of the next one when there is more. */
  async listPage(
    bucket: string,
    options: { prefix?: string; maxKeys?: number; startAfter?: string; token?: string } = {},
  ): Promise<ListingPage> {
    const { prefix, maxKeys, startAfter, token } = options;
    const holder: ListingHolder = {};
    const page = await this.call("ListObjectsV2", bucket, (abortSignal) => {
      const command = new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ContinuationToken: token,
        MaxKeys: maxKeys,
        StartAfter: token ? undefined : startAfter,
      });
      holder.page = undefined;
      readListingFast(command, holder);
      return this.client.send(command, { abortSignal });
    });
    if (holder.page) return holder.page;
    const objects: ObjectInfo[] = [];
    for (const object of page.Contents ?? []) {
      if (object.Key !== undefined) objects.push({ key: object.Key, size: object.Size ?? 0 });
    }
    return { objects, next: page.IsTruncated ? page.NextContinuationToken : undefined };
  }

  /** Deletes one object (deleting a missing key is not an error in S3). */
  delete(bucket: string, key: string): Promise<void> {
    return this.call("DeleteObject", `${bucket}/${key}`, async (abortSignal) => {
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), {
        abortSignal,
      });
    });
  }

  /**
   * Deletes many objects, 1,000 per batch; a batch the server fails falls back to single
   * deletes, and once it refuses batches (batchDeleteRefused), the rest of the run deletes
   * one object at a time.
   */
  async deleteMany(bucket: string, keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += this.deleteBatchKeys) {
      const batch = keys.slice(i, i + this.deleteBatchKeys);
      let failed: string[] = [];
      if (this.batchDeletesRefused) {
        failed = batch;
      } else {
        try {
          const response = await this.client.send(
            new DeleteObjectsCommand({
              Bucket: bucket,
              Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
            }),
            { abortSignal: AbortSignal.timeout(this.requestTimeoutMs) },
          );
          failed = (response.Errors ?? []).map((e) => e.Key).filter((k): k is string =>
            k !== undefined
          );
        } catch (err) {
          if (batchDeleteRefused(err)) this.batchDeletesRefused = true;
          else if (!isTransient(err)) throw this.describe("DeleteObjects", bucket, err);
          failed = batch;
        }
      }
      await forEachConcurrent(failed, SINGLE_DELETES_AT_ONCE, (key) => this.delete(bucket, key));
    }
  }
}
