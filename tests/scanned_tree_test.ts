/**
 * Issue 29: create's compact scan (lib/backup/tree.ts) and the snapshot written from it
 * (lib/backup/snapshot_source.ts) give the JSON the plain objects give.
 */
import { Kind, type RowFields, ScannedTree } from "../lib/backup/tree.ts";
import { treeSource } from "../lib/backup/snapshot_source.ts";
import {
  decodeSnapshotText,
  encodeSnapshot,
  encodeSourceBlocks,
  type Entry,
  type SnapshotData,
} from "../lib/snapshot/snapshot.ts";
import { Owners } from "../lib/util/owners.ts";
import { concatBytes } from "../lib/util/bytes.ts";
import { assertEquals } from "./assert.ts";

const A = "a".repeat(64);
const B = "b".repeat(64);

/** A tree of a few rows of every kind, with names that JSON must escape. */
function sampleTree(): ScannedTree {
  const tree = new ScannedTree(new Owners("/nonexistent", "/nonexistent"));
  const fields = (kind: Kind, extra: Partial<RowFields> = {}): RowFields => ({
    kind,
    mode: kind === Kind.Directory ? 0o40755 : kind === Kind.Symlink ? 0o120777 : 0o100644,
    user: tree.nameRef("root"),
    group: tree.nameRef('we"ird\\group'),
    size: 3,
    mtimeNs: 1765000000123000000,
    ctimeNs: 1765000000000000000,
    inode: 42,
    ...extra,
  });
  const dir = tree.add("d", -1, fields(Kind.Directory));
  const first = tree.count;
  const a = tree.add('a "quoted"', dir, fields(Kind.File));
  tree.setDigest(a, A);
  const b = tree.add("b\udcff", dir, fields(Kind.File, { ctimeNs: NaN }));
  tree.setDigest(b, B);
  const c = tree.add("c", dir, fields(Kind.File, { inode: 42 }));
  tree.setDigest(c, A);
  const empty = tree.add("empty", dir, fields(Kind.File, { size: 0 }));
  tree.setEmpty(empty, undefined); // a kept entry of 0.4.0 without the field
  const into = tree.add("link-in", dir, fields(Kind.Symlink));
  tree.links.set(into, { target: "d/c", link: "/root/d/c" });
  const out = tree.add("link-out", dir, fields(Kind.Symlink));
  tree.links.set(out, { target: "../x" });
  const gone = tree.add("vanished", dir, fields(Kind.File));
  tree.kind[gone] = Kind.Dropped;
  tree.setChildren(dir, first, tree.count);
  tree.setChildren(-1, 0, 1);
  return tree;
}

Deno.test("ScannedTree: each row's JSON is JSON.stringify of its entry", () => {
  const tree = sampleTree();
  const quoted = tree.quotedOwnerNames();
  for (let row = 0; row < tree.count; row++) {
    if (tree.kind[row] === Kind.Dropped) continue;
    assertEquals(tree.entryJson(row, quoted), JSON.stringify(tree.entry(row)), tree.path(row));
  }
  assertEquals(tree.path(2), "d/b\udcff");
  assertEquals(tree.rowOfPath("d/c"), 3);
  assertEquals(tree.rowOfPath("d/none"), -1);
  assertEquals(tree.rowOfPath("d/c/x"), -1);
});

Deno.test("the snapshot written from a ScannedTree is the one its objects encode to", () => {
  const tree = sampleTree();
  const structure: Record<string, Entry> = {};
  const files: Record<string, string[]> = {};
  for (let row = 0; row < tree.count; row++) {
    if (tree.kind[row] === Kind.Dropped) continue;
    structure[tree.path(row)] = tree.entry(row);
    const digest = tree.digestOf(row);
    if (digest) (files[digest] ??= []).push(tree.path(row));
  }
  const objects: SnapshotData = { files, structure, identity: "h:/root:1" };
  const written = new TextDecoder().decode(
    concatBytes([...encodeSourceBlocks(treeSource(tree, "h:/root:1"), 1000)]),
  );
  // byte for byte what the objects encode to, symlinks split off alike
  assertEquals(written, new TextDecoder().decode(encodeSnapshot(objects)));
  const decoded = decodeSnapshotText(written, "s");
  assertEquals(decoded.refused, []);
  assertEquals({ ...decoded.files }, { [A]: ['d/a "quoted"', "d/c"], [B]: ["d/b\udcff"] });
  assertEquals(Object.keys(decoded.structure).sort(), Object.keys(structure).sort());
  // the link out of the tree goes to our symlinks field, the one into it stays in structure
  const parsed = JSON.parse(written);
  assertEquals(Object.keys(parsed.symlinks), ["d/link-out"]);
  assertEquals(parsed.structure["d/link-in"].link, "/root/d/c");
});
