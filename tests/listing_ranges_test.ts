/**
 * Listing in key ranges, against a bucket held in memory that pages as S3 does (the real
 * server's answers, odd keys included, are in bucket_test.ts): every key once, in order,
 * in about as many requests as the keys fill pages.
 */
import { assert, assertEquals } from "./assert.ts";
import {
  keyPosition,
  listInRanges,
  type PageOptions,
  planListingRanges,
} from "../lib/s3/listing_ranges.ts";
import type { ListingPage } from "../lib/s3/listing.ts";

/** A bucket of `keys` listed as ListObjectsV2 lists: by UTF-8 bytes, after StartAfter, by tokens. */
function memoryBucket(keys: string[]) {
  const bytes = new Map(keys.map((key) => [key, new TextEncoder().encode(key)]));
  const compare = (a: string, b: string) => {
    const x = bytes.get(a) ?? new TextEncoder().encode(a);
    const y = bytes.get(b) ?? new TextEncoder().encode(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
    return x.length - y.length;
  };
  const sorted = [...keys].sort(compare);
  /** Index of the first key after `after`. */
  const firstAfter = (after: string) => {
    let low = 0, high = sorted.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (compare(sorted[mid], after) > 0) high = mid;
      else low = mid + 1;
    }
    return low;
  };
  const bucket = {
    requests: 0,
    listPage: (options: PageOptions): Promise<ListingPage> => {
      bucket.requests++;
      const after = options.token ?? options.startAfter;
      const from = after === undefined ? 0 : firstAfter(after);
      const page = sorted.slice(from, from + options.maxKeys);
      const more = from + page.length < sorted.length;
      return Promise.resolve({
        objects: page.map((key) => ({ key, size: 1 })),
        next: more ? page.at(-1) : undefined,
      });
    },
  };
  return { bucket, sorted };
}

/** A deterministic hex digest (xorshift). */
function digests(count: number, seed = 7): string[] {
  let x = seed;
  const next = () => (x ^= x << 13, x ^= x >>> 17, x ^= x << 5, (x >>> 0).toString(16));
  return Array.from({ length: count }, () => {
    let hex = "";
    while (hex.length < 64) hex += next().padStart(8, "0");
    return hex;
  });
}

const NONCE = "0123456789abcdef0123456789abcdef";

Deno.test("a listing of 20,000 prefixes takes about one request per full page", async () => {
  const keys = digests(20_000).map((d) => `${d}/000000001-${NONCE}`);
  keys.push(".spare", ".lock", `snapshot_01HZZZZZZZZZZZZZZZZZZZZZZZ/000000001-${NONCE}`);
  const { bucket, sorted } = memoryBucket(keys);
  const listed = await listInRanges(bucket.listPage, 1000, 8);
  assertEquals(listed.map((object) => object.key), sorted);
  // 21 pages at the least; ranges by first hex digit took 36 (two pages a digit)
  assert(bucket.requests <= 25, `${bucket.requests} requests`);
});

Deno.test("a listing in ranges sees every key once, whatever the keys and the page size", async () => {
  // keys on the bounds of ranges, and keys of every kind around the hex digits
  const odd = [
    "10000000",
    "80000000",
    "c0000000",
    "f0000000",
    "-stray",
    "0stray",
    "9",
    ":x",
    "A",
    "Z_stray",
    "_under",
    "`x",
    "f",
    "f\u00e9",
    "g",
  ];
  odd.push(
    "snapshot_01HZZZZZZZZZZZZZZZZZZZZZZZ/000000001-" + NONCE,
    "~x",
    "\u{1F600}",
    "\u00e9t\u00e9",
  );
  for (const count of [0, 40, 300]) {
    const keys = [...digests(count, count + 1).map((d) => `${d}/000000002-${NONCE}`), ...odd];
    const { bucket, sorted } = memoryBucket(keys);
    for (const pageKeys of [1, 2, 7, 25, 1000]) {
      const listed = await listInRanges(bucket.listPage, pageKeys, 3);
      assertEquals(
        listed.map((object) => object.key),
        sorted,
        `${count} keys, pages of ${pageKeys}`,
      );
    }
  }
});

Deno.test("listing ranges: bounds rise past the first page, the last range is open", () => {
  const first = digests(1000).sort().filter((d) => d < "10");
  const from = first.at(-1)!;
  const ranges = planListingRanges(first, from, 1000);
  const expectedLeft = first.length * (1 - keyPosition(from)) / keyPosition(from);
  assert(Math.abs(ranges.length - expectedLeft / 900) <= 1, `${ranges.length} ranges`);
  assertEquals(ranges[0].after, from);
  for (let i = 1; i < ranges.length; i++) {
    assertEquals(ranges[i].after, ranges[i - 1].upTo);
    assert(ranges[i].after! > ranges[i - 1].after!);
  }
  assertEquals(ranges.at(-1)!.upTo, undefined);
  // past the hex digits: one range to the end; no sample: one per hex digit left
  assertEquals(planListingRanges(["snapshot_x"], "snapshot_x", 1000), [
    { after: "snapshot_x", maxKeys: 1000 },
  ]);
  assertEquals(planListingRanges([".lock", ".spare"], ".spare", 1000).length, 16);
  assertEquals(planListingRanges(["c0"], "c0", 1000).length, 4);
  assertEquals(keyPosition("8"), 0.5);
  assertEquals(keyPosition("-x"), 0);
  assertEquals(keyPosition("Upper"), 10 / 16);
  assertEquals(keyPosition("snapshot_"), 1);
});
