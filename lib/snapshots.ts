/** Reading snapshots from a bucket. */
import type { BlockCodec } from "./block.ts";
import type { Bucket, BucketListing } from "./bucket.ts";
import { SpareError } from "./errors.ts";
import {
  decodeSnapshot,
  isSnapshotPrefix,
  SNAPSHOT_PREFIX,
  type SnapshotData,
} from "./snapshot.ts";
import { concatBytes } from "./xz.ts";

/** Names of the complete snapshots of a listing, oldest first. */
export function snapshotNames(listing: BucketListing): string[] {
  return [...listing.prefixes.values()]
    .filter((p) => p.complete && isSnapshotPrefix(p.name))
    .map((p) => p.name)
    .sort();
}

/** Downloads and decodes one snapshot's metadata. */
export async function readSnapshot(
  bucket: Bucket,
  codec: BlockCodec,
  listing: BucketListing,
  name: string,
): Promise<SnapshotData> {
  const info = listing.prefixes.get(name);
  if (!info?.complete) {
    throw new SpareError(`snapshot ${name.replace(SNAPSHOT_PREFIX, "")} does not exist`);
  }
  const blocks: Uint8Array[] = [];
  for await (const block of bucket.readPrefix(info, codec)) blocks.push(block);
  return decodeSnapshot(concatBytes(blocks), name);
}

/** Finds a snapshot by ULID (with or without `snapshot_`) or "latest". */
export function resolveSnapshot(listing: BucketListing, id: string | undefined): string {
  const names = snapshotNames(listing);
  if (names.length === 0) throw new SpareError("the bucket holds no snapshot");
  if (!id || id === "latest") return names.at(-1)!;
  const name = id.startsWith(SNAPSHOT_PREFIX) ? id : SNAPSHOT_PREFIX + id.toUpperCase();
  if (!names.includes(name)) {
    throw new SpareError(
      `snapshot ${id} does not exist; the bucket holds ${
        names.map((n) => n.slice(SNAPSHOT_PREFIX.length)).join(", ")
      }`,
    );
  }
  return name;
}
