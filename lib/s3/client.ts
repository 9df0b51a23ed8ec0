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
import { Readable } from "node:stream";
import { makeAgents } from "./agents.ts";
import { defaultAddressing, endpointUrl, type S3Config } from "./config.ts";
import {
  abortableRequest,
  batchDeleteRefused,
  type ConditionalPut,
  conditionalWriteRefused,
  destroyBody,
  readBody,
  withoutFlexibleChecksums,
} from "./request.ts";
import { trustedCertificates } from "./trust.ts";
import { forEachConcurrent, sleep, SpareError } from "../util/mod.ts";
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

/** Single deletes in flight at once where batches are refused. */
const SINGLE_DELETES_AT_ONCE = 8;

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

  /** Stores an object (unconditionally: putIfAbsent writes only a new key). */
  put(bucket: string, key: string, body: Uint8Array): Promise<void> {
    return this.call("PutObject", `${bucket}/${key}`, async (abortSignal) => {
      await this.client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length }),
        { abortSignal },
      );
    });
  }

  /**
   * Stores an object only when its key does not exist yet (`If-None-Match: *`): "written",
   * "exists" (412, or AWS's 409 for a conditional write of the key in flight), or "refused"
   * when the server does not do conditional writes (501, NotImplemented, or a 400 naming the
   * condition). A server that ignores the header
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
