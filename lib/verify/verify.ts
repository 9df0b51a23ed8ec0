/**
 * `verify`: for every snapshot, every entry passes the checks of decoding (lib/snapshot/check.ts:
 * paths, fields, every path in `files` a file in `structure`), and every digest exists,
 * opens, decompresses and hashes to its name. Each digest is downloaded once. `--sample`
 * downloads a seeded random share of the digests; `--structure-only` downloads none and
 * checks from one listing that every digest has all its blocks.
 */
import { BLOCK_SIZE, type BlockCodec } from "../codec/mod.ts";
import { type Bucket, type BucketListing, prefixDamage } from "../bucket/mod.ts";
import {
  BlockAuthError,
  forEachConcurrent,
  type Log,
  type ProgressFigures,
  SpareError,
} from "../util/mod.ts";
import {
  describeRefused,
  readSnapshotTable,
  SNAPSHOT_PREFIX,
  snapshotNames,
  type SnapshotTable,
} from "../snapshot/mod.ts";

/** One thing found wrong, with the paths it affects. */
export interface Problem {
  snapshot?: string;
  digest?: string;
  message: string;
  paths: string[];
}

/** How much `verify` downloads. */
export interface VerifyScope {
  /** Download a random share of the digests: PERCENT of them (at least one), chosen with `seed`. */
  sample?: { percent: number; seed: number };
  /** Download nothing but the snapshots; check that every digest's blocks are all listed. */
  structureOnly?: boolean;
}

/** What `verify` found. */
export interface VerifyResult {
  snapshots: string[];
  /** `full`, `sample` or `structure-only`. */
  mode: string;
  /** Digests the snapshots name. */
  digestsTotal: number;
  digestsChecked: number;
  bytesChecked: number;
  /** The seed of a sample. */
  seed?: number;
  problems: Problem[];
}

/** Checks the snapshots of the listing (all digests, a sample, or only the listing); problems are collected, not thrown. */
export async function verifyBucket(
  bucket: Bucket,
  codec: BlockCodec,
  listing: BucketListing,
  log: Log,
  options: VerifyScope & {
    concurrency?: number;
    signal?: AbortSignal;
    onProgress?: (progress: ProgressFigures) => void;
  } = {},
): Promise<VerifyResult> {
  const mode = options.structureOnly ? "structure-only" : options.sample ? "sample" : "full";
  const result: VerifyResult = {
    snapshots: [],
    mode,
    digestsTotal: 0,
    digestsChecked: 0,
    bytesChecked: 0,
    ...(options.sample && !options.structureOnly ? { seed: options.sample.seed } : {}),
    problems: [],
  };
  const names = snapshotNames(listing);
  if (names.length === 0) {
    result.problems.push({ message: "the bucket holds no snapshot", paths: [] });
    return result;
  }
  // digest → every (snapshot, row) that needs it, as pairs of numbers, and its size; the
  // snapshots are held compactly (lib/snapshot/table.ts), paths made only for a problem
  const users = new Map<string, number[]>();
  const sizes = new Map<string, number>();
  const tables: SnapshotTable[] = [];
  const ids: string[] = [];
  for (const name of names) {
    const id = name.slice(SNAPSHOT_PREFIX.length);
    result.snapshots.push(id);
    let snapshot;
    try {
      snapshot = await readSnapshotTable(bucket, codec, listing, name);
    } catch (err) {
      if (err instanceof BlockAuthError) throw err; // wrong password: nothing else can be checked
      result.problems.push({ snapshot: id, message: errorText(err), paths: [] });
      continue;
    }
    for (const entry of snapshot.refused ?? []) {
      result.problems.push({
        snapshot: id,
        message: `snapshot ${id} is invalid: refused ${describeRefused(entry)}`,
        paths: [],
      });
    }
    const index = tables.push(snapshot) - 1;
    ids.push(id);
    for (let row = 0; row < snapshot.count; row++) {
      const digest = snapshot.type(row) === "file" ? snapshot.digest(row) : undefined;
      if (!digest) continue;
      sizes.set(digest, snapshot.size(row));
      const list = users.get(digest);
      if (list) list.push(index, row);
      else users.set(digest, [index, row]);
    }
  }
  /** The paths that need `digest` (with their snapshot's ID when there are several). */
  const pathsOf = (digest: string): string[] => {
    const pairs = users.get(digest) ?? [];
    const paths: string[] = [];
    for (let i = 0; i < pairs.length; i += 2) {
      const path = tables[pairs[i]].paths[pairs[i + 1]];
      paths.push(names.length > 1 ? `${ids[pairs[i]]}:${path}` : path);
    }
    return paths;
  };
  result.digestsTotal = users.size;
  let chosen = [...users.keys()];
  if (options.sample && !options.structureOnly) {
    chosen = sampleOf(chosen, options.sample.percent, options.sample.seed);
  }

  const progress: ProgressFigures = {
    filesDone: 0,
    filesTotal: chosen.length,
    bytesDone: 0,
    bytesTotal: chosen.reduce((sum, digest) => sum + (sizes.get(digest) ?? 0), 0),
  };
  await forEachConcurrent(chosen, options.concurrency ?? 4, async (digest) => {
    options.signal?.throwIfAborted();
    const info = listing.prefixes.get(digest);
    if (!info?.complete) {
      result.problems.push({
        digest,
        message: `content ${digest} is missing from the bucket`,
        paths: pathsOf(digest),
      });
    } else if (options.structureOnly) {
      const damage = prefixDamage(info, Math.ceil((sizes.get(digest) ?? 0) / BLOCK_SIZE));
      if (damage) {
        result.problems.push({
          digest,
          message: `content ${digest}: ${damage}`,
          paths: pathsOf(digest),
        });
      }
    } else {
      try {
        const intact = await bucket.readContent(info, codec, (block) => {
          result.bytesChecked += block.length;
          progress.bytesDone += block.length;
          options.onProgress?.(progress);
        }, options.signal);
        if (!intact) {
          result.problems.push({
            digest,
            message: `content ${digest} does not hash to its name`,
            paths: pathsOf(digest),
          });
        }
      } catch (err) {
        if (!(err instanceof SpareError)) throw err;
        result.problems.push({
          digest,
          message: `content ${digest}: ${err.message}`,
          paths: pathsOf(digest),
        });
      }
    }
    result.digestsChecked++;
    progress.filesDone++;
    options.onProgress?.(progress);
  });
  for (const problem of result.problems) {
    log.error(
      problem.message + (problem.paths.length ? ` (affects ${problem.paths.join(", ")})` : ""),
    );
  }
  return result;
}

/** PERCENT of `digests` (at least one), chosen at random with `seed`: the same seed, the same choice. */
export function sampleOf(digests: string[], percent: number, seed: number): string[] {
  const pool = [...digests].sort();
  const count = Math.min(pool.length, Math.max(1, Math.ceil((pool.length * percent) / 100)));
  const random = seededRandom(seed);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, count);
}

/** mulberry32: a small seeded generator of numbers in [0, 1). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
