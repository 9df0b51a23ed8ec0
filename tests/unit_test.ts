/** Pure functions: no server, no files. */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { blockKey, groupIntoPrefixes, isPrefixName, parseBlockKey } from "../lib/bucket/bucket.ts";
import { intOption } from "../lib/config.ts";
import { SpareError, UsageError } from "../lib/util/errors.ts";
import { skipMatcher } from "../lib/backup/scan.ts";
import { legacyTarget, normalize } from "../lib/snapshot/legacy_symlinks.ts";
import { splitSymlinks } from "../lib/snapshot/legacy_symlinks.ts";
import { formatProgress } from "../lib/util/progress.ts";
import { concatBytes } from "../lib/util/bytes.ts";
import { forEachConcurrent } from "../lib/util/limit.ts";
import { discard, discardable } from "../lib/util/memory.ts";
import { abortableRequest } from "../lib/s3/request.ts";
import { endpointUrl } from "../lib/s3/config.ts";
import { describeS3Error, isTransient, TruncatedBodyError } from "../lib/s3/errors.ts";
import { S3ServiceException } from "@aws-sdk/client-s3";
import {
  decodeSnapshot,
  encodeSnapshot,
  encodeSnapshotBlocks,
  type Entry,
  isSnapshotPrefix,
  newSnapshotPrefix,
  ulid,
  ulidTime,
} from "../lib/snapshot/snapshot.ts";

Deno.test("--skip matches at the start of the relative path, as 0.4.0 did", () => {
  const skip = skipMatcher(["cache", "./logs/.*\\.gz", "tmp$"]);
  assert(skip("cache"));
  assert(skip("cache/x"));
  assert(skip("cache-notes.txt"));
  assert(!skip("sub/cache"));
  assert(skip("logs/a.gz"));
  assert(!skip("logs/a.txt"));
  assert(skip("tmp"));
  assert(!skip("tmpfile"));
  let error: unknown;
  try {
    skipMatcher(["ok", "(unclosed"]);
  } catch (err) {
    error = err;
  }
  assert(error instanceof UsageError);
  assertStringIncludes(
    (error as Error).message,
    "--skip (unclosed is not a valid regular expression",
  );
});

Deno.test("0.4.0's symlink target: tree-relative inside the tree, absolute outside", () => {
  assertEquals(legacyTarget("/srv", "/srv/a/link", "/srv/b/file"), "b/file");
  assertEquals(legacyTarget("/srv", "/srv/a/link", "../b/file"), "b/file");
  assertEquals(legacyTarget("/srv", "/srv/a/link", "../../etc/passwd"), "/etc/passwd");
  assertEquals(legacyTarget("/srv", "/srv/link", "/srvother/x"), "/srvother/x");
  assertEquals(normalize("/a/./b/../c//d"), "/a/c/d");
});

Deno.test("block keys and prefix names follow FORMAT.md", () => {
  const nonce = "4489c3d7ff0e090ad1a1260efa2f5084";
  const key = blockKey("3f".repeat(32), 2, nonce);
  assertEquals(key, `${"3f".repeat(32)}/000000002-${nonce}`);
  assertEquals(parseBlockKey(key, 10), { prefix: "3f".repeat(32), key, index: 2, nonce, size: 10 });
  assertEquals(parseBlockKey(".lock"), undefined);
  assertEquals(parseBlockKey("x/000000001-short"), undefined);
  assert(!isPrefixName(".hidden"));
  assert(isPrefixName("snapshot_01M8CDYFKHT71Q1MRMV2E2PRPV"));
});

Deno.test("a listing is grouped into prefixes as parseBlockKey reads each key", () => {
  const digest = "3f".repeat(32);
  const other = "a0".repeat(32);
  const nonce = (n: number) => n.toString(16).padStart(32, "0");
  const keys = [
    blockKey(digest, 1, nonce(1)), // one block: most prefixes
    blockKey(other, 3, nonce(3)), // three blocks, listed out of order
    blockKey(other, 1, nonce(1)),
    blockKey(other, 2, nonce(2)),
    blockKey("snapshot_01M8CDYFKHT71Q1MRMV2E2PRPV", 2, nonce(5)), // block 1 missing
    blockKey("ab", 1, nonce(6)), // block 1 twice
    blockKey("ab", 1, nonce(7)),
    ".lock",
    ".spare",
    // not block keys: strays
    `${digest}/000000001-${nonce(0xabc).toUpperCase()}`,
    `${digest}/00000001-${nonce(1)}0`,
    `${digest}/0000000x1-${nonce(1)}`,
    `${digest}_000000001-${nonce(1)}`,
    `${digest}/000000001_${nonce(1)}`,
    `a/000000001-${nonce(1)}`,
    `.x/000000001-${nonce(1)}`,
    `a/b/000000001-${nonce(1)}`,
    `/000000001-${nonce(1)}`,
    `000000001-${nonce(1)}`,
    "loose",
  ];
  const listing = groupIntoPrefixes(keys.map((key, size) => ({ key, size })));
  // the same, the slow way: every key through parseBlockKey
  const expected = new Map<string, { key: string; index: number; nonce: string; size: number }[]>();
  const strays: string[] = [];
  keys.forEach((key, size) => {
    if (key.startsWith(".")) return;
    const ref = parseBlockKey(key, size);
    if (!ref) return strays.push(key);
    const { prefix, ...block } = ref;
    expected.set(prefix, [...expected.get(prefix) ?? [], block]);
  });
  assertEquals(listing.strays, strays);
  assertEquals(strays.length, 10);
  assertEquals([...listing.prefixes.keys()].sort(), [...expected.keys()].sort());
  for (const [name, blocks] of expected) {
    const info = listing.prefixes.get(name)!;
    blocks.sort((a, b) => a.index - b.index || a.key.localeCompare(b.key));
    assertEquals({ name: info.name, blocks: info.blocks, complete: info.complete }, {
      name,
      blocks,
      complete: blocks.some((block) => block.index === 1),
    });
  }
  assertEquals(listing.prefixes.get(other)!.blocks.map((block) => block.index), [1, 2, 3]);
  assertEquals(listing.prefixes.get("ab")!.blocks.length, 2);
  assert(!listing.prefixes.get("snapshot_01M8CDYFKHT71Q1MRMV2E2PRPV")!.complete);
});

Deno.test("ULIDs sort by time, and a new snapshot sorts after every existing one", () => {
  const a = ulid(1_600_000_000_000);
  assertEquals(a.length, 26);
  assertEquals(ulidTime(a).getTime(), 1_600_000_000_000);
  assertEquals(ulidTime("01M8CDYFKHT71Q1MRMV2E2PRPV").toISOString().slice(0, 4), "2026");
  const future = "snapshot_" + ulid(Date.now() + 3_600_000);
  const next = newSnapshotPrefix([future, "snapshot_" + ulid(1)]);
  assert(next > future);
  assert(isSnapshotPrefix(next));
  assert(!isSnapshotPrefix("snapshot_lowercase0000000000000"));
});

Deno.test("snapshot metadata in blocks: JSON.stringify's bytes, cut at exact block sizes", () => {
  const base = { user: "u", group: "g", size: 3, mtime_ns: 1, inode: 2, ctime_ns: 3 };
  const file: Entry = { type: "file", mode: 0o100644, empty: false, ...base };
  const structure: Record<string, Entry> = {};
  const files: Record<string, string[]> = {};
  // Multi-byte and astral characters, escapes, integer-like keys (listed first by both).
  const names = ["a", "ä/ö", "😀 x", 'q"uote\\', "tab\there", "42", "7", "\u2028"];
  for (let i = 0; i < 400; i++) {
    const path = `${names[i % names.length]}-${i}`;
    structure[path] = { ...file, size: i };
    (files[(i % 37).toString(16).padStart(64, "0")] ??= []).push(path);
  }
  structure["42"] = file;
  const snapshot = { files, structure, identity: "höst:/p:1" };
  const expected = new TextEncoder().encode(JSON.stringify(snapshot));
  const link: Entry = {
    type: "symlink",
    mode: 0o120777,
    target: "/elsewhere",
    link: "/x",
    ...base,
  };
  const withLink = { files, structure: { ...structure, out: link }, identity: "h" };
  const { structure: shown, symlinks } = splitSymlinks(withLink.structure);
  assertEquals(Object.keys(symlinks), ["out"]);
  const linkExpected = new TextEncoder().encode(
    JSON.stringify({ files, structure: shown, identity: "h", symlinks }),
  );
  for (const blockSize of [1, 2, 3, 7, 1000, 65536, expected.length, expected.length + 1]) {
    const blocks = [...encodeSnapshotBlocks(snapshot, blockSize)];
    assert(blocks.slice(0, -1).every((b) => b.length === blockSize), `blocks of ${blockSize}`);
    assert(blocks.at(-1)!.length > 0 && blocks.at(-1)!.length <= blockSize);
    assertEquals(concatBytes(blocks), expected, `blocks of ${blockSize}`);
    assertEquals(concatBytes([...encodeSnapshotBlocks(withLink, blockSize)]), linkExpected);
  }
  assertEquals(encodeSnapshot(snapshot), expected);
});

Deno.test("snapshot metadata keeps 0.4.0's key order and refuses damaged JSON clearly", () => {
  const bytes = encodeSnapshot({ identity: "h:/p:1", structure: {}, files: {} });
  assertEquals(new TextDecoder().decode(bytes), '{"files":{},"structure":{},"identity":"h:/p:1"}');
  for (
    const text of [
      '{"files": {',
      '{"files": {}, "structure": {}}',
      '{"files": [], "structure": {}, "identity": ""}',
    ]
  ) {
    let error: unknown;
    try {
      decodeSnapshot(new TextEncoder().encode(text), "snapshot_X");
    } catch (err) {
      error = err;
    }
    assert(error instanceof SpareError, text);
    assertStringIncludes((error as Error).message, "snapshot snapshot_X is damaged");
  }
});

Deno.test("settings: endpoints without a scheme are https, numbers are checked", () => {
  assertEquals(endpointUrl("s3.example.org"), "https://s3.example.org");
  assertEquals(endpointUrl("http://127.0.0.1:9000/"), "http://127.0.0.1:9000");
  assertEquals(intOption(undefined, "keep", 1, 5, 1), 1);
  assertEquals(intOption("3", "keep", 1, 5, 1), 3);
  for (const bad of ["0", "6", "1.5", "x", "-1"]) {
    let error: unknown;
    try {
      intOption(bad, "keep", 1, 5, 1);
    } catch (err) {
      error = err;
    }
    assert(error instanceof UsageError, bad);
  }
});

Deno.test("transient faults are retried, others are final", () => {
  assert(isTransient(new TruncatedBodyError("x")));
  assert(isTransient(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })));
  assert(isTransient({ name: "InternalError", $metadata: { httpStatusCode: 503 } }));
  assert(!isTransient({ name: "AccessDenied", $metadata: { httpStatusCode: 403 } }));
  assert(!isTransient(new Error("getaddrinfo ENOTFOUND nowhere.invalid")));
  assert(!isTransient({ name: "NotImplemented", $metadata: { httpStatusCode: 501 } }));
});

Deno.test("the progress line shows files, bytes, rate and ETA", () => {
  const line = formatProgress("create", {
    filesDone: 5,
    filesTotal: 10,
    bytesDone: 10 * 1048576,
    bytesTotal: 30 * 1048576,
  }, 2);
  assertEquals(line, "create: 5/10 files, 10.0/30.0 MiB, 5.0 MiB/s, ETA 0:04");
});

Deno.test("a request's signal aborts on its deadline or when abandoned, and not once ended", async () => {
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const abandon = new AbortController();

  const late = abortableRequest(abandon.signal, 20);
  await wait(60);
  assert(late.signal.aborted && late.timedOut(), "the deadline aborts the request");
  assertEquals((late.signal.reason as DOMException).name, "TimeoutError");
  late.end();

  const ended = abortableRequest(abandon.signal, 20);
  ended.end();
  await wait(60);
  assert(!ended.signal.aborted && !ended.timedOut(), "an ended request's timer is cleared");

  const running = abortableRequest(abandon.signal, 60_000);
  abandon.abort(new Error("second signal"));
  assert(running.signal.aborted && !running.timedOut(), "abandoning aborts the request");
  running.end();

  const abandonedBefore = abortableRequest(abandon.signal, 60_000);
  assert(abandonedBefore.signal.aborted, "a request started after abandoning is aborted");
  abandonedBefore.end();

  const other = new AbortController();
  const done = abortableRequest(other.signal, 60_000);
  done.end();
  other.abort();
  assert(!done.signal.aborted, "an ended request no longer listens to the abandon signal");
});

Deno.test("discard frees a large buffer at once and leaves a small one to the collector", () => {
  const large = new Uint8Array(1 << 20).fill(7);
  const view = large.subarray(10, 20);
  assert(discardable(large));
  discard(large);
  assertEquals(large.length, 0, "detached: every view reads as empty");
  assertEquals(view.length, 0);
  const small = new Uint8Array(1000).fill(7);
  assert(!discardable(small));
  discard(small);
  assertEquals(small.length, 1000);
  assertEquals(small[999], 7);
});

Deno.test("while create uploads, a block's buffer is mapped apart and unmapped when freed", async () => {
  if (Deno.build.os !== "linux") return;
  // a process of its own: in this one, freed chunks of earlier tests could serve the blocks
  const probe = new URL("./mmap_probe.ts", import.meta.url).pathname;
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", probe],
    stderr: "inherit",
  }).output();
  assert(run.success, "the probe runs");
  const seen = JSON.parse(new TextDecoder().decode(run.stdout));
  if (seen === null) return; // not glibc, or older than 2.33
  assertEquals(seen, { outsideUploads: false, duringUploads: true, unmappedWhenFreed: true });
});

Deno.test("an S3 error is one line that says what an operator can do about it", () => {
  const answer = (name: string, status: number, message = "UnknownError") =>
    new S3ServiceException({
      name,
      $fault: "client",
      $metadata: { httpStatusCode: status },
      message,
    });
  const where = "CreateBucket Backups at http://127.0.0.1:9000";
  assertEquals(
    describeS3Error(where, answer("InvalidBucketName", 400)).message,
    `S3 ${where} failed: the server refuses the bucket's name (S3 bucket names are 3 to 63 ` +
      "lowercase letters, digits, dots and hyphens)",
  );
  assertEquals(
    describeS3Error(where, answer("InvalidAccessKeyId", 403, "no such key")).message,
    `S3 ${where} failed: the access key or secret key was rejected`,
  );
  assertEquals(
    describeS3Error(where, answer("SlowDown", 503, "Please reduce your request rate.")).message,
    `S3 ${where} failed: SlowDown (HTTP 503): Please reduce your request rate.`,
  );
});

Deno.test("forEachConcurrent: every item once, in order of start, never more than the limit at once", async () => {
  for (const source of ["array", "async"] as const) {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const generate = async function* () {
      for (const i of items) {
        await Promise.resolve();
        yield i;
      }
    };
    const started: number[] = [];
    let running = 0;
    let most = 0;
    await forEachConcurrent(source === "array" ? items : generate(), 4, async (i) => {
      started.push(i);
      most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, i % 3));
      running--;
    });
    assertEquals(started, items, source);
    assertEquals(most, 4, source);
  }
});

Deno.test("forEachConcurrent: the first failure stops new starts and is thrown once the started work settled", async () => {
  const started: number[] = [];
  let settled = 0;
  let error: unknown;
  try {
    await forEachConcurrent(Array.from({ length: 100 }, (_, i) => i), 3, async (i) => {
      started.push(i);
      await new Promise((resolve) => setTimeout(resolve, 1));
      settled++;
      if (i === 5) throw new Error("five");
    });
  } catch (err) {
    error = err;
  }
  assertEquals((error as Error)?.message, "five");
  assert(started.length < 12, `started ${started.length} items after the failure`);
  assertEquals(settled, started.length);
});
