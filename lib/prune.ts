/** Pruning: delete older snapshots, unreferenced prefixes, partial prefixes and stray keys. */
import type { Bucket, BucketListing } from "./bucket.ts";
import type { SnapshotData } from "./snapshot.ts";

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
