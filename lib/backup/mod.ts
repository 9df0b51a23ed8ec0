/**
 * backup: the `create` run: scanning the tree (scan.ts), reading files that may change
 * while they are read (file_reader.ts), uploading each new content once, writing the
 * snapshot (backup.ts), and pruning the bucket to the snapshots kept (prune.ts).
 *
 * May import: snapshot, bucket, codec, util.
 */
export { createSnapshot } from "./backup.ts";
export { parseDuration } from "./prune.ts";
export { skipMatcher } from "./scan.ts";
