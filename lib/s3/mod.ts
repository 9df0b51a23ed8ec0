/**
 * s3: the S3 server as an ObjectStore (over @aws-sdk/client-s3): retries, timeouts, checks
 * of every answer, listings (read by our own scanner, in key ranges), batch deletes. A new
 * quirk of an S3 server or provider is handled here (client.ts, errors.ts), never above.
 *
 * May import: util.
 */
export { type ObjectInfo, ObjectStore } from "./client.ts";
export { listInRanges, type PageOptions } from "./listing_ranges.ts";
export { type Addressing, defaultAddressing, endpointUrl, type S3Config } from "./config.ts";
export { errorName, httpStatus } from "./errors.ts";
export { proxySettings } from "./proxy.ts";
export { caCertFile, trustedCertificates } from "./trust.ts";
export { contentMd5 } from "./request.ts";
