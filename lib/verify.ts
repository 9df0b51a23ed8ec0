/**
 * `verify`: for every snapshot, every entry passes the checks of decoding (lib/snapshot_check.ts:
 * paths, fields, every path in `files` a file in `structure`), and every digest exists,
 * opens, decompresses and hashes to its name. Each digest is downloaded once.
 */
import type { BlockCodec } from "./block.ts";
import type { Bucket, BucketListing } from "./bucket.ts";
import { BlockAuthError, SpareError } from "./errors.ts";
import { forEachConcurrent } from "./limit.ts";
import type { Log } from "./log.ts";
import type { ProgressFigures } from "./progress.ts";
import { SNAPSHOT_PREFIX } from "./snapshot.ts";
import { describeRefused } from "./snapshot_check.ts";
import { readSnapshot, snapshotNames } from "./snapshots.ts";

/** One thing found wrong, with the paths it affects. */
export interface Problem {
  snapshot?: string;
  digest?: string;
  message: string;
  paths: string[];
}

/** What `verify` found. */
export interface VerifyResult {
  snapshots: string[];
  digestsChecked: number;
  bytesChecked: number;
  problems: Problem[];
}

/** Checks every snapshot of the listing; problems are collected, not thrown. */
export async function verifyBucket(
  bucket: Bucket,
  codec: BlockCodec,
  listing: BucketListing,
  log: Log,
  options: {
    concurrency?: number;
    signal?: AbortSignal;
    onProgress?: (progress: ProgressFigures) => void;
  } = {},
): Promise<VerifyResult> {
  const result: VerifyResult = { snapshots: [], digestsChecked: 0, bytesChecked: 0, problems: [] };
  const names = snapshotNames(listing);
  if (names.length === 0) {
    result.problems.push({ message: "the bucket holds no snapshot", paths: [] });
    return result;
  }
  // digest → every (snapshot, path) that needs it, and its size
  const users = new Map<string, string[]>();
  const sizes = new Map<string, number>();
  for (const name of names) {
    const id = name.slice(SNAPSHOT_PREFIX.length);
    result.snapshots.push(id);
    let snapshot;
    try {
      snapshot = await readSnapshot(bucket, codec, listing, name);
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
    for (const [digest, paths] of Object.entries(snapshot.files)) {
      const entry = snapshot.structure[paths[0]];
      if (entry?.type === "file") sizes.set(digest, entry.size);
      const list = users.get(digest) ?? [];
      list.push(...paths.map((p) => (names.length > 1 ? `${id}:${p}` : p)));
      users.set(digest, list);
    }
  }

  const progress: ProgressFigures = {
    filesDone: 0,
    filesTotal: users.size,
    bytesDone: 0,
    bytesTotal: [...sizes.values()].reduce((a, b) => a + b, 0),
  };
  await forEachConcurrent(users.entries(), options.concurrency ?? 4, async ([digest, paths]) => {
    options.signal?.throwIfAborted();
    const info = listing.prefixes.get(digest);
    if (!info?.complete) {
      result.problems.push({
        digest,
        message: `content ${digest} is missing from the bucket`,
        paths,
      });
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
            paths,
          });
        }
      } catch (err) {
        if (!(err instanceof SpareError)) throw err;
        result.problems.push({ digest, message: `content ${digest}: ${err.message}`, paths });
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

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
