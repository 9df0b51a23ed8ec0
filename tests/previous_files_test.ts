/**
 * Issue 29: create's compact form of the previous snapshot, read as it streams, gives for each
 * path what the checked decoding of the whole snapshot gives.
 */
import { pathHash, PreviousFiles } from "../lib/backup/previous.ts";
import { JsonPieceParser } from "../lib/snapshot/json_stream.ts";
import { decodeSnapshotText } from "../lib/snapshot/snapshot.ts";
import { assert, assertEquals } from "./assert.ts";

const DIGEST_A = "a".repeat(64);
const DIGEST_B = "b".repeat(64);
const DIGEST_C = "c".repeat(64);
const base = { user: "u", group: "g", mode: 0o100644, inode: 9 };

/** PreviousFiles fed with `text` in pieces of `size` characters. */
function previousOf(text: string, size: number): PreviousFiles {
  const previous = new PreviousFiles();
  const parser = new JsonPieceParser(previous.take);
  for (let i = 0; i < text.length; i += size) parser.push(text.slice(i, i + size));
  const root = parser.end() as Record<string, unknown>;
  previous.identity = root.identity as string;
  // nothing of files and structure is kept as objects
  assertEquals(root.files, {});
  assertEquals(root.structure, {});
  return previous;
}

const structure = {
  "d": { type: "directory", ...base, mode: 0o40755, size: 0, mtime_ns: 1 },
  "d/a": {
    type: "file",
    ...base,
    size: 5,
    mtime_ns: 1765000000123456789,
    ctime_ns: 17e17,
    empty: false,
  },
  "d/b": { type: "file", ...base, user: "other", size: 7, mtime_ns: 2, inode: 3 },
  "d/c": { type: "file", ...base, size: 0, mtime_ns: 2, ctime_ns: 4, empty: true },
  "d/l": { type: "symlink", ...base, mode: 0o120777, size: 1, mtime_ns: 1, target: "a" },
  // listed under two digests: never reused
  "d/twice": { type: "file", ...base, size: 1, mtime_ns: 1 },
  // a directory that files lists content for
  "d/dir": { type: "directory", ...base, mode: 0o40755, size: 0, mtime_ns: 1 },
  // a malformed file entry
  "d/bad": { type: "file", ...base, size: -1, mtime_ns: 1 },
  "__proto__": { type: "file", ...base, size: 3, mtime_ns: 5, ctime_ns: 6, empty: false },
  "d/\udcff": { type: "file", ...base, size: 3, mtime_ns: 5, ctime_ns: 6, empty: false },
};
const text = JSON.stringify({
  files: {
    [DIGEST_A]: ["d/a", "d/twice", "__proto__", "d/\udcff"],
    [DIGEST_B]: ["d/b", "d/twice", "d/dir", "d/bad"],
    "not-a-digest": ["d/c"],
    [DIGEST_C]: "not a list",
  },
  structure,
  identity: "h:/r:1",
});

Deno.test("PreviousFiles: digest and entry of each path as the checked snapshot has them", () => {
  const snapshot = decodeSnapshotText(text, "s", true);
  for (const size of [1, 7, 64, 1 << 20]) {
    const previous = previousOf(text, size);
    assertEquals(previous.identity, "h:/r:1");
    assertEquals([...new Set(previous.listedDigests)].sort(), [
      DIGEST_A,
      DIGEST_B,
      DIGEST_C,
      "not-a-digest",
    ]);
    for (const path of [...Object.keys(structure), "d/none", "d"]) {
      const row = previous.fileRowOfPath(path);
      const digest = snapshot.digestOfPath!.get(path);
      assertEquals(row >= 0 ? previous.digest(row) : undefined, digest, `${path} (${size})`);
      if (digest) assertEquals(previous.entry(row), snapshot.structure[path], path);
    }
  }
});

Deno.test("PreviousFiles: a file is unchanged only with the same size, mtime, inode and ctime", () => {
  const previous = previousOf(text, 1 << 20);
  const a = structure["d/a"];
  const row = previous.fileRowOfPath("d/a");
  const unchanged = (size: number, mtime: number, inode: number, ctime: number) =>
    previous.unchangedCtime(row, size, mtime, inode, ctime);
  assertEquals(unchanged(a.size, a.mtime_ns, a.inode, a.ctime_ns), 17e17);
  assertEquals(unchanged(6, a.mtime_ns, a.inode, a.ctime_ns), undefined);
  assertEquals(unchanged(a.size, a.mtime_ns + 1000, a.inode, a.ctime_ns), undefined);
  assertEquals(unchanged(a.size, a.mtime_ns, 10, a.ctime_ns), undefined);
  assertEquals(unchanged(a.size, a.mtime_ns, a.inode, 1), undefined);
  // no ctime in the snapshot: never unchanged
  const b = structure["d/b"];
  const rowB = previous.fileRowOfPath("d/b");
  assertEquals(previous.unchangedCtime(rowB, b.size, b.mtime_ns, b.inode, NaN), undefined);
});

Deno.test("PreviousFiles: many paths, found by their folder's hashes continued by the name", () => {
  const files: Record<string, string[]> = {};
  const many: Record<string, unknown> = {};
  const count = 20_000;
  for (let i = 0; i < count; i++) {
    const path = `f${Math.floor(i / 100)}/n${i}`;
    const digest = (i % 37).toString(16).padStart(64, "0");
    (files[digest] ??= []).push(path);
    many[path] = { type: "file", ...base, size: i, mtime_ns: i, ctime_ns: i, inode: i };
  }
  const previous = previousOf(JSON.stringify({ files, structure: many, identity: "x" }), 65536);
  for (let i = 0; i < count; i++) {
    pathHash.start();
    pathHash.add(`f${Math.floor(i / 100)}/`);
    pathHash.add(`n${i}`);
    const row = previous.fileRow(pathHash.h1, pathHash.h2);
    assert(row >= 0, `n${i}`);
    assertEquals(previous.digest(row), (i % 37).toString(16).padStart(64, "0"));
    assertEquals(previous.unchangedCtime(row, i, i, i, i), i);
  }
  assertEquals(previous.fileRowOfPath("f0/n100"), -1);
});
