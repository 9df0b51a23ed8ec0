/**
 * restore: the `restore` run: rebuilding a snapshot (or the selected part of it) into a
 * target directory, every file checked against its digest before it gets its name
 * (restore.ts); every write into the target, without following a symlink (target.ts).
 *
 * May import: snapshot, bucket, codec, util.
 */
export { FullDiskError, prepareTarget, restoreSnapshot, writeAll } from "./restore.ts";
