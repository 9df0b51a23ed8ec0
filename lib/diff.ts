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

/** The content of an entry as far as the snapshot tells: digest (or empty) of a file, link text of a symlink. */
function contentOf(entry: Entry, digest: string | undefined): string {
  if (entry.type === "file") return digest ?? (entry.size === 0 ? "empty" : `size ${entry.size}`);
  if (entry.type === "symlink") return entry.link ?? entry.target;
  return "";
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
    else if (contentOf(a, oldDigests.get(path)) !== contentOf(b, newDigests.get(path))) kind = "M";
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
