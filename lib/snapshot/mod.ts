/**
 * snapshot: a snapshot's metadata: its JSON format (files, structure, identity, and our
 * symlinks field for the links 0.4.0 cannot restore), the checks every decoded entry passes
 * before anything acts on it, reading snapshots from the bucket as they download (as objects,
 * or compactly as a SnapshotTable), selecting paths for a partial restore, and comparing two
 * snapshots (docs/FORMAT.md, "Snapshot metadata").
 *
 * May import: bucket, codec, util.
 */
export { ancestorsOf, describeRefused, displayPath, entryProblem, parentPath } from "./check.ts";
export { countChanges, diffSnapshots } from "./diff.ts";
export { legacyTarget, shownSymlinks } from "./legacy_symlinks.ts";
export { type Selection, selectSnapshot } from "./select.ts";
export { SnapshotTable } from "./table.ts";
export {
  type DirectoryEntry,
  encodeSnapshotBlocks,
  encodeSourceBlocks,
  type Entry,
  type FileEntry,
  newSnapshotPrefix,
  SNAPSHOT_PREFIX,
  type SnapshotData,
  type SnapshotSource,
  type SymlinkEntry,
  ulidTime,
} from "./snapshot.ts";
export {
  isStoredMetadata,
  readSnapshot,
  readSnapshotInto,
  readSnapshotTable,
  resolveSnapshot,
  snapshotNames,
  type StoredMetadata,
} from "./stored.ts";
