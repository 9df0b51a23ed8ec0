/**
 * Snapshot metadata (FORMAT.md): `files` (digest → paths), `structure` (path → entry) and
 * `identity`, stored as UTF-8 JSON under the prefix `snapshot_<ULID>`; ours adds `symlinks`,
 * the links 0.4.0 cannot restore (lib/snapshot/legacy_symlinks.ts), merged back into `structure` here.
 */
import { concatBytes, SpareError } from "../util/mod.ts";
import { splitSymlinks, SYMLINKS_FIELD } from "./legacy_symlinks.ts";
import { checkEntries, type RefusedEntry } from "./check.ts";
import type { Entry } from "./entry.ts";

export type { DirectoryEntry, Entry, FileEntry, SymlinkEntry } from "./entry.ts";

/** The decoded metadata of one snapshot. */
export interface SnapshotData {
  files: Record<string, string[]>;
  structure: Record<string, Entry>;
  identity: string;
  /** Entries left out when the snapshot was decoded, because they failed a check. */
  refused?: RefusedEntry[];
  /**
   * Every key of `files` as stored, including those of refused entries: pruning keeps their
   * contents, so that a snapshot that cannot be restored in full loses nothing more.
   */
  listedDigests?: string[];
  /** The digest of each path of `files`, when the decoding was asked to keep it (create). */
  digestOfPath?: Map<string, string>;
}

/** Prefix names of snapshots start with this. */
export const SNAPSHOT_PREFIX = "snapshot_";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ULID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** A ULID: 48-bit millisecond time and 80 random bits, as 26 Crockford base32 characters. */
export function ulid(time = Date.now()): string {
  let out = "";
  let t = time;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[t % 32] + out;
    t = Math.floor(t / 32);
  }
  const random = crypto.getRandomValues(new Uint8Array(16));
  for (let i = 0; i < 16; i++) out += CROCKFORD[random[i] % 32];
  return out;
}

/** The creation time a ULID carries. */
export function ulidTime(id: string): Date {
  let t = 0;
  for (const ch of id.slice(0, 10)) t = t * 32 + CROCKFORD.indexOf(ch);
  return new Date(t);
}

/** A snapshot prefix name that sorts after every one in `existing`. */
export function newSnapshotPrefix(existing: Iterable<string>): string {
  let latest = "";
  for (const name of existing) if (name > latest) latest = name;
  const latestTime = latest ? ulidTime(latest.slice(SNAPSHOT_PREFIX.length)).getTime() : 0;
  return SNAPSHOT_PREFIX + ulid(Math.max(Date.now(), latestTime + 1));
}

/** True for `snapshot_<ULID>` prefix names. */
export function isSnapshotPrefix(name: string): boolean {
  return name.startsWith(SNAPSHOT_PREFIX) && ULID_PATTERN.test(name.slice(SNAPSHOT_PREFIX.length));
}

/**
 * A snapshot to write, handed out in order: create writes its scan this way without building
 * the snapshot as objects. Each iterable is walked once.
 */
export interface SnapshotSource {
  identity: string;
  /** Each digest with its paths. */
  files: Iterable<[string, string[]]>;
  /** Each path with its entry as JSON text; the links 0.4.0 must not see are left out. */
  structure: Iterable<[string, string]>;
  /** The links 0.4.0 must not see (lib/snapshot/legacy_symlinks.ts), as structure has them. */
  symlinks: Iterable<[string, string]>;
}

/**
 * Serializes snapshot metadata with 0.4.0's key order: files, structure, identity; the
 * symlinks 0.4.0 cannot restore go to a last field of ours, `symlinks`, when there are any.
 */
export function encodeSnapshot(snapshot: SnapshotData): Uint8Array {
  return concatBytes([...encodeSnapshotBlocks(snapshot, 1 << 20)]);
}

/** The source that writes `snapshot` (see encodeSnapshot). */
export function sourceOf(snapshot: SnapshotData): SnapshotSource {
  const { structure, symlinks } = splitSymlinks(snapshot.structure);
  return {
    identity: snapshot.identity,
    files: Object.entries(snapshot.files),
    structure: jsonEntries(structure),
    symlinks: jsonEntries(symlinks),
  };
}

/** Each key of `object` with its value as JSON (keys whose value JSON leaves out are left out). */
function* jsonEntries(object: Record<string, unknown>): Generator<[string, string]> {
  for (const key of Object.keys(object)) {
    const value = JSON.stringify(object[key]);
    if (value !== undefined) yield [key, value];
  }
}

/**
 * The bytes encodeSnapshot gives, cut into blocks of `blockSize` (the last one shorter),
 * written as they are handed out: the whole text is never held, neither as a string nor as
 * bytes (for 20,000 files, 5.4 MB each). Each block is a new array.
 */
export function encodeSnapshotBlocks(
  snapshot: SnapshotData,
  blockSize: number,
): Generator<Uint8Array> {
  return encodeSourceBlocks(sourceOf(snapshot), blockSize);
}

/** encodeSnapshotBlocks of a snapshot handed out by `source`. */
export function* encodeSourceBlocks(
  source: SnapshotSource,
  blockSize: number,
): Generator<Uint8Array> {
  let block = new Uint8Array(blockSize);
  let used = 0;
  for (const piece of snapshotJsonPieces(source)) {
    const { read, written } = utf8.encodeInto(piece, block.subarray(used));
    used += written;
    // The block is full: the rest of the piece, as bytes, goes on in the next blocks.
    let rest = read < piece.length ? utf8.encode(piece.slice(read)) : undefined;
    while (used === blockSize || rest?.length) {
      if (rest?.length) {
        const taken = Math.min(rest.length, blockSize - used);
        block.set(rest.subarray(0, taken), used);
        used += taken;
        rest = rest.subarray(taken);
      }
      if (used === blockSize) {
        yield block;
        block = new Uint8Array(blockSize);
        used = 0;
      }
    }
  }
  if (used > 0) yield block.subarray(0, used);
}

const utf8 = new TextEncoder();

/** Pieces of text handed out at a time by snapshotJsonPieces. */
const PIECE_CHARS = 64 * 1024;

/** The JSON text of a snapshot, in pieces of about PIECE_CHARS. */
function* snapshotJsonPieces(source: SnapshotSource): Generator<string> {
  let text = '{"files":{';
  let separator = "";
  for (const [digest, paths] of source.files) {
    text += `${separator}${JSON.stringify(digest)}:${JSON.stringify(paths)}`;
    separator = ",";
    if (text.length >= PIECE_CHARS) {
      yield text;
      text = "";
    }
  }
  text += '},"structure":{';
  separator = "";
  for (const [path, entry] of source.structure) {
    text += `${separator}${JSON.stringify(path)}:${entry}`;
    separator = ",";
    if (text.length >= PIECE_CHARS) {
      yield text;
      text = "";
    }
  }
  text += `},"identity":${JSON.stringify(source.identity)}`;
  separator = `,${JSON.stringify(SYMLINKS_FIELD)}:{`;
  for (const [path, entry] of source.symlinks) {
    text += `${separator}${JSON.stringify(path)}:${entry}`;
    separator = ",";
    if (text.length >= PIECE_CHARS) {
      yield text;
      text = "";
    }
  }
  if (separator === ",") text += "}";
  yield text + "}";
}

/**
 * Moves the entries of our `symlinks` field into `structure`; returns, by path, why one of
 * them is refused (it is not a symlink, or structure has its path as well).
 */
function mergeSymlinks(
  data: Record<string, unknown>,
  structure: Record<string, unknown>,
  name: string,
): Map<string, string> {
  const refused = new Map<string, string>();
  const symlinks = data[SYMLINKS_FIELD];
  if (symlinks === undefined) return refused;
  if (!symlinks || typeof symlinks !== "object" || Array.isArray(symlinks)) {
    throw new SpareError(
      `snapshot ${name} is damaged: ${SYMLINKS_FIELD} is not a map of paths to symlinks`,
    );
  }
  for (const [path, entry] of Object.entries(symlinks)) {
    if (Object.hasOwn(structure, path)) {
      refused.set(path, `it is both in structure and in ${SYMLINKS_FIELD}`);
      continue;
    }
    if ((entry as { type?: unknown } | null)?.type !== "symlink") {
      refused.set(path, `its entry in ${SYMLINKS_FIELD} is not a symlink`);
    }
    // defineProperty: a path named __proto__ stays a path.
    Object.defineProperty(structure, path, {
      value: entry,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return refused;
}

/**
 * Parses snapshot metadata; damaged JSON is a SpareError naming the snapshot. Every entry is
 * checked (lib/snapshot/check.ts): those that fail are left out and listed in `refused`.
 */
export function decodeSnapshot(bytes: Uint8Array, name: string): SnapshotData {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (err) {
    throw notJson(name, err);
  }
  return decodeSnapshotText(text, name);
}

/** The error for metadata that is not JSON (or not UTF-8). */
export function notJson(name: string, err: unknown): SpareError {
  return new SpareError(`snapshot ${name} is damaged: its metadata is not valid JSON (${err})`);
}

/**
 * decodeSnapshot of metadata already decoded from UTF-8. With `keepDigestOfPath`, the
 * checks' map of each path to its digest is kept (digestByPath then needs no second pass).
 */
export function decodeSnapshotText(
  text: string,
  name: string,
  keepDigestOfPath = false,
): SnapshotData {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw notJson(name, err);
  }
  return decodeParsedSnapshot(parsed, name, keepDigestOfPath);
}

/** True for a JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** True when parsed metadata has the objects `files` and `structure` and the text `identity`. */
export function hasTopLevel(
  parsed: unknown,
): parsed is Record<string, unknown> & {
  files: Record<string, unknown>;
  structure: Record<string, unknown>;
  identity: string;
} {
  return isJsonObject(parsed) && isJsonObject(parsed.files) && isJsonObject(parsed.structure) &&
    typeof parsed.identity === "string";
}

/** decodeSnapshotText of metadata already parsed from JSON (JSON.parse's value). */
export function decodeParsedSnapshot(
  parsed: unknown,
  name: string,
  keepDigestOfPath = false,
): SnapshotData {
  if (!hasTopLevel(parsed)) {
    throw new SpareError(`snapshot ${name} is damaged: files, structure or identity is missing`);
  }
  const badSymlinks = mergeSymlinks(parsed, parsed.structure, name);
  const { digestOfPath, ...checked } = checkEntries(parsed.files, parsed.structure, badSymlinks);
  return keepDigestOfPath
    ? { ...checked, identity: parsed.identity, digestOfPath }
    : { ...checked, identity: parsed.identity };
}

/** Digest of each path in `files`, inverted (the map decoding kept, when it did). */
export function digestByPath(snapshot: SnapshotData): Map<string, string> {
  if (snapshot.digestOfPath) return snapshot.digestOfPath;
  const out = new Map<string, string>();
  for (const [digest, paths] of Object.entries(snapshot.files)) {
    for (const path of paths) out.set(path, digest);
  }
  return out;
}
