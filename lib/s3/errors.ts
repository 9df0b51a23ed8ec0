/**
 * What went wrong with an S3 request: the errors spare raises itself for bodies and
 * deadlines, which faults are worth another attempt, and the one line an operator reads.
 */
import { S3ServiceException } from "@aws-sdk/client-s3";
import { SpareError } from "../util/mod.ts";

const RETRYABLE_NETWORK =
  /ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|socket hang up|terminated|aborted|premature|network|timed? ?out|Connection|reset|closed/i;

/**
 * An SDK or network error as one line: `S3 <where> failed: <reason>`, with the reasons an
 * operator can act on (keys rejected, access denied, no such host, connection refused,
 * a garbled or cut answer) said in words.
 */
export function describeS3Error(
  where: string,
  err: unknown,
  connection: { endpoint?: string; region?: string } = {},
): SpareError {
  if (err instanceof SpareError) return err;
  const name = errorName(err);
  const status = httpStatus(err);
  const tls = tlsProblem(err, connection.endpoint);
  const expectedRegion = regionExpected(err);
  let reason: string;
  if (tls) {
    reason = tls;
  } else if (/sys access to "ca"/.test(firstLine(err))) {
    reason = "no system certificate store was found, and Deno's own roots cannot be read " +
      "while NODE_EXTRA_CA_CERTS is set: give the CA certificates with --ca-cert FILE " +
      "(SPARE_CA_CERT) or SSL_CERT_FILE";
  } else if (err instanceof Error && err.name === "ProxyError") {
    reason = err.message;
  } else if (expectedRegion && expectedRegion !== connection.region) {
    reason = `the bucket is in region ${expectedRegion}, not ${
      connection.region ?? "the one given"
    }: use --region ${expectedRegion} (SPARE_REGION)`;
  } else if (status === 301 || name === "PermanentRedirect") {
    reason = "the server redirects to another endpoint (PermanentRedirect): the bucket is in " +
      "another region; give its endpoint with --endpoint and its region with --region";
  } else if (/virtual[- ]hosted|path[- ]style/i.test(firstLine(err)) && status === 400) {
    reason = `the server refuses path-style requests (${firstLine(err)}): use --addressing ` +
      `virtual (SPARE_ADDRESSING)`;
  } else if (status === 400 && /^(Unknown|BadRequest|400)$/.test(name ?? "")) {
    reason = "HTTP 400 without a reason (as answers to HEAD requests come): the usual causes " +
      "are a wrong --region, or a server that takes virtual-hosted requests only " +
      "(try --addressing virtual)";
  } else if (status === 407) {
    reason = "the proxy asks for credentials (HTTP 407): put them in HTTP_PROXY as " +
      "http://user:password@host:port";
  } else if (name === "InvalidAccessKeyId" || name === "SignatureDoesNotMatch") {
    reason = "the access key or secret key was rejected";
  } else if (name === "InvalidBucketName") {
    reason = "the server refuses the bucket's name (S3 bucket names are 3 to 63 lowercase " +
      "letters, digits, dots and hyphens)";
  } else if (name === "AccessDenied" || status === 403) {
    reason =
      "access denied: the access key or secret key is wrong, or has no access to this bucket";
  } else if (/ENOTFOUND|EAI_AGAIN|getaddrinfo|dns error|failed to lookup/i.test(String(err))) {
    reason = "the endpoint's host name does not resolve";
  } else if (/ECONNREFUSED|Connection refused/i.test(String(err))) {
    reason = "connection refused";
  } else if (isGarbledAnswer(err)) {
    reason = `the answer could not be read (${firstLine(err)})`;
  } else if (/^(aborted|premature close|socket hang up)$/i.test(firstLine(err))) {
    reason = `the connection closed before the answer was complete (${firstLine(err)})`;
  } else if (err instanceof S3ServiceException) {
    reason = `${name}${status ? ` (HTTP ${status})` : ""}${
      err.message && err.message !== name ? `: ${err.message}` : ""
    }`;
  } else {
    reason = firstLine(err);
  }
  return new SpareError(`S3 ${where} failed: ${reason}`, 1, { cause: err });
}

const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
]);

/**
 * A certificate or TLS problem said with the setting that fixes it, or undefined when `err`
 * is none.
 */
export function tlsProblem(err: unknown, endpoint = "the endpoint"): string | undefined {
  // An answer from the server (ExpiredToken, ...) is no TLS problem.
  if (err instanceof S3ServiceException || httpStatus(err) !== undefined) return undefined;
  const code = err && typeof err === "object" ? (err as { code?: unknown }).code : undefined;
  const text = firstLine(err);
  if (
    (typeof code === "string" && UNTRUSTED.has(code)) ||
    /UnknownIssuer|unable to verify|self[- ]signed certificate|unable to get (local )?issuer/i
      .test(text)
  ) {
    return `the certificate of ${endpoint} is not signed by a trusted CA (${text}): give ` +
      `the CA's PEM file with --ca-cert FILE (SPARE_CA_CERT), or add it to the system's ` +
      `certificate store (SSL_CERT_FILE)`;
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID" || /NotValidForName|altnames/i.test(text)) {
    return `the certificate of ${endpoint} is not for the host name requested (${text}): ` +
      `check --endpoint, or try --addressing path (a bucket name in the host name needs a ` +
      `certificate for it)`;
  }
  if (
    code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID" || /Expired|NotValidYet/i
      .test(text)
  ) {
    return `the certificate of ${endpoint} is expired or not yet valid (${text}): check this ` +
      `machine's clock, or renew the server's certificate`;
  }
  if (/wrong version number|InvalidContentType|CorruptMessage|http request/i.test(text)) {
    return `${endpoint} does not answer TLS (${text}): if the server speaks plain HTTP, ` +
      `give --endpoint with http://`;
  }
  return undefined;
}

/** The region an S3 error says the bucket or signature needs, when it says one. */
export function regionExpected(err: unknown): string | undefined {
  if (!err || typeof err !== "object") return undefined;
  const e = err as {
    Region?: unknown;
    message?: unknown;
    $response?: { headers?: Record<string, string | undefined> };
  };
  const name = errorName(err);
  const named = name === "AuthorizationHeaderMalformed" || name === "PermanentRedirect";
  const status = httpStatus(err);
  const header = e.$response?.headers?.["x-amz-bucket-region"];
  if ((named || status === 301 || status === 400) && typeof header === "string" && header) {
    return header;
  }
  if (!named) return undefined;
  if (typeof e.Region === "string" && e.Region) return e.Region;
  const said = /expecting '([^']+)'/.exec(String(e.message ?? ""));
  return said?.[1];
}

/** A request that got no (complete) answer in time. */
export class RequestTimeoutError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = "RequestTimeoutError";
  }
}

/** A response body whose length is not the object's size in the listing. */
export class BodyLengthError extends Error {
  constructor(received: number, size: number) {
    super(`the server sent ${received} bytes of an object the listing says has ${size}`);
    this.name = "BodyLengthError";
  }
}

/** A response body that ended before its announced length. */
export class TruncatedBodyError extends Error {
  constructor(detail: string) {
    super(`response body cut short (${detail})`);
    this.name = "TruncatedBodyError";
  }
}

/** An error's message up to its first line break (SDK messages add hints below). */
function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message || err.name : String(err);
  return text.split("\n")[0].trim();
}

/**
 * A successful status whose body did not parse (a cut or garbled listing): the SDK's
 * deserializer attaches the raw response to such errors.
 */
function isGarbledAnswer(err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof S3ServiceException || !("$response" in err)) {
    return false;
  }
  const status = httpStatus(err);
  return status === undefined || (status >= 200 && status < 300);
}

/** A 404: no such key, or no such bucket. */
export function isNotFound(err: unknown): boolean {
  const name = errorName(err);
  return httpStatus(err) === 404 || name === "NotFound" || name === "NoSuchKey" ||
    name === "NoSuchBucket";
}

/** The error's S3 code or name. */
export function errorName(err: unknown): string | undefined {
  if (err && typeof err === "object") {
    const e = err as { name?: string; Code?: string; code?: string };
    return e.Code ?? e.name ?? e.code;
  }
  return undefined;
}

/** The HTTP status of an SDK error's answer, when it had one. */
export function httpStatus(err: unknown): number | undefined {
  if (err && typeof err === "object" && "$metadata" in err) {
    return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  }
  return undefined;
}

/**
 * True for faults worth another attempt: network, timeouts, throttling, 5xx but 501, cut bodies,
 * bodies of the wrong length, answers that do not parse.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof Error && err.name === "ProxyError") {
    return (err as Error & { transient?: boolean }).transient === true;
  }
  if (tlsProblem(err) !== undefined) return false;
  if (
    err instanceof TruncatedBodyError || err instanceof BodyLengthError ||
    err instanceof RequestTimeoutError || isGarbledAnswer(err)
  ) return true;
  const status = httpStatus(err);
  // 501 Not Implemented is a lasting answer: the server does not do what was asked
  if (status !== undefined) {
    return (status >= 500 && status !== 501) || status === 429 || status === 408;
  }
  const name = errorName(err) ?? "";
  if (/Timeout|Throttl|SlowDown|RequestTimeTooSkewed/.test(name)) return true;
  if (/ENOTFOUND|EAI_AGAIN/.test(String(err))) return false;
  return RETRYABLE_NETWORK.test(`${name} ${err instanceof Error ? err.message : String(err)}`);
}
