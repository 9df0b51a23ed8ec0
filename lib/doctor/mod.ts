/**
 * doctor: `spare doctor`'s checks of an endpoint and a bucket (reachable, TLS, credentials,
 * clock, region, addressing, the bucket, conditional writes, checksums, the DeleteObjects form,
 * listings), made on probe keys of its own and never on backup data; the report and its lines.
 *
 * May import: bucket, s3, util.
 */
export { runDoctor } from "./doctor.ts";
export { reportLines } from "./report.ts";
