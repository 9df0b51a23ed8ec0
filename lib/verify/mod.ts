/**
 * verify: the `verify` run: every content (or a sample, or only the block structure)
 * downloaded and checked against its digest, and every snapshot's entries checked as
 * restore checks them.
 *
 * May import: snapshot, bucket, codec, util.
 */
export { verifyBucket, type VerifyScope } from "./verify.ts";
