/**
 * A snapshot held compactly for restore and the commands that read one: one row per path, sorted by path, its numbers in
 * typed arrays, read from the metadata as it downloads (lib/snapshot/json_stream.ts) and
 * checked as readSnapshot's objects are (lib/snapshot/check.ts: the same entries refused for
 * the same reasons). A path costs about 100 bytes here, where the decoded objects (a
 * structure entry with its boxed times, its key, its place in `files`) cost about 300.
 */
import {
  blockedChecker,
  entryProblem,
  parentPath,
  pathProblem,
  type RefusedEntry,
} from "./check.ts";
import type { Entry, SnapshotData } from "./snapshot.ts";
import { SYMLINKS_FIELD } from "./legacy_symlinks.ts";
import { grown, StringIndex } from "../util/mod.ts";

/** What a row is. */
const NONE = 0;
const FILE = 1;
const DIRECTORY = 2;
const SYMLINK = 3;
const TYPES: (Entry["type"] | undefined)[] = [undefined, "file", "directory", "symlink"];
const KIND: Record<string, number> = { file: FILE, directory: DIRECTORY, symlink: SYMLINK };
/** Where a row came from. */
const FROM_STRUCTURE = 1;
const FROM_SYMLINKS = 2;

const DIGEST_PATTERN = /^[0-9a-f]{64}$/;
/** A path listed under two digests. */
const TWO_DIGESTS = -2;

/** The snapshot, compactly (see above). Rows whose entry was refused have no type. */
export class SnapshotTable {
  identity = "";
  /** Entries refused when the snapshot was read (named on stderr by restore). */
  readonly refused: RefusedEntry[] = [];
  /** Every key of `files`, refused or not. */
  readonly listedDigests: string[] = [];
  count = 0;
  private capacity = 0;
  /** Paths of the rows, sorted (once read). */
  paths: string[] = [];
  private kind = new Uint8Array(0);
  private origin = new Uint8Array(0);
  private mode = new Uint32Array(0);
  private sizes = new Float64Array(0);
  private mtime = new Float64Array(0);
  /** NaN when the entry has none. */
  private ctime = new Float64Array(0);
  private inodes = new Float64Array(0);
  /** A file's `empty`: 0 false, 1 true, 2 absent. */
  private empty = new Uint8Array(0);
  private user = new Uint32Array(0);
  private group = new Uint32Array(0);
  private digestOf = new Int32Array(0);
  private readonly links = new Map<number, { target: string; link?: string }>();
  private readonly digests = new StringIndex();
  private readonly names = new StringIndex();
  // While the snapshot is read:
  /** Why a row's entry is refused, found when it arrived. */
  private problems = new Map<number, string>();
  /** The digest of each path of `files` whose structure entry has not arrived. */
  private fileDigests = new Map<string, number>();
  /** `files` entries with a digest that is not one: [digest, path]. */
  private badDigests: [string, string][] = [];

  /** The type of a row's entry; undefined when it was refused. */
  type(row: number): Entry["type"] | undefined {
    return TYPES[this.kind[row]];
  }

  /** A row's size. */
  size(row: number): number {
    return this.sizes[row];
  }

  /** A row's inode number as the snapshot has it. */
  inode(row: number): number {
    return this.inodes[row];
  }

  /** The digest of a file row, if it has content. */
  digest(row: number): string | undefined {
    const index = this.digestOf[row];
    return index >= 0 ? this.digests.list[index] : undefined;
  }

  /** The entry of a row as the snapshot has it (fields spare does not know left out), new. */
  entry(row: number): Entry {
    const fields = {
      user: this.names.list[this.user[row]],
      group: this.names.list[this.group[row]],
      mode: this.mode[row],
      size: this.sizes[row],
      mtime_ns: this.mtime[row],
      inode: this.inodes[row],
    };
    const ctime = this.ctime[row];
    const base = Number.isNaN(ctime) ? fields : { ...fields, ctime_ns: ctime };
    const kind = this.kind[row];
    if (kind === FILE) {
      const empty = this.empty[row];
      return empty === 2
        ? { type: "file", ...base } as Entry
        : { type: "file", ...base, empty: empty === 1 };
    }
    if (kind === DIRECTORY) return { type: "directory", ...base };
    const { target, link } = this.links.get(row)!;
    return link === undefined
      ? { type: "symlink", ...base, target }
      : { type: "symlink", ...base, target, link };
  }

  /** The row of `path`, or -1 (once read: the rows are sorted; of a path given twice, the last). */
  rowOf(path: string): number {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.paths[middle] <= path) low = middle + 1;
      else high = middle;
    }
    return low > 0 && this.paths[low - 1] === path ? low - 1 : -1;
  }

  /**
   * Takes one value of the metadata's object-valued fields as the JSON parser hands it out:
   * a list of paths of `files`, an entry of `structure` or of our `symlinks`. Always true:
   * nothing is kept as objects.
   */
  readonly take = (field: string, key: string, value: unknown): boolean => {
    if (field === "files") this.takeFiles(key, value);
    else if (field === "structure") this.takeEntry(key, value, FROM_STRUCTURE);
    else if (field === SYMLINKS_FIELD) this.takeEntry(key, value, FROM_SYMLINKS);
    return true;
  };

  private takeFiles(digest: string, value: unknown): void {
    this.listedDigests.push(digest);
    if (!Array.isArray(value) || value.some((p) => typeof p !== "string")) {
      this.refused.push({
        path: digest,
        reason: "files maps this digest to something other than paths",
      });
      return;
    }
    if (!DIGEST_PATTERN.test(digest)) {
      for (const path of new Set(value as string[])) this.badDigests.push([digest, path]);
      return;
    }
    const index = this.digests.of(digest);
    for (const path of value as string[]) {
      const held = this.fileDigests.get(path);
      this.fileDigests.set(path, held === undefined || held === index ? index : TWO_DIGESTS);
    }
  }

  private takeEntry(path: string, value: unknown, origin: number): void {
    const row = this.count++;
    if (row === this.capacity) this.grow();
    this.paths.push(path);
    this.origin[row] = origin;
    this.digestOf[row] = -1;
    // The digest `files` gave it: its string in fileDigests goes.
    const digest = this.fileDigests.get(path);
    if (digest !== undefined) {
      this.digestOf[row] = digest;
      this.fileDigests.delete(path);
    }
    const problem = origin === FROM_SYMLINKS &&
        (value as { type?: unknown } | null)?.type !== "symlink"
      ? `its entry in ${SYMLINKS_FIELD} is not a symlink`
      : pathProblem(path) ?? entryProblem(value);
    if (problem) {
      this.kind[row] = NONE;
      this.problems.set(row, problem);
      return;
    }
    this.setEntry(row, value as Entry);
  }

  private setEntry(row: number, entry: Entry): void {
    this.kind[row] = KIND[entry.type];
    this.mode[row] = entry.mode;
    this.sizes[row] = entry.size;
    this.mtime[row] = entry.mtime_ns;
    this.ctime[row] = entry.ctime_ns ?? NaN;
    this.inodes[row] = entry.inode;
    this.empty[row] = entry.type !== "file" || entry.empty === undefined ? 2 : entry.empty ? 1 : 0;
    this.user[row] = this.names.of(entry.user);
    this.group[row] = this.names.of(entry.group);
    if (entry.type === "symlink") {
      this.links.set(
        row,
        entry.link === undefined
          ? { target: entry.target }
          : { target: entry.target, link: entry.link },
      );
    }
  }

  private grow(): void {
    const capacity = Math.max(1024, this.capacity * 2);
    this.kind = grown(this.kind, capacity);
    this.origin = grown(this.origin, capacity);
    this.mode = grown(this.mode, capacity);
    this.sizes = grown(this.sizes, capacity);
    this.mtime = grown(this.mtime, capacity);
    this.ctime = grown(this.ctime, capacity);
    this.inodes = grown(this.inodes, capacity);
    this.empty = grown(this.empty, capacity);
    this.user = grown(this.user, capacity);
    this.group = grown(this.group, capacity);
    this.digestOf = grown(this.digestOf, capacity);
    this.capacity = capacity;
  }

  /**
   * Once every value was taken: sorts the rows by path and checks them as checkEntries
   * checks a decoded snapshot (lib/snapshot/check.ts).
   */
  finish(): void {
    this.sortRows();
    const removed = new Set<string>();
    const refuse = (row: number, reason: string) => {
      this.refused.push({ path: this.paths[row], reason });
      removed.add(this.paths[row]);
      this.kind[row] = NONE;
    };
    // One row per path: of a path given twice, the last one (as JSON.parse keeps the last
    // value of a key); a path in both structure and symlinks is refused.
    for (let row = 0; row < this.count;) {
      let end = row + 1;
      while (end < this.count && this.paths[end] === this.paths[row]) end++;
      if (end > row + 1) {
        let both = false;
        let digest = -1;
        for (let i = row; i < end; i++) {
          both ||= this.origin[i] !== this.origin[row];
          if (this.digestOf[i] !== -1) digest = this.digestOf[i];
        }
        for (let i = row; i < end - 1; i++) this.drop(i);
        this.digestOf[end - 1] = digest;
        if (both) {
          this.problems.delete(end - 1);
          refuse(end - 1, `it is both in structure and in ${SYMLINKS_FIELD}`);
        }
      }
      row = end;
    }
    for (const [row, reason] of this.problems) refuse(row, reason);
    this.problems = new Map();
    // Nothing may lie under a file or a symlink, nor under an entry that was refused.
    const blockedIn = blockedChecker((dir) => this.type(this.rowOf(dir)), removed);
    const blocked: [number, string][] = [];
    for (let row = 0; row < this.count; row++) {
      if (this.kind[row] === NONE) continue;
      const reason = blockedIn(parentPath(this.paths[row]));
      if (reason !== undefined) blocked.push([row, reason]);
    }
    for (const [row, reason] of blocked) refuse(row, `it lies under ${reason}`);
    this.checkFiles(removed, refuse);
  }

  /** The checks of `files` (checkEntries' fileProblem and listed-twice rule). */
  private checkFiles(removed: Set<string>, refuse: (row: number, reason: string) => void): void {
    // Paths `files` gave before structure described them (or never): found now.
    for (const [path, digest] of this.fileDigests) {
      const row = this.rowOf(path);
      if (row >= 0 && this.origin[row] !== 0) {
        const held = this.digestOf[row];
        this.digestOf[row] = held === -1 || held === digest ? digest : TWO_DIGESTS;
        continue;
      }
      if (removed.has(path)) continue;
      this.refused.push({
        path,
        reason: pathProblem(path) ??
          "files lists content for it, but structure does not describe it",
      });
    }
    this.fileDigests = new Map();
    for (const [digest, path] of this.badDigests) {
      const row = this.rowOf(path);
      if (row >= 0 && this.kind[row] === NONE && removed.has(path)) continue;
      const shown = JSON.stringify(digest);
      const problem = pathProblem(path) ??
        `its digest ${
          shown.length > 40 ? shown.slice(0, 40) + "…" : shown
        } in files is not 64 lowercase hex characters`;
      if (row >= 0 && this.kind[row] === FILE) refuse(row, problem);
      else this.refused.push({ path, reason: problem });
    }
    this.badDigests = [];
    for (let row = 0; row < this.count; row++) {
      const digest = this.digestOf[row];
      if (digest === -1) continue;
      const kind = this.kind[row];
      if (kind === NONE) {
        this.digestOf[row] = -1;
      } else if (digest === TWO_DIGESTS) {
        this.digestOf[row] = -1;
        refuse(row, "files lists it under more than one digest");
      } else if (kind !== FILE) {
        this.digestOf[row] = -1;
        this.refused.push({
          path: this.paths[row],
          reason: `files lists content for it, but it is a ${TYPES[kind]}`,
        });
      }
    }
  }

  /** Takes a row out (a path given twice). */
  private drop(row: number): void {
    this.kind[row] = NONE;
    this.origin[row] = 0;
    this.digestOf[row] = -1;
    this.problems.delete(row);
  }

  /** Sorts the rows by path (rows of one path in the order they came). */
  private sortRows(): void {
    const paths = this.paths;
    const order = Array.from({ length: this.count }, (_, i) => i);
    order.sort((a, b) => (paths[a] < paths[b] ? -1 : paths[a] > paths[b] ? 1 : a - b));
    const permuted = <T extends Uint8Array | Uint32Array | Float64Array | Int32Array>(
      column: T,
    ): T => {
      const next = new (column.constructor as new (n: number) => T)(this.count);
      for (let i = 0; i < order.length; i++) next[i] = column[order[i]];
      return next;
    };
    this.kind = permuted(this.kind);
    this.origin = permuted(this.origin);
    this.mode = permuted(this.mode);
    this.sizes = permuted(this.sizes);
    this.mtime = permuted(this.mtime);
    this.ctime = permuted(this.ctime);
    this.inodes = permuted(this.inodes);
    this.empty = permuted(this.empty);
    this.user = permuted(this.user);
    this.group = permuted(this.group);
    this.digestOf = permuted(this.digestOf);
    this.capacity = this.count;
    const rowAt = new Map<number, number>();
    for (let i = 0; i < order.length; i++) rowAt.set(order[i], i);
    const links = [...this.links];
    this.links.clear();
    for (const [old, link] of links) this.links.set(rowAt.get(old)!, link);
    const problems = [...this.problems];
    this.problems = new Map(problems.map(([old, reason]) => [rowAt.get(old)!, reason]));
    this.paths = order.map((i) => paths[i]);
  }

  /** The table of a snapshot decoded as objects (checked already): a partial restore's. */
  static fromData(snapshot: SnapshotData): SnapshotTable {
    const table = new SnapshotTable();
    table.identity = snapshot.identity;
    table.refused.push(...snapshot.refused ?? []);
    table.listedDigests.push(...snapshot.listedDigests ?? Object.keys(snapshot.files));
    for (const [digest, paths] of Object.entries(snapshot.files)) {
      const index = table.digests.of(digest);
      for (const path of paths) table.fileDigests.set(path, index);
    }
    for (const path of Object.keys(snapshot.structure)) {
      const row = table.count++;
      if (row === table.capacity) table.grow();
      table.paths.push(path);
      table.origin[row] = FROM_STRUCTURE;
      const digest = table.fileDigests.get(path);
      table.digestOf[row] = digest ?? -1;
      table.fileDigests.delete(path);
      table.setEntry(row, snapshot.structure[path]);
    }
    table.fileDigests = new Map();
    table.sortRows();
    return table;
  }
}
