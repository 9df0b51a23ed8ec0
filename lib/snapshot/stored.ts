/** Reading snapshots from a bucket. */
import { createHash } from "node:crypto";
import type { BlockCodec } from "../codec/mod.ts";
import type { Bucket, BucketListing } from "../bucket/mod.ts";
import { SpareError } from "../util/mod.ts";
import { type JsonInnerSink, JsonPieceParser } from "./json_stream.ts";
import { SYMLINKS_FIELD } from "./legacy_symlinks.ts";
import { SnapshotTable } from "./table.ts";
import {
  decodeParsedSnapshot,
  hasTopLevel,
  isJsonObject,
  isSnapshotPrefix,
  notJson,
  SNAPSHOT_PREFIX,
  type SnapshotData,
} from "./snapshot.ts";

/** The error of metadata without files, structure or identity. */
function damaged(name: string): SpareError {
  return new SpareError(`snapshot ${name} is damaged: files, structure or identity is missing`);
}

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
  return decodeParsedSnapshot(await downloadMetadata(bucket, codec, listing, name), name);
}

/**
 * One snapshot's metadata, parsed as JSON block by block as the blocks arrive
 * (lib/snapshot/json_stream.ts): the whole metadata never exists, neither as bytes nor as
 * text (for 300,000 paths, about 60 MB each). With `kept`, its length and SHA-256 are taken
 * too, and its blocks' .xz bytes kept.
 */
async function downloadMetadata(
  bucket: Bucket,
  codec: BlockCodec,
  listing: BucketListing,
  name: string,
  kept?: StoredMetadata,
  sink?: JsonInnerSink,
): Promise<unknown> {
  const info = listing.prefixes.get(name);
  if (!info?.complete) {
    throw new SpareError(`snapshot ${name.replace(SNAPSHOT_PREFIX, "")} does not exist`);
  }
  const hash = kept && createHash("sha256");
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const parser = new JsonPieceParser(sink);
  /** Parses the next piece of text (the rest, without `block`); bad UTF-8 or JSON is damage. */
  const parse = (block?: Uint8Array) => {
    try {
      if (block) parser.push(decoder.decode(block, { stream: true }));
      else {
        parser.push(decoder.decode());
        return parser.end();
      }
    } catch (err) {
      // bad UTF-8 (TextDecoder's TypeError) or bad JSON; anything else is ours, not the data's
      if (err instanceof SyntaxError || err instanceof TypeError) throw notJson(name, err);
      throw err;
    }
  };
  for await (const block of bucket.readPrefix(info, codec, undefined, kept?.xz)) {
    hash?.update(block);
    if (kept) kept.length += block.length;
    parse(block);
  }
  const parsed = parse();
  if (kept && hash) kept.sha256 = new Uint8Array(hash.digest());
  return parsed;
}

/**
 * Reads one snapshot's metadata into a SnapshotTable as it downloads (nothing of it held as
 * objects), checked as readSnapshot checks it.
 */
export async function readSnapshotTable(
  bucket: Bucket,
  codec: BlockCodec,
  listing: BucketListing,
  name: string,
): Promise<SnapshotTable> {
  const table = new SnapshotTable();
  const parsed = await downloadMetadata(bucket, codec, listing, name, undefined, table.take);
  if (!hasTopLevel(parsed)) throw damaged(name);
  if (parsed[SYMLINKS_FIELD] !== undefined && !isJsonObject(parsed[SYMLINKS_FIELD])) {
    throw new SpareError(
      `snapshot ${name} is damaged: ${SYMLINKS_FIELD} is not a map of paths to symlinks`,
    );
  }
  table.identity = parsed.identity;
  table.finish();
  return table;
}

/** A snapshot's metadata as stored: its length, its SHA-256, its blocks' .xz bytes. */
export interface StoredMetadata {
  length: number;
  sha256: Uint8Array;
  xz: Uint8Array[];
}

/**
 * Reads one snapshot's metadata into `sink` as it downloads (each list of `files`, each entry
 * of `structure` and `symlinks`, as the JSON parser hands them out: nothing else holds them),
 * and keeps its stored form: a create whose new metadata is the same, byte for byte, stores
 * those .xz blocks again instead of compressing. Returns the snapshot's identity. The entries
 * are not checked here: the sink checks what it uses.
 */
export async function readSnapshotInto(
  bucket: Bucket,
  codec: BlockCodec,
  listing: BucketListing,
  name: string,
  sink: JsonInnerSink,
): Promise<{ identity: string; stored: StoredMetadata }> {
  const stored: StoredMetadata = { length: 0, sha256: new Uint8Array(0), xz: [] };
  const parsed = await downloadMetadata(bucket, codec, listing, name, stored, sink);
  if (!hasTopLevel(parsed)) throw damaged(name);
  return { identity: parsed.identity, stored };
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
