/**
 * Issue 29: restore's compact snapshot (SnapshotTable), read as the metadata streams, gives
 * what the checked decoding of the whole JSON gives: the same paths, entries, digests and
 * refusals, for valid snapshots, hostile ones and 0.4.0's fixtures.
 */
import { JsonPieceParser } from "../lib/snapshot/json_stream.ts";
import { decodeSnapshotText } from "../lib/snapshot/snapshot.ts";
import { SnapshotTable } from "../lib/snapshot/table.ts";
import { assertEquals } from "./assert.ts";
import { entry } from "./snapshot_writer.ts";
import { viewOfData, viewOfTable } from "./snapshot_views.ts";

const A = "a".repeat(64);
const B = "b".repeat(64);

/** The table of `text`, streamed in pieces of `size` characters. */
function tableOf(text: string, size: number): SnapshotTable {
  const table = new SnapshotTable();
  const parser = new JsonPieceParser(table.take);
  for (let i = 0; i < text.length; i += size) parser.push(text.slice(i, i + size));
  const root = parser.end() as Record<string, unknown>;
  table.identity = root.identity as string;
  table.finish();
  return table;
}

const cases: Record<string, unknown> = {
  plain: {
    files: { [A]: ["d/a", "d/b"], [B]: ["c"] },
    structure: {
      d: entry("directory"),
      "d/a": entry("file", { size: 3, inode: 7 }),
      "d/b": entry("file", { size: 3, inode: 7 }),
      c: entry("file", { size: 1, mtime_ns: 1765000000123456789 }),
      e: entry("file", { size: 0 }),
      l: entry("symlink", { target: "c", link: "/r/c" }),
      "__proto__": entry("file", { size: 0 }),
      "z/implied/f": entry("file", { size: 0 }),
    },
    identity: "h:/r:1",
  },
  hostile: {
    files: {
      [A]: ["ok", "twice", "../escape", "dir", "missing", "under/file"],
      [B]: ["twice", "ok"],
      "not-hex": ["bad-digest", "nowhere"],
      [A.slice(1) + "c"]: 5,
    },
    structure: {
      ok: entry("file"),
      twice: entry("file"),
      "../escape": entry("file"),
      "/abs": entry("file"),
      dir: entry("directory"),
      under: entry("file"),
      "under/file": entry("file"),
      "bad-dir": entry("directory", { mode: 0o100644 }),
      "bad-dir/child": entry("file"),
      "bad-digest": entry("file"),
      "link": entry("symlink", { target: "x" }),
      "link/inside": entry("file"),
      "wrong": { type: "file", user: 1 },
    },
    identity: "x",
    symlinks: {
      "link": entry("symlink", { target: "y" }),
      "notlink": entry("file"),
      "extra": entry("symlink", { target: "/abs", link: "/abs" }),
    },
  },
};

Deno.test("SnapshotTable: streamed, it holds what the checked decoding of the JSON holds", () => {
  for (const [name, snapshot] of Object.entries(cases)) {
    const text = JSON.stringify(snapshot);
    const expected = viewOfData(decodeSnapshotText(text, name));
    for (const size of [1, 5, 64, 1 << 20]) {
      assertEquals(viewOfTable(tableOf(text, size)), expected, `${name} in pieces of ${size}`);
    }
    // from the decoded objects (a partial restore) as well
    assertEquals(viewOfTable(SnapshotTable.fromData(decodeSnapshotText(text, name))), expected);
  }
});

Deno.test("SnapshotTable: structure before files, and many paths", () => {
  const structure: Record<string, unknown> = {};
  const files: Record<string, string[]> = {};
  for (let i = 0; i < 5000; i++) {
    const path = `f${i % 7}/n${i}`;
    structure[`f${i % 7}`] = entry("directory");
    structure[path] = entry("file", { size: i, inode: i });
    (files[(i % 13).toString(16).padStart(64, "0")] ??= []).push(path);
  }
  const text = JSON.stringify({ structure, identity: "i", files });
  const expected = viewOfData(decodeSnapshotText(text, "s"));
  const table = tableOf(text, 4096);
  assertEquals(viewOfTable(table), expected);
  assertEquals(table.rowOf("f3/n10"), table.paths.indexOf("f3/n10"));
  assertEquals(table.rowOf("f3/none"), -1);
});
