/**
 * bucket: one spare bucket (0.4.0's "envoy"): the `.spare` marker, `.spare-kdf`, the `.lock`
 * and holding it for a run, and prefixes stored as numbered encrypted blocks, block 1 last
 * (docs/FORMAT.md, "Keys of a bucket").
 *
 * May import: s3, codec, crypto, util.
 */
export { Bucket, type BucketListing, LOCK_KEY, MARKER_KEY, prefixDamage } from "./bucket.ts";
export { bucketLock, hostName, lockedError, lockHolder, withLock } from "./lock.ts";
export {
  describeLockHolder,
  LOCK_OBJECTS,
  parseLockHolder,
  removeAllLocks,
} from "./lock_protocol.ts";
