/**
 * Partial restore: the part of a snapshot that `--include` / `--exclude` globs select, as a
 * snapshot of its own that the restore engine rebuilds like a whole one.
 */
import { anyGlob, type GlobMatcher } from "../util/mod.ts";
import type { Entry, SnapshotData } from "./snapshot.ts";

/** Which paths to keep: those matching an include (all when none), minus those matching an exclude. */
export interface Selection {
  include: GlobMatcher[];
  exclude: GlobMatcher[];
}

/** The path and each of its ancestors, the path itself first. */
function selfAndAncestors(path: string): string[] {
  const out = [path];
  for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
    out.push(path.slice(0, i));
  }
  return out;
}

/**
 * True when the selection takes `path`: it or a directory above it matches an include glob
 * (every path when there is none), and neither it nor a directory above it matches an
 * exclude glob. An included directory brings everything under it.
 */
export function isSelected(selection: Selection, path: string): boolean {
  const chain = selfAndAncestors(path);
  if (selection.include.length > 0 && !chain.some((p) => anyGlob(selection.include, p))) {
    return false;
  }
  return !chain.some((p) => anyGlob(selection.exclude, p));
}

/**
 * The selected part of a snapshot: the selected paths, the directories on the way to them
 * (with their own entries), and `files` cut to the selected paths (a digest none of whose
 * paths is selected is left out, so it is not downloaded). Hardlink groups split by the
 * selection keep the selected part; entries refused when the snapshot was decoded stay
 * refused where the selection takes their path. The input is not changed.
 */
export function selectSnapshot(snapshot: SnapshotData, selection: Selection): SnapshotData {
  const structure: Record<string, Entry> = {};
  for (const path of Object.keys(snapshot.structure)) {
    if (!isSelected(selection, path)) continue;
    for (const p of selfAndAncestors(path)) {
      if (structure[p]) break; // its ancestors were added with it
      const entry = snapshot.structure[p];
      if (entry) structure[p] = entry;
    }
  }
  const files: Record<string, string[]> = {};
  for (const [digest, paths] of Object.entries(snapshot.files)) {
    const kept = paths.filter((p) => structure[p] !== undefined && isSelected(selection, p));
    if (kept.length > 0) files[digest] = kept;
  }
  // Keys in path order, as a whole snapshot has them.
  const sorted: Record<string, Entry> = {};
  for (const path of Object.keys(structure).sort()) sorted[path] = structure[path];
  const refused = snapshot.refused?.filter((r) => isSelected(selection, r.path));
  return { files, structure: sorted, identity: snapshot.identity, ...(refused ? { refused } : {}) };
}
