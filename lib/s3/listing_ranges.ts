/**
 * How a listing beyond its first page is split into key ranges listed at once: as many
 * ranges as pages the rest of the bucket needs, each expected to fit one page.
 *
 * Content prefixes are hex digests, spread evenly over the hex key space: the first page's
 * hex keys and how far into that space its last key reaches tell how many keys are left.
 * A Ceph RGW listing request costs about 11 ms of server time however few keys it
 * returns, and each request about 4 ms of our CPU besides its keys: ranges by first hex
 * digit took 36 requests for 20,000 keys (two pages per digit, the second a quarter full),
 * these ranges about 23.
 */

import { forEachConcurrent } from "../util/mod.ts";
import type { ObjectInfo } from "./client.ts";
import type { ListingPage } from "./listing.ts";

/** What a ListObjectsV2 request asks for: keys after `startAfter`, or the page a token continues. */
export interface PageOptions {
  maxKeys: number;
  startAfter?: string;
  token?: string;
}

/** Asks the bucket for one page of its listing. */
export type PageLister = (options: PageOptions) => Promise<ListingPage>;

/**
 * Every object of the bucket, in S3's order: the first page, then, when there is more, the
 * key ranges after it (planListingRanges), `atOnce` of them at a time. A bucket of 20,000
 * files takes 20 pages; one after the other they took seconds.
 */
export async function listInRanges(
  listPage: PageLister,
  pageKeys: number,
  atOnce: number,
): Promise<ObjectInfo[]> {
  // One page holds a small bucket whole: then one request is all it takes.
  const first = await listPage({ maxKeys: pageKeys });
  if (!first.next) return first.objects;
  // The first page holds every key up to its last one. Kept only when that key is plain
  // ASCII: S3 orders keys by their UTF-8 bytes, JavaScript by UTF-16 code units, and the
  // two agree on where such a key lies among others.
  const last = first.objects.at(-1)?.key;
  const from = last !== undefined && /^[\x20-\x7e]+$/.test(last) ? last : undefined;
  const ranges = planListingRanges(
    from === undefined ? [] : first.objects.map((object) => object.key),
    from,
    pageKeys,
  );
  const lists: ObjectInfo[][] = ranges.map(() => []);
  await forEachConcurrent(ranges.keys(), atOnce, async (i) => {
    const { after, upTo, maxKeys } = ranges[i];
    const objects = lists[i];
    let token: string | undefined;
    do {
      const page = await listPage({ maxKeys, startAfter: after, token });
      for (const object of page.objects) {
        if (upTo !== undefined && object.key > upTo) return;
        objects.push(object);
      }
      token = page.next;
    } while (token);
  });
  return [...(from === undefined ? [] : first.objects), ...lists.flat()];
}

/** Keys after `after` (all keys when undefined) up to and including `upTo` (to the end when undefined). */
export interface ListingRange {
  after?: string;
  upTo?: string;
  /** Keys asked for per page: a little more than the range is expected to hold. */
  maxKeys: number;
}

/** At most this many ranges (a bucket of millions of keys lists each range in pages). */
const MAX_RANGES = 4096;
/** Hex keys of the first page below which its reach is too rough an estimate. */
const MIN_SAMPLE = 32;
/** Hex digits of a key that place it in the key space. */
const POSITION_DIGITS = 8;
const POSITION_SCALE = 16 ** POSITION_DIGITS;

/**
 * Where `key` lies in the hex key space, from 0 to 1: by its first 8 hex digits; keys
 * below "0" are at 0, keys between "9" and "a" at "a", keys above "f" at 1.
 */
export function keyPosition(key: string): number {
  let value = 0;
  for (let i = 0; i < POSITION_DIGITS; i++) {
    const digit = i < key.length ? hexValue(key.charCodeAt(i)) : 0;
    if (digit < 0) {
      if (i > 0) return (value * 16 ** (POSITION_DIGITS - i)) / POSITION_SCALE;
      const code = key.charCodeAt(0);
      return code < 0x30 ? 0 : code < 0x61 ? 10 / 16 : 1;
    }
    value = value * 16 + digit;
  }
  return value / POSITION_SCALE;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  return -1;
}

/** The bound at `position` (0 to 1): 8 hex digits. */
function boundAt(position: number): string {
  const value = Math.min(POSITION_SCALE - 1, Math.floor(position * POSITION_SCALE));
  return value.toString(16).padStart(POSITION_DIGITS, "0");
}

/**
 * The ranges that list every key after `from` (the first page's last key; undefined lists
 * the whole bucket again), given the keys of the first page and the keys a page holds.
 * Bounds are ASCII, so S3's order (UTF-8 bytes) and JavaScript's (UTF-16 code units) agree
 * on which side of a bound any key lies. The estimate only sets how many ranges there are:
 * a range that holds more than expected is listed on, page by page, up to its bound.
 */
export function planListingRanges(
  firstKeys: readonly string[],
  from: string | undefined,
  pageKeys: number,
): ListingRange[] {
  const start = from === undefined ? 0 : keyPosition(from);
  if (start >= 1) return [{ after: from, maxKeys: pageKeys }];
  let hexKeys = 0;
  if (from !== undefined) {
    for (const key of firstKeys) if (hexValue(key.charCodeAt(0)) >= 0) hexKeys++;
  }
  // Without a sample to go by: one range per hex digit still to come, full pages.
  let count = 16 - Math.floor(start * 16);
  let maxKeys = pageKeys;
  if (hexKeys >= MIN_SAMPLE && start > 0) {
    const expectedLeft = (hexKeys * (1 - start)) / start;
    // 90 % of a page per range: a range of 900 keys rarely holds over 1,000 (3 sigma).
    count = Math.min(MAX_RANGES, Math.max(1, Math.ceil(expectedLeft / (0.9 * pageKeys))));
    const perRange = expectedLeft / count;
    maxKeys = Math.min(pageKeys, Math.ceil(perRange * 1.2) + 20);
  }
  const ranges: ListingRange[] = [];
  let after = from;
  for (let i = 1; i < count; i++) {
    const bound = boundAt(start + ((1 - start) * i) / count);
    if (after !== undefined && bound <= after) continue;
    ranges.push({ after, upTo: bound, maxKeys });
    after = bound;
  }
  ranges.push({ after, maxKeys: pageKeys });
  return ranges;
}
