/** Pruning: delete older snapshots, unreferenced prefixes, partial prefixes and stray keys. */
import type { Bucket, BucketListing } from "../bucket/mod.ts";
import { SNAPSHOT_PREFIX, type SnapshotData, ulidTime } from "../snapshot/mod.ts";

/**
 * Deletes, from a listing taken before the run, every prefix that no kept snapshot names
 * (older snapshots, digests no longer referenced, partial prefixes left by interrupted
 * runs) and every key that is not spare's. Returns the number of prefixes deleted.
 */
export async function prune(
  bucket: Bucket,
  listing: BucketListing,
  kept: Map<string, SnapshotData>,
): Promise<number> {
  const referenced = new Set<string>(kept.keys());
  for (const snapshot of kept.values()) {
    for (const digest of Object.keys(snapshot.files)) referenced.add(digest);
    for (const digest of snapshot.listedDigests ?? []) referenced.add(digest);
  }
  const doomed: string[] = [...listing.strays];
  let count = 0;
  for (const info of listing.prefixes.values()) {
    if (referenced.has(info.name) && info.complete) continue;
    count++;
    doomed.push(...info.blocks.map((b) => b.key));
  }
  await bucket.deleteKeys(doomed);
  return count;
}

const DURATION_UNITS: Record<string, number> = {
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

/**
 * Parses a --keep-within duration: whole numbers with units h (hours), d (days), w (weeks),
 * y (365 days), e.g. `30d`, `1y6w`, `36h`; undefined for a text that is not one.
 */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+[hdwy])+$/.test(text)) return undefined;
  let ms = 0;
  for (const [, count, unit] of text.matchAll(/(\d+)([hdwy])/g)) {
    ms += Number(count) * DURATION_UNITS[unit];
  }
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * The snapshots a create keeps, oldest first: the newest `keep` of `names` (sorted oldest
 * first, the one just written last), plus every snapshot created less than `withinMs`
 * before `now`. The last name (the snapshot just written) is always kept.
 */
export function snapshotsToKeep(
  names: string[],
  keep: number,
  withinMs: number | undefined,
  now: number,
): string[] {
  const newest = new Set(names.slice(-Math.max(1, keep)));
  return names.filter((name) =>
    newest.has(name) ||
    (withinMs !== undefined &&
      now - ulidTime(name.slice(SNAPSHOT_PREFIX.length)).getTime() < withinMs)
  );
}
