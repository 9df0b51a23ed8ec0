/** `diff`: what changed between two snapshots, path by path. */
import type { Entry } from "./snapshot.ts";
import type { SnapshotTable } from "./table.ts";

/**
 * `+` added, `-` removed, `M` content changed, `T` type changed, `P` only mode, owner,
 * group or mtime changed.
 */
export type ChangeKind = "+" | "-" | "M" | "T" | "P";

/** One changed path. */
export interface Change {
  kind: ChangeKind;
  path: string;
}

/**
 * True when two entries of one type have the same content: the digest (or emptiness) of a
 * file; the link text of a symlink, or 0.4.0's `target` when one of them has no link text
 * (a snapshot written by 0.4.0 and one written by us agree on `target`).
 */
function sameContent(
  a: Entry,
  b: Entry,
  digestA: string | undefined,
  digestB: string | undefined,
): boolean {
  if (a.type === "file" && b.type === "file") {
    return digestA === digestB && (digestA !== undefined || a.size === b.size);
  }
  if (a.type === "symlink" && b.type === "symlink") {
    return a.link !== undefined && b.link !== undefined ? a.link === b.link : a.target === b.target;
  }
  return true;
}

/** True when the mode, owner, group or mtime differ. */
function metadataDiffers(a: Entry, b: Entry): boolean {
  return a.mode !== b.mode || a.user !== b.user || a.group !== b.group ||
    a.mtime_ns !== b.mtime_ns;
}

/**
 * Every path added, removed or changed from `older` to `newer`, sorted by path: the two
 * tables' rows (each sorted by path) walked side by side.
 */
export function diffSnapshots(older: SnapshotTable, newer: SnapshotTable): Change[] {
  const changes: Change[] = [];
  let i = nextRow(older, 0);
  let j = nextRow(newer, 0);
  while (i < older.count || j < newer.count) {
    const pathA = i < older.count ? older.paths[i] : undefined;
    const pathB = j < newer.count ? newer.paths[j] : undefined;
    if (pathB === undefined || (pathA !== undefined && pathA < pathB)) {
      changes.push({ kind: "-", path: pathA! });
      i = nextRow(older, i + 1);
      continue;
    }
    if (pathA === undefined || pathB < pathA) {
      changes.push({ kind: "+", path: pathB });
      j = nextRow(newer, j + 1);
      continue;
    }
    const a = older.entry(i);
    const b = newer.entry(j);
    let kind: ChangeKind | undefined;
    if (a.type !== b.type) kind = "T";
    else if (!sameContent(a, b, older.digest(i), newer.digest(j))) kind = "M";
    else if (metadataDiffers(a, b)) kind = "P";
    if (kind) changes.push({ kind, path: pathA });
    i = nextRow(older, i + 1);
    j = nextRow(newer, j + 1);
  }
  return changes;
}

/** The first row from `row` on that was not refused. */
function nextRow(table: SnapshotTable, row: number): number {
  while (row < table.count && !table.type(row)) row++;
  return row;
}

/** How many changes of each kind. */
export function countChanges(changes: Change[]): Record<ChangeKind, number> {
  const counts: Record<ChangeKind, number> = { "+": 0, "-": 0, M: 0, T: 0, P: 0 };
  for (const change of changes) counts[change.kind]++;
  return counts;
}
