/** Reading snapshots from a bucket. */
import { createHash } from "node:crypto";
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
  return decodeSnapshot(await downloadMetadata(bucket, codec, listing, name), name);
}

/** One snapshot's metadata as bytes; with `keptXz`, its blocks' .xz bytes go there too. */
async function downloadMetadata(
  bucket: Bucket,
  codec: BlockCodec,
  listing: BucketListing,
  name: string,
  keptXz?: Uint8Array[],
): Promise<Uint8Array> {
  const info = listing.prefixes.get(name);
  if (!info?.complete) {
    throw new SpareError(`snapshot ${name.replace(SNAPSHOT_PREFIX, "")} does not exist`);
  }
  const blocks: Uint8Array[] = [];
  for await (const block of bucket.readPrefix(info, codec, undefined, keptXz)) blocks.push(block);
  return concatBytes(blocks);
}

/** A snapshot's metadata as stored: its length, its SHA-256, its blocks' .xz bytes. */
export interface StoredMetadata {
  length: number;
  sha256: Uint8Array;
  xz: Uint8Array[];
}

/**
 * Reads one snapshot as readSnapshot does, and keeps its stored form: a create whose new
 * metadata is the same, byte for byte, stores those .xz blocks again instead of compressing.
 */
export async function readSnapshotKeepingMetadata(
  bucket: Bucket,
  codec: BlockCodec,
  listing: BucketListing,
  name: string,
): Promise<{ snapshot: SnapshotData; stored: StoredMetadata }> {
  const xz: Uint8Array[] = [];
  const text = await downloadMetadata(bucket, codec, listing, name, xz);
  const snapshot = decodeSnapshot(text, name);
  const sha256 = new Uint8Array(createHash("sha256").update(text).digest());
  return { snapshot, stored: { length: text.length, sha256, xz } };
}

/** True when `metadata`, its blocks joined, is byte for byte what `stored` holds. */
export function isStoredMetadata(
  stored: StoredMetadata,
  metadata: Iterable<Uint8Array>,
): boolean {
  const hash = createHash("sha256");
  let length = 0;
  for (const block of metadata) {
    length += block.length;
    if (length > stored.length) return false;
    hash.update(block);
  }
  if (length !== stored.length) return false;
  const digest = hash.digest();
  return digest.every((byte, i) => byte === stored.sha256[i]);
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
