/**
 * Checking a decoded snapshot entry by entry, before anything acts on it: a snapshot comes
 * from the network, and restore must not be led outside its target or through a symlink.
 * Entries that fail are refused (each with one reason); the rest of the snapshot stays usable.
 */
import type { Entry } from "./entry.ts";
import { escapeProblem, showName } from "../util/mod.ts";

/** One path (or `files` key) of a snapshot that restore and verify refuse, and why. */
export interface RefusedEntry {
  /** The path as the snapshot spells it, or the digest when a `files` key is at fault. */
  path: string;
  reason: string;
}

/** The accepted part of a snapshot's `files` and `structure`, and what was refused. */
export interface CheckedEntries {
  files: Record<string, string[]>;
  structure: Record<string, Entry>;
  refused: RefusedEntry[];
  /** Every key of `files`, refused or not: pruning keeps what they name. */
  listedDigests: string[];
  /** The digest of each path of the checked `files`. */
  digestOfPath: Map<string, string>;
}

const S_IFMT = 0o170000;
const TYPE_BITS: Record<Entry["type"], number> = {
  file: 0o100000,
  directory: 0o040000,
  symlink: 0o120000,
};
const DIGEST_PATTERN = /^[0-9a-f]{64}$/;
/**
 * Matches every path pathProblem finds fault with (and no other but those with characters
 * beyond U+FFFF): one test for the usual good path.
 */
// deno-lint-ignore no-control-regex
const SUSPECT_PATH = /^$|^\/|\/\/|\/$|\x00|(^|\/)\.\.?(\/|$)|[\uD800-\uDFFF]/;

/**
 * A path or name as it can be shown on one line: in the shown form of lib/util/names.ts
 * (bytes that are not UTF-8 as `\xNN`, a backslash as `\\`), quoted when empty or unprintable.
 */
export function displayPath(path: string): string {
  const shown = showName(path);
  // deno-lint-ignore no-control-regex
  return shown === "" || /[\x00-\x1f\x7f]|^\s|\s$/.test(shown) ? JSON.stringify(shown) : shown;
}

/** One line about a refused entry. */
export function describeRefused(entry: RefusedEntry): string {
  return `${displayPath(entry.path)}: ${entry.reason}`;
}

/** Why `path` cannot be a path of a snapshot (relative, `/`-separated, plain names), if it cannot. */
export function pathProblem(path: string): string | undefined {
  if (!SUSPECT_PATH.test(path)) return undefined;
  if (path === "") return "the path is empty";
  if (path.includes("\0")) return "the path contains a NUL character";
  if (path.startsWith("/")) return "the path is absolute";
  for (const name of path.split("/")) {
    if (name === "") return "the path has an empty component";
    if (name === "." || name === "..") return `the path has a ${name} component`;
  }
  const escape = escapeProblem(path);
  return escape ? `the path is not a file name: ${escape}` : undefined;
}

/** The paths of the directories that hold `path`, outermost first ("a", "a/b" for "a/b/c"). */
export function ancestorsOf(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) out.push(path.slice(0, i));
  return out;
}

const isCount = (value: unknown) => Number.isInteger(value) && (value as number) >= 0;

/** Why `raw` is not a usable structure entry, if it is not. */
export function entryProblem(raw: unknown): string | undefined {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return "its entry is not an object";
  const entry = raw as Record<string, unknown>;
  const type = entry.type;
  if (type !== "file" && type !== "directory" && type !== "symlink") {
    return `its type ${shortJson(type)} is not file, directory or symlink`;
  }
  // Field by field, no list per entry: a million entries are checked as a snapshot streams.
  if (typeof entry.user !== "string") return "its user is missing or not a name";
  if (typeof entry.group !== "string") return "its group is missing or not a name";
  const mode = entry.mode;
  if (!isCount(mode) || (mode as number) > 0o177777) return "its mode is missing or not a mode";
  if (!isCount(entry.size)) return "its size is missing or not a count";
  if (!isCount(entry.inode)) return "its inode is missing or not a count";
  if (!Number.isInteger(entry.mtime_ns)) return "its mtime_ns is missing or not a time";
  if (entry.ctime_ns !== undefined && !Number.isInteger(entry.ctime_ns)) {
    return "its ctime_ns is not a time";
  }
  const typeBits = (mode as number) & S_IFMT;
  if (typeBits !== 0 && typeBits !== TYPE_BITS[type]) {
    return `its mode ${(mode as number).toString(8)} is not the mode of a ${type}`;
  }
  if (type === "file" && entry.empty !== undefined && typeof entry.empty !== "boolean") {
    return "its empty field is not true or false";
  }
  if (type === "symlink") {
    if (typeof entry.target !== "string") return "its target is missing or not text";
    if (entry.link !== undefined && typeof entry.link !== "string") return "its link is not text";
    const text = typeof entry.link === "string" ? entry.link : entry.target;
    if (text === "" || text.includes("\0")) return "its link text is empty or contains NUL";
    for (const field of ["target", "link"]) {
      const escape = typeof entry[field] === "string"
        ? escapeProblem(entry[field] as string)
        : undefined;
      if (escape) return `its ${field} is not a link text: ${escape}`;
    }
  }
  return undefined;
}

function shortJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? text.slice(0, 40) + "…" : text;
}

/** The directory that holds `path` ("" for the root). */
export function parentPath(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

/**
 * The rule that nothing may lie under a file or a symlink, nor under an entry that was
 * refused (an ancestor the snapshot does not describe at all is allowed: restore creates
 * it): a function giving the reason nothing may lie in directory `dir` ("" for the root), or
 * undefined. `typeOf` gives the type of a path's accepted entry, `removed` the refused
 * paths. What lies above a directory is found once for all the paths in it.
 */
export function blockedChecker(
  typeOf: (path: string) => Entry["type"] | undefined,
  removed: Set<string>,
): (dir: string) => string | undefined {
  const above = new Map<string, string | undefined>([["", undefined]]);
  const blockedIn = (dir: string): string | undefined => {
    if (above.has(dir)) return above.get(dir);
    let reason = blockedIn(parentPath(dir));
    if (reason === undefined) {
      const type = typeOf(dir);
      if (type !== undefined && type !== "directory") reason = `the ${type} ${displayPath(dir)}`;
      else if (type === undefined && removed.has(dir)) {
        reason = `${displayPath(dir)}, which is refused`;
      }
    }
    above.set(dir, reason);
    return reason;
  };
  return blockedIn;
}

/**
 * Checks every entry of a snapshot's `files` and `structure` (as parsed from JSON): paths,
 * entry fields, digests, and that nothing lies under a file or symlink of the snapshot.
 * `refusedAlready` names paths refused for reasons found before (with the reason). Works in
 * place: the two objects become the result, without a prototype (so any path is a plain
 * key) and without what was refused (for 20,000 files, building copies of both cost a
 * third of the check's time and their size in memory). Never throws.
 */
export function checkEntries(
  rawFiles: Record<string, unknown>,
  rawStructure: Record<string, unknown>,
  refusedAlready: Map<string, string> = new Map(),
): CheckedEntries {
  const refused: RefusedEntry[] = [];
  const structure = Object.setPrototypeOf(rawStructure, null) as Record<string, Entry>;
  /** Paths that structure described but that were refused (and removed from it). */
  const removed = new Set<string>();
  const remove = (path: string, reason: string) => {
    refused.push({ path, reason });
    removed.add(path);
    delete structure[path];
  };
  for (const path of Object.keys(structure)) {
    const problem = refusedAlready.get(path) ?? pathProblem(path) ?? entryProblem(structure[path]);
    if (problem) remove(path, problem);
  }
  // Nothing may lie under a file or a symlink, nor under an entry that was refused; an
  // ancestor that the snapshot does not describe at all is allowed (restore creates it).
  const blockedIn = blockedChecker((dir) => structure[dir]?.type, removed);
  const blocked: [string, string][] = [];
  for (const path of Object.keys(structure)) {
    const reason = blockedIn(parentPath(path));
    if (reason !== undefined) blocked.push([path, reason]);
  }
  for (const [path, reason] of blocked) remove(path, `it lies under ${reason}`);

  const listedDigests = Object.keys(rawFiles);
  const files = Object.setPrototypeOf(rawFiles, null) as Record<string, unknown>;
  const digestOfPath = new Map<string, string>();
  const listedTwice = new Set<string>();
  for (const digest of listedDigests) {
    const paths = files[digest];
    if (!Array.isArray(paths) || paths.some((p) => typeof p !== "string")) {
      refused.push({
        path: digest,
        reason: "files maps this digest to something other than paths",
      });
      delete files[digest];
      continue;
    }
    const kept: string[] = [];
    for (const path of paths.length === 1 ? paths as string[] : new Set(paths as string[])) {
      const problem = fileProblem(digest, path, removed, structure);
      if (problem === null) continue; // refused already, for its structure entry
      if (problem) {
        if (structure[path]?.type === "file") remove(path, problem);
        else refused.push({ path, reason: problem });
        continue;
      }
      if (digestOfPath.has(path)) listedTwice.add(path);
      digestOfPath.set(path, digest);
      kept.push(path);
    }
    // All kept: the parsed array stays (exactly its length; an array grown by push
    // reserves 17 slots, 2.9 MiB for the 20,000 one-path digests of a snapshot).
    if (kept.length === 0) delete files[digest];
    else if (kept.length !== paths.length) files[digest] = kept.slice();
  }
  const checkedFiles = files as Record<string, string[]>;
  for (const path of listedTwice) {
    refused.push({ path, reason: "files lists it under more than one digest" });
    delete structure[path];
    digestOfPath.delete(path);
  }
  if (listedTwice.size > 0) {
    for (const [digest, paths] of Object.entries(checkedFiles)) {
      const kept = paths.filter((p) => !listedTwice.has(p));
      if (kept.length > 0) checkedFiles[digest] = kept;
      else delete checkedFiles[digest];
    }
  }
  return { files: checkedFiles, structure, refused, listedDigests, digestOfPath };
}

/**
 * Why `files` may not list `path` under `digest`: a reason, undefined when it may, null
 * when the path's structure entry was refused already.
 */
function fileProblem(
  digest: string,
  path: string,
  removed: Set<string>,
  structure: Record<string, Entry>,
): string | null | undefined {
  const entry = structure[path];
  if (!entry && removed.has(path)) return null;
  const problem = pathProblem(path);
  if (problem) return problem;
  if (!DIGEST_PATTERN.test(digest)) {
    return `its digest ${shortJson(digest)} in files is not 64 lowercase hex characters`;
  }
  if (!entry) return "files lists content for it, but structure does not describe it";
  if (entry.type !== "file") return `files lists content for it, but it is a ${entry.type}`;
  return undefined;
}
