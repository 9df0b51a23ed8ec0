import { assert, assertEquals, assertRejects, assertStringIncludes } from "./assert.ts";
import { BLOCK_SIZE, BlockCodec } from "../lib/codec/block.ts";
import { blockKey, Bucket, READ_AHEAD_BLOCKS } from "../lib/bucket/bucket.ts";
import { SpareError } from "../lib/util/errors.ts";
import { ObjectStore } from "../lib/s3/client.ts";
import { listingPagesReadFast } from "../lib/s3/listing.ts";
import { concatBytes } from "../lib/util/bytes.ts";
import { pseudoRandom } from "./tree.ts";
import { cliEnv, hasServer, spare } from "./cli.ts";
import { FaultProxy } from "./fault_proxy.ts";
import { freshBucketName, testS3Env } from "./s3_env.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

function store(endpoint?: string): ObjectStore {
  const s3 = testS3Env()!;
  return new ObjectStore({
    ...s3,
    endpoint: endpoint ?? s3.endpoint,
    maxAttempts: 2,
    requestTimeoutMs: 10_000,
  });
}

/** A store that talks to the server directly and one that goes through a fault proxy. */
function proxiedStores() {
  const proxy = FaultProxy.start(testS3Env()!.endpoint);
  const direct = store();
  const viaProxy = store(proxy.endpoint);
  const close = async () => {
    await proxy.close();
    direct.close();
    viaProxy.close();
  };
  return { proxy, direct, viaProxy, close };
}

async function* blocksOf(data: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += BLOCK_SIZE) yield data.subarray(i, i + BLOCK_SIZE);
}

async function keys(s: ObjectStore, bucket: string): Promise<string[]> {
  const out = [];
  for await (const o of s.list(bucket)) out.push(o.key);
  return out.sort();
}

Deno.test({
  name: "a bucket with a foreign object and no .spare is refused and left untouched",
  ...options,
  fn: async () => {
    const s = store();
    const env = cliEnv("foreign");
    await s.createBucket(env.SPARE_BUCKET);
    await s.put(env.SPARE_BUCKET, "holiday.jpg", new TextEncoder().encode("not ours"));
    for (const command of ["lock", "create", "verify", "restore"]) {
      const tmp = await Deno.makeTempDir();
      const result = await spare([command, "--path", tmp], env);
      await Deno.remove(tmp, { recursive: true });
      assertEquals(result.code, 1, `${command}: ${result.stderr}`);
      assertStringIncludes(result.stderr, "no .spare marker");
      assert(!result.stderr.includes("    at "), "no stack trace");
    }
    assertEquals(await keys(s, env.SPARE_BUCKET), ["holiday.jpg"]);
    await assertRejects(() => new Bucket(s, env.SPARE_BUCKET).ensure(), SpareError);
    s.close();
  },
});

Deno.test({
  name:
    "a prefix of 3.5 MiB is written and read back identically, its blocks freed once sealed or not",
  ...options,
  fn: async () => {
    const s = store();
    const bucket = new Bucket(s, freshBucketName("prefix"));
    await bucket.ensure();
    const codec = await BlockCodec.fromPassword("pw");
    const data = pseudoRandom(3.5 * BLOCK_SIZE, 7);
    await bucket.writePrefix("a".repeat(64), blocksOf(data), codec);
    // blocks of their own, freed once sealed (discardBlocks): the same prefix comes back
    const own: Uint8Array[] = [];
    for (let at = 0; at < data.length; at += BLOCK_SIZE) own.push(data.slice(at, at + BLOCK_SIZE));
    await bucket.writePrefix("b".repeat(64), own, codec, undefined, true);
    assertEquals(own.map((block) => block.length), [0, 0, 0, 0], "each block freed once sealed");
    const listing = await bucket.listing();
    for (const prefix of ["a".repeat(64), "b".repeat(64)]) {
      const info = listing.prefixes.get(prefix)!;
      assert(info.complete);
      assertEquals(info.blocks.map((b) => b.index), [1, 2, 3, 4]);
      const back = [];
      for await (const block of bucket.readPrefix(info, codec)) back.push(block);
      assertEquals(concatBytes(back), data);
    }
    // readContent frees each block once its consumer has returned
    const handed: Uint8Array[] = [];
    const copies: Uint8Array[] = [];
    const info = listing.prefixes.get("b".repeat(64))!;
    const intact = await bucket.readContent(info, codec, (block) => {
      handed.push(block);
      copies.push(block.slice());
    });
    assert(!intact, "the prefix is not named by its content's digest");
    assertEquals(concatBytes(copies), data);
    assertEquals(handed.map((block) => block.length), [0, 0, 0, 0]);
    s.close();
  },
});

Deno.test({
  name: "listing 2,500 keys returns all of them",
  ...options,
  fn: async () => {
    const s = store();
    const name = freshBucketName("list");
    await s.createBucket(name);
    const all = Array.from({ length: 2500 }, (_, i) => `k/${String(i).padStart(5, "0")}`);
    const body = new Uint8Array(1);
    for (let i = 0; i < all.length; i += 50) {
      await Promise.all(all.slice(i, i + 50).map((k) => s.put(name, k, body)));
    }
    assertEquals(await keys(s, name), all);
    await s.deleteMany(name, all);
    assertEquals(await keys(s, name), []);
    s.close();
  },
});

Deno.test({
  name:
    "listings read by spare's own scanner give the keys and sizes the server has, odd names too",
  ...options,
  fn: async () => {
    const s = store();
    const name = freshBucketName("oddkeys");
    await s.createBucket(name);
    const odd = [
      "a&b",
      "less<than>",
      "quote\"apos'",
      "café 😀",
      "tab\there",
      "sp ace",
      "x".repeat(900),
    ];
    await Promise.all(odd.map((key, i) => s.put(name, key, new Uint8Array(i + 1))));
    const before = listingPagesReadFast();
    const listed = [];
    for await (const object of s.list(name, undefined, 3)) listed.push(object);
    assert(listingPagesReadFast() - before >= 3, "pages of 3 keys, read by the scanner");
    assertEquals(
      listed.sort((a, b) => (a.key < b.key ? -1 : 1)),
      odd.map((key, i) => ({ key, size: i + 1 })).sort((a, b) => (a.key < b.key ? -1 : 1)),
    );
    await s.deleteMany(name, odd);
    s.close();
  },
});

Deno.test({
  name: "the listing in key ranges sees every key once: hex digits and the gaps around them",
  ...options,
  fn: async () => {
    const s = store();
    const name = freshBucketName("ranges");
    await s.createBucket(name);
    const nonce = "0123456789abcdef0123456789abcdef";
    const digest = (first: string) => first + "5".repeat(63);
    const blocks = [..."0123456789abcdef"].map((c, i) => blockKey(digest(c), 1 + i % 2, nonce));
    blocks.push(blockKey("snapshot_01HZZZZZZZZZZZZZZZZZZZZZZZ", 1, nonce));
    blocks.push(blockKey("Upper_case", 1, nonce), blockKey("_under", 1, nonce));
    const strays = ["-stray", "0stray", "f", "f-stray", "f\u00e9", "f\u{10FFFF}x", "g", "z", "~x"];
    strays.push("\u00e9t\u00e9", "\u{1F600}", "9", "9\u{10FFFF}", ":x", "A", "Z_stray", "`x");
    const body = new Uint8Array(1);
    await Promise.all([...blocks, ...strays].map((k) => s.put(name, k, body)));
    const bucket = new Bucket(s, name);
    const small = await bucket.listing(); // one page
    // the snapshots alone, as create lists them before the rest
    const snapshots = await bucket.listingOf("snapshot_");
    assertEquals([...snapshots.prefixes.keys()], ["snapshot_01HZZZZZZZZZZZZZZZZZZZZZZZ"]);
    assertEquals(snapshots.strays, []);
    let requests = 0;
    const listPage = s.listPage.bind(s);
    s.listPage = (...args) => (requests++, listPage(...args));
    const all = blocks.length + strays.length;
    // more than a page: the ranges, after a first page that ends in each of them
    for (let firstPage = 1; firstPage < all; firstPage++) {
      bucket.listPageKeys = firstPage;
      requests = 0;
      const listing = await bucket.listing();
      assertEquals(listing, small, `first page of ${firstPage}`);
      const listed = [...listing.prefixes.values()].flatMap((p) => p.blocks.map((b) => b.key));
      assertEquals(listed.sort(), [...blocks].sort());
      assertEquals([...listing.strays].sort(), [...strays].sort());
      // a first page past the hex digits spares their ranges (each one request at least)
      if (firstPage === all - 3) assert(requests < 10, `${requests} requests`);
    }
    await s.deleteMany(name, [...blocks, ...strays]);
    s.close();
  },
});

Deno.test({
  name: "when writing a 4-block prefix fails at block 3, block 1 is never stored",
  ...options,
  fn: async () => {
    const { proxy, direct, viaProxy, close } = proxiedStores();
    const name = freshBucketName("fail3");
    const bucket = new Bucket(viaProxy, name);
    await bucket.ensure();
    const codec = await BlockCodec.fromPassword("pw");
    // Block 3 fails and the server is gone from then on: no cleanup can reach it either.
    proxy.rules.resetWhen = /PUT [^ ]*\/000000003-/;
    proxy.rules.downAfterReset = true;
    const prefix = "b".repeat(64);
    await assertRejects(
      () => bucket.writePrefix(prefix, blocksOf(pseudoRandom(3.5 * BLOCK_SIZE, 9)), codec),
      SpareError,
    );
    assert(proxy.faults >= 1);
    const left = await keys(direct, name);
    assertEquals(left.filter((k) => k.includes("/000000001-")), []);
    const listing = await new Bucket(direct, name).listing();
    assertEquals(listing.prefixes.get(prefix)?.complete ?? false, false);
    await close();
  },
});

Deno.test({
  name: "a batch delete that fails on the wire falls back to single deletes",
  ...options,
  fn: async () => {
    const { proxy, direct, viaProxy, close } = proxiedStores();
    const name = freshBucketName("batch");
    await direct.createBucket(name);
    const all = Array.from({ length: 30 }, (_, i) => `x/${i}`);
    await Promise.all(all.map((k) => direct.put(name, k, new Uint8Array(1))));
    proxy.rules.resetWhen = /^POST [^ ]*\?delete/;
    await viaProxy.deleteMany(name, all);
    assert(proxy.faults >= 1, "the batch request was reset");
    assertEquals(await keys(direct, name), []);
    await close();
  },
});

Deno.test({
  name: "many readers share a bounded read-ahead, and readers that stop early give it back",
  ...options,
  fn: async () => {
    const s = store();
    const name = freshBucketName("readahead");
    const bucket = new Bucket(s, name);
    await bucket.ensure();
    const codec = await BlockCodec.fromPassword("pw");
    const piece = 64 * 1024;
    const contents = [1, 2, 3].map((seed) => pseudoRandom(6 * piece, seed));
    const prefixes = ["c", "d", "e"].map((c) => c.repeat(64));
    for (const [i, prefix] of prefixes.entries()) {
      const data = contents[i];
      await bucket.writePrefix(
        prefix,
        (function* () {
          for (let o = 0; o < data.length; o += piece) yield data.subarray(o, o + piece);
        })(),
        codec,
      );
    }
    const listing = await bucket.listing();
    // A block holds read-ahead budget from its download's start until its reader asks for
    // the next one (or stops).
    let started = 0;
    let done = 0;
    let mostHeld = 0;
    const counting = Object.create(s) as ObjectStore;
    counting.get = (bucketName, key) => {
      started++;
      mostHeld = Math.max(mostHeld, started - done);
      return s.get(bucketName, key);
    };
    const reading = new Bucket(counting, name);
    const readAll = (readers: number, stopAfter?: number) =>
      Promise.all(Array.from({ length: readers }, async (_, r) => {
        const i = r % prefixes.length;
        const blocks = [];
        for await (const block of reading.readPrefix(listing.prefixes.get(prefixes[i])!, codec)) {
          blocks.push(block);
          // A slow consumer, so that downloads pile up as far as the budget lets them.
          await new Promise((resolve) => setTimeout(resolve, 20));
          done++;
          if (blocks.length === stopAfter) break;
        }
        if (stopAfter === undefined) assertEquals(concatBytes(blocks), contents[i]);
      }));
    const withinAMinute = async (work: Promise<unknown>, what: string) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} hung: read-ahead budget lost`)), 60_000);
      });
      try {
        await Promise.race([work, timeout]);
      } finally {
        clearTimeout(timer);
      }
    };
    await withinAMinute(readAll(40), "40 readers");
    assert(mostHeld <= READ_AHEAD_BLOCKS, `${mostHeld} blocks held at once`);
    assert(mostHeld >= READ_AHEAD_BLOCKS / 2, `read-ahead in use (${mostHeld})`);
    // Rounds of two readers that stop after one block with more downloaded ahead: any
    // budget they kept would add up until nothing can be read.
    for (let round = 0; round < READ_AHEAD_BLOCKS; round++) {
      await withinAMinute(readAll(2, 1), "readers stopping early");
    }
    mostHeld = 0;
    started = done = 0;
    await withinAMinute(readAll(40), "readers after early stops");
    assert(mostHeld <= READ_AHEAD_BLOCKS, `${mostHeld} blocks held at once`);
    assert(mostHeld >= READ_AHEAD_BLOCKS / 2, `read-ahead lost to early stops (${mostHeld})`);
    s.close();
  },
});
