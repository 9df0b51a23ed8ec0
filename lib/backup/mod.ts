/**
 * backup: the `create` run (backup.ts): scanning the tree into compact columns (scan.ts,
 * tree.ts), the previous snapshot as hashed rows (previous.ts), reading files that may
 * change while they are read and uploading each new content once (upload.ts,
 * file_reader.ts), writing the snapshot from the columns (snapshot_source.ts), and pruning
 * the bucket to the snapshots kept (prune.ts).
 *
 * May import: snapshot, bucket, codec, util.
 */
export { createSnapshot } from "./backup.ts";
export { parseDuration } from "./prune.ts";
export { skipMatcher } from "./scan.ts";
