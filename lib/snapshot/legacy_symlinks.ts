/**
 * Which symlinks a snapshot shows 0.4.0 in `structure`, and which it keeps in our own
 * top-level field `symlinks` (0.4.0 reads only `files`, `structure` and `identity`).
 *
 * 0.4.0's restore walks `structure` in sorted order (Python's: by code point), creates a
 * symlink as `<restore root>/<target>` and at once chmods and chowns *through* it. It crashes
 * when the target does not exist yet, and with an absolute `target` it would link to, chmod
 * and chown a path outside the restore root. So `structure` holds only the links 0.4.0
 * restores as it does its own: an absolute link text naming a path inside the tree that is a
 * `structure` entry (a directory, a file or a link kept by this rule) sorting before the link.
 * Every other link (relative, outside the tree, dangling, sorting before its target) goes to
 * `symlinks`, which our reader merges back: 0.4.0 restores everything but those links.
 */
import type { Entry, SymlinkEntry } from "./entry.ts";

/** The top-level snapshot field with the symlinks 0.4.0 cannot restore without harm. */
export const SYMLINKS_FIELD = "symlinks";

/** Orders strings by Unicode code point, as Python's `sorted` does (not by UTF-16 unit). */
export function compareCodePoints(a: string, b: string): number {
  const x = a[Symbol.iterator]();
  const y = b[Symbol.iterator]();
  while (true) {
    const p = x.next();
    const q = y.next();
    if (p.done || q.done) return p.done ? (q.done ? 0 : -1) : 1;
    const d = p.value.codePointAt(0)! - q.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

/**
 * True when the link's text is the absolute, normalized path `<root>/<target>`, so that
 * 0.4.0's `<restore root>/<target>` is the same link moved to the restore root.
 */
function pointsIntoTree(entry: SymlinkEntry): boolean {
  if (entry.target.startsWith("/") || entry.target === "") return false;
  const link = entry.link;
  // A snapshot of 0.4.0 (no link text): its tree-relative target is all there is.
  if (link === undefined) return true;
  return link.startsWith("/") && normalize(link) === link && link.endsWith(`/${entry.target}`);
}

/**
 * The paths of the links that `structure` shows 0.4.0, by the rule in this module's comment:
 * `links` are the snapshot's symlinks, `typeOf` the type of any path of the snapshot.
 */
export function shownSymlinks(
  links: [string, SymlinkEntry][],
  typeOf: (path: string) => Entry["type"] | undefined,
): Set<string> {
  const kept = new Set<string>();
  const sorted = [...links].sort((a, b) => compareCodePoints(a[0], b[0]));
  for (const [path, entry] of sorted) {
    if (!pointsIntoTree(entry)) continue;
    const type = typeOf(entry.target);
    if (!type || compareCodePoints(entry.target, path) >= 0) continue;
    if (type === "symlink" && !kept.has(entry.target)) continue;
    kept.add(path);
  }
  return kept;
}

/**
 * Splits a structure into what 0.4.0 sees (`structure`) and the symlinks it must not see
 * (`symlinks`), by the rule in this module's comment. When every link is shown, `structure`
 * is the object given (not a copy).
 */
export function splitSymlinks(
  structure: Record<string, Entry>,
): { structure: Record<string, Entry>; symlinks: Record<string, SymlinkEntry> } {
  const links = Object.keys(structure).filter((p) => structure[p].type === "symlink")
    .map((p): [string, SymlinkEntry] => [p, structure[p] as SymlinkEntry]);
  const kept = shownSymlinks(links, (path) => structure[path]?.type);
  // Usually every link is kept (or there are none): then structure is shown as it is,
  // without a copy (for 20,000 entries, some MiB while the snapshot is written).
  if (kept.size === links.length) return { structure, symlinks: {} };
  const shown: Record<string, Entry> = {};
  const symlinks: Record<string, SymlinkEntry> = {};
  for (const [path, entry] of Object.entries(structure)) {
    if (entry.type === "symlink" && !kept.has(path)) symlinks[path] = entry;
    else shown[path] = entry;
  }
  return { structure: shown, symlinks };
}

/** True when `value` (untrusted JSON) has the fields of a symlink entry. */
export function isSymlinkEntry(value: unknown): value is SymlinkEntry {
  if (!value || typeof value !== "object" || Array.isArray(value)) return false;
  const e = value as Record<string, unknown>;
  const numbers = ["mode", "size", "mtime_ns", "inode"];
  return e.type === "symlink" && typeof e.target === "string" &&
    (e.link === undefined || typeof e.link === "string") &&
    typeof e.user === "string" && typeof e.group === "string" &&
    numbers.every((n) => typeof e[n] === "number" && Number.isFinite(e[n]));
}

/** 0.4.0's `target` for a link: tree-relative when it resolves inside the tree, else absolute. */
export function legacyTarget(root: string, linkPath: string, linkText: string): string {
  const dir = linkPath.slice(0, linkPath.lastIndexOf("/"));
  const resolved = normalize(linkText.startsWith("/") ? linkText : `${dir}/${linkText}`);
  if (resolved.startsWith(root + "/")) return resolved.slice(root.length + 1);
  return resolved;
}

/** Resolves `.` and `..` in an absolute path, without touching the disk. */
export function normalize(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return "/" + parts.join("/");
}
