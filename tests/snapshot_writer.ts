/**
 * Writing snapshots that our `create` would never write (hostile or broken ones) into a test
 * bucket, with our own writer: contents and metadata through Bucket.writePrefix, sealed by
 * BlockCodec with the test's password. The metadata is the builder's objects as JSON, in
 * 0.4.0's key order (encodeSnapshot would sort symlinks out of entries it cannot read).
 */
import { BLOCK_SIZE, BlockCodec } from "../lib/codec/block.ts";
import { digestOf } from "../lib/util/digest.ts";
import { SYMLINKS_FIELD } from "../lib/snapshot/legacy_symlinks.ts";
import { newSnapshotPrefix } from "../lib/snapshot/snapshot.ts";
import { snapshotNames } from "../lib/snapshot/stored.ts";
import type { CliEnv } from "./cli.ts";
import { openBucket } from "./tree.ts";

const MODES = { file: 0o100644, directory: 0o040755, symlink: 0o120777 } as const;

/** A well-formed structure entry of `type`, with `fields` changed or added. */
export function entry(
  type: "file" | "directory" | "symlink",
  fields: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    type,
    user: "root",
    group: "root",
    mode: MODES[type],
    size: type === "file" ? 0 : 4096,
    mtime_ns: 1_700_000_000_000_000_000,
    inode: 1000 + Math.floor(Math.random() * 1_000_000),
    ...(type === "file" ? { empty: true } : {}),
    ...fields,
  };
}

/** Builds `files` and `structure` of a snapshot, one entry at a time, in the order added. */
export class SnapshotBuilder {
  readonly files: Record<string, unknown> = {};
  readonly structure: Record<string, unknown> = {};
  /** Our `symlinks` field (entries 0.4.0 must not see), written when not empty. */
  readonly symlinks: Record<string, unknown> = {};
  /** Contents to upload, by digest. */
  readonly contents = new Map<string, Uint8Array>();

  /** A file with `text` as content, listed in `files` under its digest. */
  async file(path: string, text: string, fields: Record<string, unknown> = {}): Promise<this> {
    const bytes = new TextEncoder().encode(text);
    const digest = await digestOf(bytes);
    this.contents.set(digest, bytes);
    this.list(digest, path);
    this.structure[path] = entry("file", { size: bytes.length, empty: false, ...fields });
    return this;
  }

  /** Adds `path` to the paths of `digest` in `files`. */
  list(digest: string, path: string): this {
    const paths = (this.files[digest] as string[] | undefined) ?? [];
    this.files[digest] = [...paths, path];
    return this;
  }

  /** The content digest of `text` (its content is uploaded). */
  async digest(text: string): Promise<string> {
    const bytes = new TextEncoder().encode(text);
    const digest = await digestOf(bytes);
    this.contents.set(digest, bytes);
    return digest;
  }

  /** Any structure entry, as it is. */
  put(path: string, value: unknown): this {
    this.structure[path] = value;
    return this;
  }
}

/**
 * Creates the bucket of `env` (with its marker) when missing, uploads the builder's contents
 * and writes its snapshot (identity `test:/src:1`); returns the snapshot's ID.
 */
export async function writeSnapshot(env: CliEnv, builder: SnapshotBuilder): Promise<string> {
  const { bucket, close } = openBucket(env);
  try {
    await bucket.ensure();
    const codec = await BlockCodec.fromPassword(env.SPARE_PASSWORD);
    const listing = await bucket.listing();
    for (const [digest, bytes] of builder.contents) {
      if (!listing.prefixes.has(digest)) await bucket.writePrefix(digest, blocks(bytes), codec);
    }
    const name = newSnapshotPrefix(snapshotNames(listing));
    const snapshot: Record<string, unknown> = {
      files: builder.files,
      structure: builder.structure,
      identity: "test:/src:1",
    };
    if (Object.keys(builder.symlinks).length) snapshot[SYMLINKS_FIELD] = builder.symlinks;
    const body = new TextEncoder().encode(JSON.stringify(snapshot));
    await bucket.writePrefix(name, blocks(body), codec);
    return name.slice("snapshot_".length);
  } finally {
    close();
  }
}

function* blocks(data: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < data.length; i += BLOCK_SIZE) yield data.subarray(i, i + BLOCK_SIZE);
}
