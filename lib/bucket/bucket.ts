/**
 * The bucket layer (0.4.0's "envoy"): the `.spare` marker, the `.lock` (taken in
 * lock_protocol.ts), and prefixes stored as numbered, encrypted blocks (FORMAT.md).
 */
import { BLOCK_SIZE, type BlockCodec, newNonce } from "../codec/mod.ts";
import {
  ContentHasher,
  discard,
  discardable,
  noteBlockBytes,
  noteTransientBytes,
  Semaphore,
  SpareError,
} from "../util/mod.ts";
import {
  decodeKdfSettings,
  encodeKdfSettings,
  KDF_KEY,
  type KdfSettings,
  SHA512,
} from "../crypto/mod.ts";
import { listInRanges, type ObjectInfo, type ObjectStore, type PageOptions } from "../s3/mod.ts";

/** The marker object of a spare bucket. */
export const MARKER_KEY = ".spare";
/** The lock object 0.4.0 writes and looks for (lock_protocol.ts). */
export const LOCK_KEY = ".lock";
/** `.spare-kdf` is a few dozen bytes; a larger one is refused unread. */
const MAX_KDF_BYTES = 4096;
const PREFIX_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9_.]+$/;
const BLOCK_KEY_PATTERN = /^([^/]+)\/(\d{9})-([0-9a-f]{32})$/;

/** One stored block of a prefix. */
export interface BlockRef {
  key: string;
  index: number;
  nonce: string;
  size: number;
}

/** A prefix as found in a listing: its blocks in order; complete when block 1 exists. */
export interface PrefixInfo {
  name: string;
  blocks: BlockRef[];
  complete: boolean;
}

/** What a bucket holds, from one listing. */
export interface BucketListing {
  prefixes: Map<string, PrefixInfo>;
  /** Keys that are neither internal nor blocks: not ours, removed by pruning. */
  strays: string[];
}

/** True for valid prefix names. */
export function isPrefixName(name: string): boolean {
  return PREFIX_PATTERN.test(name);
}

/** The key of block `index` (from 1) of `prefix`. */
export function blockKey(prefix: string, index: number, nonce: string): string {
  return `${prefix}/${String(index).padStart(9, "0")}-${nonce}`;
}

/** Splits a block key into its parts, or undefined for other keys. */
export function parseBlockKey(key: string, size = 0): (BlockRef & { prefix: string }) | undefined {
  const match = BLOCK_KEY_PATTERN.exec(key);
  if (!match || !isPrefixName(match[1])) return undefined;
  return { prefix: match[1], key, index: Number(match[2]), nonce: match[3], size };
}

/**
 * What is wrong with a prefix's blocks as listed, or undefined: they must be numbered 1..n
 * without a gap or a double, and be at least `blocksNeeded` (when the size is known).
 */
export function prefixDamage(info: PrefixInfo, blocksNeeded = 0): string | undefined {
  const bad = info.blocks.findIndex((block, i) => block.index !== i + 1);
  if (bad >= 0) return `prefix ${info.name} is damaged: block ${bad + 1} is missing or doubled`;
  if (info.blocks.length < blocksNeeded) {
    return `prefix ${info.name} is damaged: block ${info.blocks.length + 1} is missing ` +
      `(its size needs ${blocksNeeded} blocks)`;
  }
  return undefined;
}

/**
 * A prefix of block 1 alone, as most are (every file up to 1 MiB): one object where a
 * prefix with its array and block took three, for each of the 20,000 prefixes of a bucket
 * of small files, kept for the whole run. Its `blocks` are made when asked for.
 */
class OneBlockPrefix implements PrefixInfo {
  constructor(
    readonly name: string,
    private readonly key: string,
    private readonly nonce: string,
    private readonly size: number,
  ) {}

  get complete(): boolean {
    return true;
  }

  get blocks(): BlockRef[] {
    return [{ key: this.key, index: 1, nonce: this.nonce, size: this.size }];
  }
}

/** Characters a block key has after its prefix: "/", 9 digits, "-", 32 hex digits. */
const BLOCK_KEY_TAIL = 43;
const NINE_DIGITS = /^\d{9}$/;
const NONCE_HEX = /^[0-9a-f]{32}$/;

/** A listing's objects grouped into prefixes (internal keys left out, others strays). */
export function groupIntoPrefixes(objects: ObjectInfo[]): BucketListing {
  const prefixes = new Map<string, PrefixInfo>();
  const strays: string[] = [];
  for (const { key, size } of objects) {
    if (key.startsWith(".")) continue;
    // parseBlockKey's checks (the tests compare the two), without its match and result
    // objects for each key
    const slash = key.length - BLOCK_KEY_TAIL;
    const prefix = key.slice(0, slash);
    const digits = key.slice(slash + 1, slash + 10);
    const nonce = key.slice(slash + 11);
    if (
      slash < 2 || key.charCodeAt(slash) !== 0x2f || key.charCodeAt(slash + 10) !== 0x2d ||
      !NINE_DIGITS.test(digits) || !NONCE_HEX.test(nonce) || !isPrefixName(prefix)
    ) {
      strays.push(key);
      continue;
    }
    const index = Number(digits);
    const info = prefixes.get(prefix);
    if (info === undefined && index === 1) {
      prefixes.set(prefix, new OneBlockPrefix(prefix, key, nonce, size));
      continue;
    }
    const block = { key, index, nonce, size };
    if (info === undefined) {
      // an array of exactly one (one grown by push reserves 17 slots)
      prefixes.set(prefix, { name: prefix, blocks: [block], complete: false });
    } else if (info instanceof OneBlockPrefix) {
      prefixes.set(prefix, { name: prefix, blocks: [...info.blocks, block], complete: true });
    } else {
      info.blocks.push(block);
      if (index === 1) info.complete = true;
    }
  }
  for (const info of prefixes.values()) {
    if (info instanceof OneBlockPrefix) continue;
    info.blocks.sort((a, b) => a.index - b.index || a.key.localeCompare(b.key));
  }
  return { prefixes, strays };
}

/** A block read back: its plaintext, and its .xz bytes when they were asked for. */
interface OpenedBlock {
  plaintext: Uint8Array;
  xz?: Uint8Array;
}

/** Decrypts and decompresses one downloaded block, keeping its .xz bytes if `keepXz`. */
async function openBlock(
  codec: BlockCodec,
  sealed: Uint8Array,
  block: BlockRef,
  keepXz: boolean,
): Promise<OpenedBlock> {
  const xz = await codec.decrypt(sealed, block.nonce, block.key);
  // downloaded for this block alone: freed at once, or counted for the collector
  if (discardable(sealed)) discard(sealed);
  else noteTransientBytes(sealed.length);
  const plaintext = await codec.decompress(xz, block.key);
  if (keepXz) return { plaintext, xz };
  discard(xz);
  return { plaintext };
}

/** Blocks one reader of a prefix downloads ahead of the one it hands out. */
const PREFETCH_PER_PREFIX = 4;

/** Blocks downloaded but not yet handed out, over all readers of a bucket (1 MiB each at most). */
export const READ_AHEAD_BLOCKS = 16;

/**
 * What each PUT counts towards the next forced collection (noteTransientBytes) besides its
 * block: the SDK and node:http leave some KiB of objects per request on V8's heap, which the
 * few KiB of a small file's block did not account for. A create of the 20,000 files peaked
 * at 60.0-63.1 MiB in four runs with it, 60.2-74.9 MiB in four without (at its start, or
 * towards its end), 3 % slower.
 */
const PUT_GARBAGE = 4 * 1024;

/** Bodies up to this size count as small (see Bucket.smallRequests). */
const SMALL_BODY = 64 * 1024;

/** Small PUTs in flight at most, besides the large ones. */
const SMALL_REQUESTS = 24;

/**
 * Large PUTs (up to a 1 MiB block each) in flight at most. Each holds its body and a copy
 * on its way to the socket: with eight, a create over a 62 MiB tree peaked at 73 MiB of
 * anonymous memory instead of 65, as blocks sealed at OpenSSL's speed queued for the
 * server; over the bench's 250 MiB tree, whose peak is in the random half of its large
 * file, four gave 64.6-68.8 MiB and two 62.5-62.9, in the same time. One core compresses
 * far less than two PUTs at a time carry.
 */
const LARGE_PUTS = 2;
/** Key ranges of a listing asked for at once. */
const LISTING_RANGES_AT_ONCE = 8;

/** One spare bucket on one S3 server. */
export class Bucket {
  /** Keys a listing page holds at most: S3's limit (tests lower it). */
  listPageKeys = 1000;
  /** Bounds concurrent GET requests of this bucket. */
  readonly requests: Semaphore;
  /** Bounds concurrent PUTs of bodies larger than SMALL_BODY. */
  private readonly largePuts = new Semaphore(LARGE_PUTS);
  /**
   * Bounds concurrent PUTs of small bodies, besides `largePuts`: a create over many small
   * files waits on the server's latency, not on bandwidth or memory, and the more requests
   * are in flight the less each costs (the event loop wakes once for several answers).
   */
  private readonly smallRequests = new Semaphore(SMALL_REQUESTS);
  /** Bounds the plaintext blocks held by all readers at once, however many files are read. */
  private readonly readAhead = new Semaphore(READ_AHEAD_BLOCKS);

  constructor(readonly store: ObjectStore, readonly name: string, concurrency = 8) {
    this.requests = new Semaphore(concurrency);
  }

  /** Creates the bucket and its marker when missing; refuses a bucket with objects but no marker. */
  async ensure(): Promise<void> {
    if (!(await this.store.bucketExists(this.name))) {
      await this.store.createBucket(this.name);
      await this.store.put(this.name, MARKER_KEY, new Uint8Array(0));
      return;
    }
    await this.checkMarkerOfExisting(true);
  }

  /** Refuses a bucket that does not exist or is not spare's; an empty bucket gets a marker when `adopt`. */
  async checkMarker(adopt = false): Promise<void> {
    if (!(await this.store.bucketExists(this.name))) {
      throw new SpareError(`bucket ${this.name} does not exist at ${this.store.endpoint}`);
    }
    await this.checkMarkerOfExisting(adopt);
  }

  /** checkMarker of a bucket known to exist. */
  private async checkMarkerOfExisting(adopt: boolean): Promise<void> {
    if (await this.store.exists(this.name, MARKER_KEY)) return;
    for await (const _ of this.store.list(this.name, undefined, 1)) {
      // A run started at the same time may have written the marker (then its lock) since we
      // looked: what we listed may be its own.
      if (await this.store.exists(this.name, MARKER_KEY)) return;
      throw new SpareError(
        `bucket ${this.name} has objects but no .spare marker: it is not a spare bucket, refusing to touch it`,
      );
    }
    if (!adopt) throw new SpareError(`bucket ${this.name} is empty: there is no backup in it`);
    await this.store.put(this.name, MARKER_KEY, new Uint8Array(0));
  }

  /**
   * How this bucket's key is derived: the settings in `.spare-kdf` (checked as untrusted
   * input) when it exists, else 0.4.0's SHA-512.
   */
  async kdfSettings(): Promise<KdfSettings> {
    const bytes = await this.store.getIfExists(this.name, KDF_KEY, { maxSize: MAX_KDF_BYTES });
    return bytes ? decodeKdfSettings(bytes, this.name) : SHA512;
  }

  /**
   * Stores the key derivation settings of a bucket that holds no backup yet, and returns
   * the settings in force (those of a run that stored some first). Refuses a bucket with
   * data: it was encrypted with 0.4.0's key, which the new settings would not give.
   */
  async startKdf(settings: KdfSettings): Promise<KdfSettings> {
    const { prefixes } = await this.listing();
    if ([...prefixes.values()].some((prefix) => prefix.complete)) {
      throw new SpareError(
        `bucket ${this.name} already holds backups encrypted with 0.4.0's key derivation: ` +
          `--kdf ${settings.kdf} applies only to a new bucket`,
      );
    }
    const body = encodeKdfSettings(settings);
    // under the lock: where conditional writes are refused, a plain write does
    const put = await this.store.putIfAbsent(this.name, KDF_KEY, body);
    if (put === "refused") await this.store.put(this.name, KDF_KEY, body);
    if (put !== "exists") return settings;
    return await this.kdfSettings();
  }

  /** True when `.lock` exists. */
  isLocked(): Promise<boolean> {
    return this.store.exists(this.name, LOCK_KEY);
  }

  /**
   * Lists the keys that start with `start` alone and groups them into prefixes: the
   * snapshots of a bucket, say, in one short request beside its thousands of contents.
   */
  async listingOf(start: string): Promise<BucketListing> {
    const objects: ObjectInfo[] = [];
    for await (const object of this.store.list(this.name, start)) objects.push(object);
    return groupIntoPrefixes(objects);
  }

  /** Lists the bucket once and groups block keys into prefixes. */
  async listing(): Promise<BucketListing> {
    const { store, name } = this;
    const listPage = (options: PageOptions) => store.listPage(name, options);
    return groupIntoPrefixes(
      await listInRanges(listPage, this.listPageKeys, LISTING_RANGES_AT_ONCE),
    );
  }

  /**
   * Writes a prefix from its plaintext blocks: blocks 2..n are uploaded (several at once),
   * and only once all of them are stored (and `blocks` ended without throwing) block 1 is
   * stored, so that a prefix never looks complete before it is. When `signal` aborts, no
   * new block is started. On failure or abort the blocks already stored are removed
   * (best effort: a later create prunes what is left). Returns the stored (sealed) bytes.
   * With `discardBlocks`, each block's plaintext is freed (discard) once sealed: for
   * blocks read for this call alone.
   */
  async writePrefix(
    prefix: string,
    blocks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
    codec: BlockCodec,
    signal?: AbortSignal,
    discardBlocks = false,
  ): Promise<number> {
    if (!isPrefixName(prefix)) throw new Error(`invalid prefix name: ${prefix}`);
    const stored: string[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    let first: { key: string; body: Uint8Array } | undefined;
    let bytes = 0;
    let index = 0;
    // Blocks of this prefix being sealed (or sealed and waiting for a request slot) at
    // once: one more than the codec compresses in parallel, so that one large file keeps
    // every core --jobs allows busy while its next block is read and checked; PUTs in
    // flight are bounded by `requests`.
    const sealing = new Semaphore(codec.jobs + 1);
    try {
      for await (const plaintext of blocks) {
        signal?.throwIfAborted();
        if (plaintext.length > BLOCK_SIZE) throw new Error("a block is larger than BLOCK_SIZE");
        const releaseSealing = await sealing.acquire();
        if (failure) {
          releaseSealing();
          break;
        }
        index++;
        const nonce = newNonce();
        const key = blockKey(prefix, index, nonce);
        const isFirst = index === 1;
        const task: Promise<void> = (async () => {
          let releaseRequest: (() => void) | undefined;
          try {
            const body = await codec.seal(plaintext, nonce);
            // the plaintext goes at once, or is left to the collector
            const freed = discardBlocks && discardable(plaintext);
            if (freed) discard(plaintext);
            noteBlockBytes(plaintext.length, freed);
            bytes += body.length;
            if (isFirst) {
              first = { key, body };
              return;
            }
            releaseRequest = await this.putSlot(body.length);
            releaseSealing();
            if (failure) return;
            await this.storeBlock(key, body);
            stored.push(key);
          } finally {
            releaseSealing();
            releaseRequest?.();
          }
        })().catch((error) => void (failure ??= { error })).finally(() => inFlight.delete(task));
        inFlight.add(task);
      }
      await Promise.all(inFlight);
      if (failure) throw failure.error;
      if (!first) {
        const nonce = newNonce();
        first = {
          key: blockKey(prefix, 1, nonce),
          body: await codec.seal(new Uint8Array(0), nonce),
        };
        bytes += first.body.length;
      }
      signal?.throwIfAborted();
      const last = first;
      const releaseLast = await this.putSlot(last.body.length);
      try {
        await this.storeBlock(last.key, last.body);
      } finally {
        releaseLast();
      }
      return bytes;
    } catch (err) {
      await Promise.all(inFlight);
      await this.store.deleteMany(this.name, stored).catch(() => {});
      throw err;
    }
  }

  /**
   * PUTs one sealed block, then frees its body (a large body's memory goes back at once) and
   * counts the request's own garbage (PUT_GARBAGE).
   */
  private async storeBlock(key: string, body: Uint8Array): Promise<void> {
    await this.store.put(this.name, key, body);
    noteTransientBytes(PUT_GARBAGE);
    discard(body);
  }

  /** Waits for a request slot for a PUT of `bytes`; call the returned function once done. */
  private putSlot(bytes: number): Promise<() => void> {
    return (bytes <= SMALL_BODY ? this.smallRequests : this.largePuts).acquire();
  }

  /**
   * Reads a content prefix (named by its digest), handing each plaintext block to
   * `onBlock`; true when the content hashes back to its name. A block is freed (discard)
   * once `onBlock` has returned: it must not keep it.
   */
  async readContent(
    info: PrefixInfo,
    codec: BlockCodec,
    onBlock: (block: Uint8Array) => void | Promise<void>,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const hasher = await ContentHasher.create();
    try {
      for await (const block of this.readPrefix(info, codec, signal)) {
        hasher.update(block);
        await onBlock(block);
        discard(block);
      }
      return hasher.digest() === info.name;
    } finally {
      hasher.release();
    }
  }

  /**
   * Reads a prefix back as plaintext blocks in order, with a few blocks downloaded ahead
   * (within the bucket's read-ahead budget, shared by all readers, so that many files can
   * be read at once in bounded memory). Throws when the blocks are not numbered 1..n
   * without gaps, or when `signal` aborts. With `keptXz`, each block's .xz bytes (decrypted,
   * still compressed) are added to it in order as well.
   */
  async *readPrefix(
    info: PrefixInfo,
    codec: BlockCodec,
    signal?: AbortSignal,
    keptXz?: Uint8Array[],
  ): AsyncGenerator<Uint8Array> {
    const blocks = info.blocks;
    const damage = prefixDamage(info);
    if (damage) throw new SpareError(damage);
    const pending: { plaintext: Promise<OpenedBlock>; release: () => void }[] = [];
    let next = 0;
    try {
      while (next < blocks.length || pending.length > 0) {
        signal?.throwIfAborted();
        // Top up the read-ahead from free budget; wait for budget only with nothing
        // pending, so that a reader never holds blocks while waiting for more.
        while (next < blocks.length && pending.length < PREFETCH_PER_PREFIX) {
          const release = pending.length === 0
            ? await this.readAhead.acquire()
            : this.readAhead.tryAcquire();
          if (!release) break;
          const block = blocks[next++];
          const plaintext = this.requests.run(() =>
            this.store.get(this.name, block.key, { size: block.size })
          )
            .then((sealed) => openBlock(codec, sealed, block, keptXz !== undefined));
          plaintext.catch(() => {}); // observed when its turn comes
          pending.push({ plaintext, release });
        }
        const { plaintext, release } = pending.shift()!;
        try {
          const opened = await plaintext;
          if (opened.xz) keptXz?.push(opened.xz);
          yield opened.plaintext;
        } finally {
          release();
        }
      }
    } finally {
      // Stopped early (failure, abort, consumer gone): wait for the downloads in flight,
      // then give their budget back.
      for (const { plaintext, release } of pending.splice(0)) {
        await plaintext.catch(() => {});
        release();
      }
    }
  }

  /** Deletes every block of a prefix. */
  deletePrefix(info: PrefixInfo): Promise<void> {
    return this.store.deleteMany(this.name, info.blocks.map((b) => b.key));
  }

  /** Deletes keys that are not spare's (found by a listing). */
  deleteKeys(keys: string[]): Promise<void> {
    return this.store.deleteMany(this.name, keys);
  }
}
