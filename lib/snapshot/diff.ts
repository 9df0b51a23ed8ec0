/** `diff`: what changed between two snapshots, path by path. */
import { digestByPath, type Entry, type SnapshotData } from "./snapshot.ts";

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

/** Every path added, removed or changed from `older` to `newer`, sorted by path. */
export function diffSnapshots(older: SnapshotData, newer: SnapshotData): Change[] {
  const oldDigests = digestByPath(older);
  const newDigests = digestByPath(newer);
  const paths = new Set([...Object.keys(older.structure), ...Object.keys(newer.structure)]);
  const changes: Change[] = [];
  for (const path of [...paths].sort()) {
    const a = Object.hasOwn(older.structure, path) ? older.structure[path] : undefined;
    const b = Object.hasOwn(newer.structure, path) ? newer.structure[path] : undefined;
    let kind: ChangeKind | undefined;
    if (!a) kind = "+";
    else if (!b) kind = "-";
    else if (a.type !== b.type) kind = "T";
    else if (!sameContent(a, b, oldDigests.get(path), newDigests.get(path))) kind = "M";
    else if (metadataDiffers(a, b)) kind = "P";
    if (kind) changes.push({ kind, path });
  }
  return changes;
}

/** How many changes of each kind. */
export function countChanges(changes: Change[]): Record<ChangeKind, number> {
  const counts: Record<ChangeKind, number> = { "+": 0, "-": 0, M: 0, T: 0, P: 0 };
  for (const change of changes) counts[change.kind]++;
  return counts;
}
