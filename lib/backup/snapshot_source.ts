/**
 * The new snapshot as create writes it: handed out from the scanned tree (lib/backup/tree.ts)
 * piece by piece, nothing of it built as objects but one list of paths at a time.
 */
import { shownSymlinks, type SnapshotSource, type SymlinkEntry } from "../snapshot/mod.ts";
import { Kind, type ScannedTree } from "./tree.ts";

/**
 * The new snapshot, handed out from the scanned tree (nothing of it built as objects but
 * one list of paths at a time): each digest with its paths in the order the scan met
 * them, each path with its entry, and the links 0.4.0 must not see apart.
 */
export function treeSource(tree: ScannedTree, identity: string): SnapshotSource {
  const links: [string, SymlinkEntry][] = [];
  for (const row of tree.links.keys()) {
    if (tree.kind[row] === Kind.Symlink) {
      links.push([tree.path(row), tree.entry(row) as SymlinkEntry]);
    }
  }
  const shown = links.length > 0
    ? shownSymlinks(links, (path: string) => tree.type(tree.rowOfPath(path)))
    : new Set<string>();
  const quoted = tree.quotedOwnerNames();
  const hidden = (row: number) => tree.kind[row] === Kind.Symlink && !shown.has(tree.path(row));
  return {
    identity,
    files: filesOf(tree),
    structure: (function* () {
      for (let row = 0; row < tree.count; row++) {
        if (tree.kind[row] === Kind.Dropped || hidden(row)) continue;
        yield [tree.path(row), tree.entryJson(row, quoted)] as [string, string];
      }
    })(),
    symlinks: (function* () {
      for (const row of tree.links.keys()) {
        if (hidden(row)) yield [tree.path(row), tree.entryJson(row, quoted)] as [string, string];
      }
    })(),
  };
}

/** Each digest of the tree's files with their paths, digests in the order the scan met them. */
function* filesOf(tree: ScannedTree): Generator<[string, string[]]> {
  const digests = tree.digests.length;
  const counts = new Int32Array(digests);
  const order: number[] = [];
  for (let row = 0; row < tree.count; row++) {
    const digest = tree.digest[row];
    if (digest < 0 || tree.kind[row] !== Kind.File) continue;
    if (counts[digest]++ === 0) order.push(digest);
  }
  const start = new Int32Array(digests);
  let at = 0;
  for (const digest of order) {
    start[digest] = at;
    at += counts[digest];
  }
  const rows = new Int32Array(at);
  const next = start.slice();
  for (let row = 0; row < tree.count; row++) {
    const digest = tree.digest[row];
    if (digest < 0 || tree.kind[row] !== Kind.File) continue;
    rows[next[digest]++] = row;
  }
  for (const digest of order) {
    const paths: string[] = new Array(counts[digest]);
    for (let i = 0; i < paths.length; i++) paths[i] = tree.path(rows[start[digest] + i]);
    yield [tree.digests[digest], paths];
  }
}
