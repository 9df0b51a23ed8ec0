/**
 * What the read-only commands (ls, diff, cat, snapshots) share: the bucket opened without a
 * lock (it must still carry spare's marker), listed once, and snapshots read by ID.
 */
import type { BlockCodec } from "../codec/mod.ts";
import type { Bucket, BucketListing } from "../bucket/mod.ts";
import {
  readSnapshotTable,
  resolveSnapshot,
  SNAPSHOT_PREFIX,
  type SnapshotTable,
} from "../snapshot/mod.ts";
import { type CommandContext, openCodec } from "./context.ts";

/** A bucket opened for reading: its codec and one listing. */
export interface ReadOnlyBucket {
  bucket: Bucket;
  codec: BlockCodec;
  listing: BucketListing;
}

/** One snapshot read from the bucket. */
export interface ChosenSnapshot {
  /** The ULID, without `snapshot_`. */
  id: string;
  name: string;
  /** Its paths sorted, read compactly (lib/snapshot/table.ts). */
  table: SnapshotTable;
}

/** Opens the bucket without taking the lock; refuses a bucket that is not spare's. */
export async function openForReading(context: CommandContext): Promise<ReadOnlyBucket> {
  const { bucket } = context.connect();
  await bucket.checkMarker();
  const codec = await openCodec(context, bucket);
  return { bucket, codec, listing: await bucket.listing() };
}

/** Reads the snapshot `id` (a ULID or `latest`; undefined is latest). */
export async function readChosenSnapshot(
  view: ReadOnlyBucket,
  id: string | undefined,
): Promise<ChosenSnapshot> {
  const name = resolveSnapshot(view.listing, id);
  const table = await readSnapshotTable(view.bucket, view.codec, view.listing, name);
  return { id: name.slice(SNAPSHOT_PREFIX.length), name, table };
}

/** The directory a snapshot backed up, from its identity `host:path:inode`, for hints. */
export function backedUpPath(snapshot: { identity: string }): string {
  const { identity } = snapshot;
  const start = identity.indexOf(":");
  const end = identity.lastIndexOf(":");
  return start >= 0 && end > start ? identity.slice(start + 1, end) : identity;
}
