/**
 * `spare doctor`'s first probes, all read-only: is the endpoint reachable, does TLS pass,
 * are the keys accepted, how far apart are the clocks, which region and addressing the
 * server takes, and whether the bucket exists and is spare's.
 */
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
} from "@aws-sdk/client-s3";
import {
  describeLockHolder,
  LOCK_KEY,
  LOCK_OBJECTS,
  MARKER_KEY,
  parseLockHolder,
} from "../bucket/mod.ts";
import { defaultAddressing, endpointUrl, ObjectStore, type S3Config } from "../s3/mod.ts";
import { type Answer, describeAnswer, probe, type ProbeResult } from "./probe.ts";
import type { ReportBuilder } from "./report.ts";

/** Clock skew beyond which S3 refuses requests (RequestTimeTooSkewed). */
const SKEW_REFUSED_SECONDS = 15 * 60;
/** Clock skew worth a warning. */
const SKEW_WARN_SECONDS = 60;

/** What the connection probes settled on, for the write probes. */
export interface Connected {
  store: ObjectStore;
  config: S3Config;
  /** The bucket did not exist and the doctor created it (to be removed at the end). */
  created: boolean;
  /** The bucket holds objects but no `.spare` marker. */
  foreign: boolean;
}

type Listing = ProbeResult<ListObjectsV2CommandOutput>;

function listFirst(store: ObjectStore, bucket: string, maxKeys = 2): Promise<Listing> {
  return probe(store, new ListObjectsV2Command({ Bucket: bucket, MaxKeys: maxKeys }));
}

/** The clock skew (local minus server) in seconds from an answer's Date header. */
export function clockSkewSeconds(answer: Answer): number | undefined {
  const date = answer.headers["date"];
  if (!date) return undefined;
  const server = Date.parse(date);
  if (Number.isNaN(server)) return undefined;
  // Date has whole seconds: the server's clock was somewhere in [server, server + 1 s).
  const skew = (answer.localMidpoint - (server + 500)) / 1000;
  return Math.abs(skew) < 1 ? 0 : Math.round(skew);
}

/** Says how far the clocks are apart. */
export function judgeClock(report: ReportBuilder, answer: Answer): void {
  const skew = clockSkewSeconds(answer);
  if (skew === undefined) {
    report.add("clock", "warn", "the server sent no Date header: skew not measured");
    return;
  }
  const size = Math.abs(skew);
  const words = size === 0
    ? "within a second of the server's Date"
    : `${size} s ${skew > 0 ? "ahead of" : "behind"} the server's Date`;
  if (size >= SKEW_REFUSED_SECONDS) {
    report.add(
      "clock",
      "fail",
      `this machine's clock is ${words}: S3 refuses requests signed ` +
        `more than 15 minutes off; set the clock (NTP)`,
      `${skew}`,
    );
  } else if (size >= SKEW_WARN_SECONDS) {
    report.add("clock", "warn", `this machine's clock is ${words}; set it (NTP)`, `${skew}`);
  } else {
    report.add("clock", "ok", `this machine's clock is ${words}`, `${skew}`);
  }
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || /^127\./.test(hostname) || hostname === "[::1]";
}

function isIpAddress(hostname: string): boolean {
  return /^\d+\.\d+\.\d+\.\d+$/.test(hostname) || hostname.startsWith("[");
}

/** The first request: reachability and TLS; false when nothing answered. */
function judgeReachable(report: ReportBuilder, url: URL, first: Listing): boolean {
  const where = `${url.host}`;
  if (first.ok || first.answer) {
    const ms = Math.round(first.answer.elapsedMs);
    report.add("endpoint", "ok", `${where} answered in ${ms} ms`, "reachable");
    if (url.protocol === "https:") {
      report.add("tls", "ok", "the server's certificate is trusted", "trusted");
    } else {
      report.add(
        "tls",
        isLoopback(url.hostname) ? "ok" : "warn",
        "not used (http://): requests and keys' signatures travel unencrypted",
        "plain http",
      );
    }
    return true;
  }
  switch (first.noAnswer) {
    case "tls":
      report.add("endpoint", "ok", `${where} accepts connections`, "reachable");
      report.add(
        "tls",
        "fail",
        `the server's certificate is not trusted (${first.detail}); for a private CA, give ` +
          `its PEM file with --ca-cert FILE (or SPARE_CA_CERT)`,
        "untrusted",
      );
      report.advise("--ca-cert FILE");
      break;
    case "not tls":
      report.add("endpoint", "ok", `${where} accepts connections`, "reachable");
      report.add(
        "tls",
        "fail",
        `the server does not answer in TLS on this port (${first.detail}): if it speaks plain ` +
          `HTTP, give the endpoint as http://${url.host}`,
        "not tls",
      );
      break;
    case "permission":
      report.add("endpoint", "fail", `spare lacks a permission to connect: ${first.detail}`);
      break;
    case "dns":
      report.add("endpoint", "fail", `the host name ${url.hostname} does not resolve`, "dns");
      break;
    case "refused":
      report.add("endpoint", "fail", `${where} refuses connections (nothing listens there?)`);
      break;
    case "timeout":
      report.add("endpoint", "fail", `${where} did not answer in time (${first.detail})`);
      break;
    default:
      report.add("endpoint", "fail", `no answer from ${where}: ${first.detail}`);
  }
  return false;
}

/**
 * Runs the read-only probes: reachable, TLS, clock, credentials, region, addressing and the
 * bucket. Returns the connection to probe further with, or undefined when a failure stops.
 */
export async function probeConnection(
  report: ReportBuilder,
  given: S3Config,
  bucket: string,
): Promise<Connected | undefined> {
  let config = given;
  const url = new URL(endpointUrl(given.endpoint));
  let store = new ObjectStore(config);
  let first = await listFirst(store, bucket);
  if (!judgeReachable(report, url, first)) return close(store);
  const answers = [first.answer!];
  // A region the server names as the one it expects: try again with it.
  const named = first.ok ? undefined : first.answer?.region;
  const region = given.region ?? "us-east-1";
  if (!first.ok && named && named !== region && isRegionComplaint(first.answer!)) {
    report.add(
      "region",
      "fail",
      `the server expects region ${named}, not ${region}: ` +
        `use --region ${named} (or SPARE_REGION=${named})`,
      named,
    );
    report.advise(`--region ${named}`);
    store.close();
    config = { ...config, region: named };
    store = new ObjectStore(config);
    first = await listFirst(store, bucket);
  }
  const answer = first.answer!;
  judgeClock(report, [answer, ...answers].find((a) => a.headers["date"]) ?? answer);
  if (
    !first.ok && (answer.code === "InvalidAccessKeyId" || answer.code === "SignatureDoesNotMatch")
  ) {
    report.add(
      "credentials",
      "fail",
      `the access key or secret key was rejected ` +
        `(${describeAnswer(answer)})`,
      "rejected",
    );
    return close(store);
  }
  if (!first.ok && answer.code === "RequestTimeTooSkewed") {
    const clock = report.checks.find((c) => c.name === "clock")!;
    clock.status = "fail";
    clock.message = `the server refuses requests signed with this machine's time ` +
      `(RequestTimeTooSkewed); ${clock.message}; set the clock (NTP)`;
    return close(store);
  }
  const addressing = await probeAddressing(report, config, bucket, url, first);
  if (addressing) {
    store.close();
    config = addressing.config;
    store = new ObjectStore(config);
    first = addressing.first;
  }
  const final = first.answer!;
  if (!report.checks.some((c) => c.name === "region")) {
    const which = given.region === undefined ? " (the default)" : "";
    report.add("region", "ok", `${region}${which} is accepted`, region);
  }
  if (first.ok) {
    report.add("credentials", "ok", "the keys are accepted and may list the bucket", "accepted");
    return await judgeBucket(report, store, config, bucket, first.value);
  }
  if (final.status === 404 || final.code === "NoSuchBucket") {
    report.add("credentials", "ok", "the keys are accepted", "accepted");
    return await createForProbes(report, store, config, bucket);
  }
  if (final.status === 403) {
    report.add(
      "credentials",
      "fail",
      `the keys are accepted but may not list bucket ` +
        `${bucket} (${describeAnswer(final)})`,
      "denied",
    );
    return close(store);
  }
  report.add("bucket", "fail", `listing bucket ${bucket} failed: ${describeAnswer(final)}`);
  return close(store);
}

function close(store: ObjectStore): undefined {
  store.close();
  return undefined;
}

function isRegionComplaint(answer: Answer): boolean {
  return answer.code === "AuthorizationHeaderMalformed" || answer.code === "PermanentRedirect" ||
    answer.code === "IllegalLocationConstraintException" || answer.status === 301 ||
    answer.code === "InvalidRegion" || answer.code === "SignatureDoesNotMatch";
}

/**
 * Tries the other addressing (bucket in the host name instead of the path, or back). Returns
 * the other configuration when only it works, so the remaining probes use it.
 */
async function probeAddressing(
  report: ReportBuilder,
  config: S3Config,
  bucket: string,
  url: URL,
  first: Listing,
): Promise<{ config: S3Config; first: Listing } | undefined> {
  const mine = config.addressing ?? defaultAddressing(config.endpoint);
  const other = mine === "path" ? "virtual" : "path";
  const name = (style: string) => style === "path" ? "path-style" : "virtual-hosted";
  const givenWorks = first.ok || first.answer?.status === 404 ||
    first.answer?.code === "NoSuchBucket" || first.answer?.status === 403;
  if (isIpAddress(url.hostname)) {
    const status = givenWorks ? "ok" : "fail";
    report.add(
      "addressing",
      status,
      `${name("path")} ${givenWorks ? "accepted" : "refused"}` +
        ` (${givenWorks ? "" : `${describeAnswer(first.answer!)}; `}virtual-hosted needs a host ` +
        `name, not an IP address)`,
      givenWorks ? "path" : "refused",
    );
    return undefined;
  }
  const otherConfig = { ...config, addressing: other } as S3Config;
  const otherStore = new ObjectStore(otherConfig);
  const tried = await listFirst(otherStore, bucket);
  otherStore.close();
  // A listing of this very bucket proves an addressing; a 404 only that the request was
  // understood (the bucket may be missing, or the server took the path for something else).
  const otherLists = tried.ok && tried.value.Name === bucket;
  const otherWorks = otherLists || !tried.ok && tried.answer?.code === "NoSuchBucket";
  const otherWords = otherWorks
    ? "accepted"
    : `not accepted (${
      tried.ok
        ? "the answer is not this bucket's listing"
        : tried.answer
        ? describeAnswer(tried.answer)
        : tried.detail
    })`;
  if (givenWorks && (first.ok || !otherLists)) {
    report.add(
      "addressing",
      "ok",
      `${name(mine)} accepted (in use); ${name(other)} ${otherWords}`,
      mine,
    );
    return undefined;
  }
  if (otherLists || otherWorks && !givenWorks) {
    report.add(
      "addressing",
      "fail",
      `${name(mine)} ${first.answer?.status === 404 ? "does not find the bucket" : "refused"} ` +
        `(${describeAnswer(first.answer!)}); ` +
        `${name(other)} accepted: use --addressing ${other} (or SPARE_ADDRESSING=${other})`,
      other,
    );
    report.advise(`--addressing ${other}`);
    return { config: otherConfig, first: tried };
  }
  return undefined;
}

/** The bucket exists: is it spare's, empty, or someone else's; is it locked now. */
async function judgeBucket(
  report: ReportBuilder,
  store: ObjectStore,
  config: S3Config,
  bucket: string,
  listing: ListObjectsV2CommandOutput,
): Promise<Connected | undefined> {
  const marker = await probe(store, new HeadObjectCommand({ Bucket: bucket, Key: MARKER_KEY }));
  const hasObjects = (listing.KeyCount ?? listing.Contents?.length ?? 0) > 0;
  if (!marker.ok && marker.answer?.status !== 404) {
    report.add(
      "bucket",
      "fail",
      `bucket ${bucket} exists, but reading its ${MARKER_KEY} ` +
        `failed: ${marker.answer ? describeAnswer(marker.answer) : marker.detail}`,
    );
    return close(store);
  }
  if (marker.ok) {
    const lock = await lockNote(store, bucket);
    report.add(
      "bucket",
      "ok",
      `bucket ${bucket} exists and holds a spare bucket (${MARKER_KEY} ` +
        `marker)${lock}`,
      "spare",
    );
    return { store, config, created: false, foreign: false };
  }
  if (!hasObjects) {
    report.add(
      "bucket",
      "ok",
      `bucket ${bucket} exists and is empty: spare create will ` +
        `make it a spare bucket`,
      "empty",
    );
    return { store, config, created: false, foreign: false };
  }
  report.add(
    "bucket",
    "fail",
    `bucket ${bucket} holds objects but no ${MARKER_KEY} marker: ` +
      `it is not a spare bucket and spare refuses to touch it; choose another bucket`,
    "foreign",
  );
  return { store, config, created: false, foreign: true };
}

/** "; locked now by …" when `.lock` exists, and how many lock objects of runs there are. */
async function lockNote(store: ObjectStore, bucket: string): Promise<string> {
  const lock = await probe<{ Body?: { transformToByteArray(): Promise<Uint8Array> } }>(
    store,
    new GetObjectCommand({ Bucket: bucket, Key: LOCK_KEY, Range: "bytes=0-4095" }),
  );
  const objects = await probe<ListObjectsV2CommandOutput>(
    store,
    new ListObjectsV2Command({ Bucket: bucket, Prefix: LOCK_OBJECTS, MaxKeys: 100 }),
  );
  const count = objects.ok ? objects.value.KeyCount ?? objects.value.Contents?.length ?? 0 : 0;
  const more = objects.ok && objects.value.IsTruncated ? " or more" : "";
  const runs = count ? `; ${count}${more} lock object(s) of runs under ${LOCK_OBJECTS}` : "";
  if (!lock.ok) return runs;
  const holder = parseLockHolder(await lock.value.Body?.transformToByteArray() ?? new Uint8Array());
  return `; it is locked now by ${describeLockHolder(holder)}${runs}`;
}

/** The bucket does not exist: may it be created? It is, and removed again at the end. */
async function createForProbes(
  report: ReportBuilder,
  store: ObjectStore,
  config: S3Config,
  bucket: string,
): Promise<Connected | undefined> {
  const created = await probe(store, new CreateBucketCommand({ Bucket: bucket }));
  if (created.ok) {
    report.add(
      "bucket",
      "ok",
      `bucket ${bucket} does not exist; it may be created (spare ` +
        `create will): created for the probes, removed again at the end`,
      "may be created",
    );
    return { store, config, created: true, foreign: false };
  }
  report.add(
    "bucket",
    "fail",
    `bucket ${bucket} does not exist and may not be created (${
      created.answer ? describeAnswer(created.answer) : created.detail
    }): create it with the provider's tools, or give another --bucket`,
    "missing",
  );
  return close(store);
}
