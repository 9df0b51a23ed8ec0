/**
 * `spare doctor`'s write probes, on keys of its own (`.spare-doctor-<random>…`, never `.lock`,
 * `.spare` or a backup's key), all removed at the end: conditional writes, checksum headers,
 * the DeleteObjects forms, and whether a new key is listed at once.
 */
import { randomHex, sleep } from "../util/mod.ts";
import {
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  type DeleteObjectsCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import type { ObjectStore } from "../s3/mod.ts";
import { type Answer, describeAnswer, probe, type ProbeResult } from "./probe.ts";
import type { ReportBuilder } from "./report.ts";

/** How long a new key may take to show in a listing before the doctor gives up. */
const LISTING_PATIENCE_MS = 5000;

/** The probe keys' common start: `.spare-doctor-` and 16 random hex digits. */
export function probeKeyBase(): string {
  return `.spare-doctor-${randomHex(8)}`;
}

/** Headers that make a request carry a flexible checksum. */
const CHECKSUM_HEADERS = ["x-amz-checksum-", "x-amz-sdk-checksum-algorithm"];

function why(result: ProbeResult<unknown>): string {
  if (result.ok) return "accepted";
  return result.answer ? describeAnswer(result.answer) : result.detail;
}

/** An answer that says the server does not do what the request asked (rather than a fault). */
function isRefusal(answer: Answer | undefined, header: RegExp): boolean {
  if (!answer) return false;
  if (answer.status === 501 || answer.code === "NotImplemented") return true;
  const text = `${answer.code ?? ""} ${answer.message ?? ""}`;
  return answer.status === 400 && header.test(text);
}

/** Writes and deletes probe keys; records what the server did. */
export class WriteProbes {
  private readonly written = new Set<string>();
  readonly base = probeKeyBase();

  constructor(
    private readonly report: ReportBuilder,
    private readonly store: ObjectStore,
    private readonly bucket: string,
  ) {}

  private put(key: string, opts: { ifNoneMatch?: boolean; checksum?: boolean } = {}) {
    this.written.add(key);
    return probe(
      this.store,
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: new Uint8Array(0),
        ContentLength: 0,
        IfNoneMatch: opts.ifNoneMatch ? "*" : undefined,
      }),
      // CRC32 of no bytes
      opts.checksum
        ? { set: { "x-amz-checksum-crc32": "AAAAAA==" } }
        : { remove: CHECKSUM_HEADERS },
    );
  }

  private list(prefix: string) {
    return probe<ListObjectsV2CommandOutput>(
      this.store,
      new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix }),
    );
  }

  /** Runs every write probe; false when writing itself failed. */
  async run(): Promise<boolean> {
    if (!(await this.conditionalWrites())) return false;
    await this.listing();
    await this.checksumHeaders();
    await this.batchDeletes();
    return true;
  }

  /** PUT the probe key with If-None-Match: *, then again: honoured, ignored or refused. */
  private async conditionalWrites(): Promise<boolean> {
    const key = this.base;
    const first = await this.put(key, { ifNoneMatch: true });
    if (!first.ok && isRefusal(first.answer, /If-None-Match|condition|precondition|header/i)) {
      const plain = await this.put(key);
      if (!plain.ok) return this.writeFailed(plain);
      this.report.add("writes", "ok", "a new object may be written", "ok");
      this.report.add(
        "conditional writes",
        "ok",
        `If-None-Match: * refused (${why(first)}): ` +
          `spare locks with lock objects and a listing`,
        "refused",
      );
      return true;
    }
    if (!first.ok) return this.writeFailed(first);
    this.report.add("writes", "ok", "a new object may be written", "ok");
    const second = await this.put(key, { ifNoneMatch: true });
    if (second.ok) {
      this.report.add(
        "conditional writes",
        "ok",
        "If-None-Match: * ignored (a second " +
          "conditional write of the same key succeeded): spare locks with lock objects and " +
          "a listing",
        "ignored",
      );
    } else if (second.answer?.status === 412 || second.answer?.status === 409) {
      this.report.add(
        "conditional writes",
        "ok",
        `If-None-Match: * honoured (${
          describeAnswer(second.answer)
        } for an existing key): spare locks with a conditional write`,
        "honoured",
      );
    } else {
      this.report.add(
        "conditional writes",
        "ok",
        `If-None-Match: * refused on an existing ` +
          `key (${why(second)}): spare locks with lock objects and a listing`,
        "refused",
      );
    }
    return true;
  }

  private writeFailed(result: ProbeResult<unknown>): false {
    this.report.add(
      "writes",
      "fail",
      `writing a probe object failed (${why(result)}): the ` +
        `keys need permission to write and delete objects in the bucket`,
      "refused",
    );
    return false;
  }

  /** Is the key just written in a listing at once (or after how long)? */
  private async listing(): Promise<void> {
    const started = performance.now();
    for (let attempt = 0;; attempt++) {
      const listed = await this.list(this.base);
      if (!listed.ok) {
        this.report.add("listing", "fail", `listing the probe key failed (${why(listed)})`);
        return;
      }
      if ((listed.value.Contents ?? []).some((o) => o.Key === this.base)) {
        const ms = Math.round(performance.now() - started);
        if (attempt === 0) {
          this.report.add("listing", "ok", "a new key is listed at once", "immediate");
        } else {
          this.report.add(
            "listing",
            "warn",
            `a new key showed in a listing only after ` +
              `${ms} ms: a lock by lock objects may miss a run that started just before`,
            `${ms}`,
          );
        }
        return;
      }
      if (performance.now() - started > LISTING_PATIENCE_MS) {
        this.report.add(
          "listing",
          "fail",
          `a new key was not listed within ` +
            `${LISTING_PATIENCE_MS / 1000} s`,
          "missing",
        );
        return;
      }
      await sleep(100);
    }
  }

  /** A PUT carrying x-amz-checksum-crc32: spare sends none, so a refusal is only noted. */
  private async checksumHeaders(): Promise<void> {
    const result = await this.put(`${this.base}.checksum`, { checksum: true });
    if (result.ok) {
      this.report.add("checksum headers", "ok", "x-amz-checksum-* accepted", "accepted");
    } else {
      this.report.add(
        "checksum headers",
        "ok",
        `x-amz-checksum-* refused (${why(result)}): ` +
          `spare sends none`,
        "refused",
      );
    }
  }

  /** DeleteObjects with Content-MD5, and without: accepted, needs MD5, or refused. */
  private async batchDeletes(): Promise<void> {
    const withMd5 = await this.deleteBatch(`${this.base}.batch-md5`, true);
    const without = await this.deleteBatch(`${this.base}.batch-plain`, false);
    const plainWords = without === true ? "accepted without it too" : `without it: ${without}`;
    if (withMd5 === true) {
      const needs = without !== true && /MD5|checksum/i.test(without);
      this.report.add(
        "batch deletes",
        "ok",
        `DeleteObjects with Content-MD5 accepted ` +
          `(${plainWords})`,
        needs ? "needs Content-MD5" : "accepted",
      );
      return;
    }
    const single = await probe(
      this.store,
      new DeleteObjectCommand({ Bucket: this.bucket, Key: `${this.base}.batch-md5` }),
    );
    if (!single.ok) {
      this.report.add(
        "batch deletes",
        "fail",
        `DeleteObjects refused (${withMd5}) and ` +
          `deleting one object failed too (${why(single)})`,
        "refused",
      );
      return;
    }
    this.report.add(
      "batch deletes",
      "ok",
      `DeleteObjects with Content-MD5 refused ` +
        `(${withMd5}): spare deletes one object at a time`,
      "refused",
    );
  }

  /** Writes `key`, deletes it in a batch; true when that worked, else why not. */
  private async deleteBatch(key: string, md5: boolean): Promise<true | string> {
    const written = await this.put(key);
    if (!written.ok) return `writing ${key} failed: ${why(written)}`;
    const result = await probe<DeleteObjectsCommandOutput>(
      this.store,
      new DeleteObjectsCommand({
        Bucket: this.bucket,
        Delete: { Objects: [{ Key: key }], Quiet: true },
      }),
      md5
        ? { remove: CHECKSUM_HEADERS, contentMd5: true }
        : { remove: [...CHECKSUM_HEADERS, "content-md5"] },
    );
    if (!result.ok) return why(result);
    const failed = result.value.Errors ?? [];
    if (failed.length) return `the answer lists an error: ${failed[0].Code} ${failed[0].Message}`;
    const left = await this.list(key);
    if (left.ok && (left.value.Contents ?? []).some((o) => o.Key === key)) {
      return "the answer said done but the key is still listed";
    }
    return true;
  }

  /** Removes every probe key (one at a time) and checks that none is left. */
  async cleanUp(created: boolean): Promise<void> {
    const failures: string[] = [];
    for (const key of this.written) {
      const result = await probe(
        this.store,
        new DeleteObjectCommand({ Bucket: this.bucket, Key: key }),
      );
      if (!result.ok && result.answer?.status !== 404) failures.push(`${key}: ${why(result)}`);
    }
    const left = await this.list(this.base);
    const keys = left.ok ? (left.value.Contents ?? []).map((o) => o.Key) : [];
    if (failures.length || keys.length) {
      this.report.add(
        "cleanup",
        "warn",
        `probe objects may be left: ${[...failures, ...keys].join(", ")}; remove them by hand`,
        "left",
      );
    } else if (created) {
      const removed = await probe(this.store, new DeleteBucketCommand({ Bucket: this.bucket }));
      this.report.add(
        "cleanup",
        removed.ok ? "ok" : "warn",
        removed.ok
          ? `the probe objects and the bucket created for them are removed`
          : `the probe objects are removed; removing the bucket failed (${why(removed)})`,
        removed.ok ? "removed" : "bucket left",
      );
    } else {
      this.report.add(
        "cleanup",
        "ok",
        `the ${this.written.size} probe objects ` +
          `(${this.base}…) are removed`,
        "removed",
      );
    }
  }
}
