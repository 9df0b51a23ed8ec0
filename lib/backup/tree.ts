/**
 * The scanned tree, held as columns: one row per path, its numbers in typed arrays, its name
 * as the directory listing gave it and the row of its parent, so that a folder's path is
 * shared by everything in it. A path costs about 90 bytes here; as an entry object with its
 * path string and boxed times it cost about 350 (a tree of a million paths: 90 MB against
 * 350). Rows of one directory are contiguous, parents before children. Entries and paths are
 * made when the snapshot is written, one at a time.
 */
import type { Entry } from "../snapshot/mod.ts";
import { grown, type Owners, StringIndex } from "../util/mod.ts";

/** What a row is. */
export const enum Kind {
  /** Left out of the snapshot (it vanished, or could not be read). */
  Dropped = 0,
  Directory = 1,
  File = 2,
  Symlink = 3,
}

/** The entry type of each Kind. */
const TYPES: (Entry["type"] | undefined)[] = [undefined, "directory", "file", "symlink"];

/** `empty` of a file row: as the snapshot field says, or absent (a previous entry without it). */
const EMPTY_FALSE = 0;
const EMPTY_TRUE = 1;
const EMPTY_ABSENT = 2;

/** What the scan found at one path, to add as a row. */
export interface RowFields {
  kind: Kind;
  mode: number;
  /** Indices in the tree's owner names (ScannedTree.userRef, groupRef, nameRef). */
  user: number;
  group: number;
  size: number;
  mtimeNs: number;
  /** NaN when unknown. */
  ctimeNs: number;
  inode: number;
}

/** The scanned tree (see above). */
export class ScannedTree {
  count = 0;
  private capacity = 0;
  readonly names: string[] = [];
  parent = new Int32Array(0);
  kind = new Uint8Array(0);
  mode = new Uint32Array(0);
  /** Indices in ownerNames. */
  user = new Uint32Array(0);
  group = new Uint32Array(0);
  size = new Float64Array(0);
  mtimeNs = new Float64Array(0);
  /** NaN when unknown. */
  ctimeNs = new Float64Array(0);
  inode = new Float64Array(0);
  /** Index in `digests`, or -1. */
  digest = new Int32Array(0);
  empty = new Uint8Array(0);
  /** The path of each directory row. */
  private readonly dirPaths = new Map<number, string>();
  /** The rows of each directory's entries (-1: the root's), first and after the last. */
  private readonly children = new Map<number, [number, number]>();
  /** User and group names, each once, as the snapshot has them. */
  private readonly owners = new StringIndex();
  private readonly uidRefs = new Map<number, number>();
  private readonly gidRefs = new Map<number, number>();

  constructor(private readonly system: Owners) {}

  /** The owner names, each once (the user and group columns index them). */
  get ownerNames(): string[] {
    return this.owners.list;
  }

  /** The owner name index of a user name or group name. */
  nameRef(name: string): number {
    return this.owners.of(name);
  }

  /** The owner name index of a uid's name. */
  userRef(uid: number): number {
    let index = this.uidRefs.get(uid);
    if (index === undefined) {
      index = this.nameRef(this.system.userName(uid));
      this.uidRefs.set(uid, index);
    }
    return index;
  }

  /** The owner name index of a gid's name. */
  groupRef(gid: number): number {
    let index = this.gidRefs.get(gid);
    if (index === undefined) {
      index = this.nameRef(this.system.groupName(gid));
      this.gidRefs.set(gid, index);
    }
    return index;
  }

  /** Records that directory row `dir` (-1: the root) holds rows `first` to `end` - 1, sorted by name. */
  setChildren(dir: number, first: number, end: number): void {
    if (end > first) this.children.set(dir, [first, end]);
  }

  /** The row of `path` (relative, `/`-separated), or -1. */
  rowOfPath(path: string): number {
    let dir = -1;
    let row = -1;
    for (const name of path.split("/")) {
      if (dir === -2) return -1;
      const range = this.children.get(dir);
      if (!range) return -1;
      let [low, high] = range;
      row = -1;
      while (low < high) {
        const middle = (low + high) >>> 1;
        const held = this.names[middle];
        if (held === name) {
          row = middle;
          break;
        }
        if (held < name) low = middle + 1;
        else high = middle;
      }
      if (row < 0) return -1;
      dir = this.kind[row] === Kind.Directory ? row : -2;
    }
    return row;
  }
  /** What each symlink row holds: 0.4.0's target and the link text. */
  readonly links = new Map<number, { target: string; link?: string }>();
  /** Distinct digests, each string once. */
  private readonly digestIndex = new StringIndex();

  /** Adds a row named `name` in directory row `parent` (-1: the root); returns the row. */
  add(name: string, parent: number, fields: RowFields): number {
    const row = this.count;
    if (row === this.capacity) this.grow();
    this.names.push(name);
    this.parent[row] = parent;
    this.set(row, fields);
    this.digest[row] = -1;
    this.empty[row] = fields.size === 0 ? EMPTY_TRUE : EMPTY_FALSE;
    if (fields.kind === Kind.Directory) this.dirPaths.set(row, this.path(row));
    this.count++;
    return row;
  }

  /** Sets a row's numbers (a file read again, or its previous version kept). */
  set(row: number, fields: RowFields): void {
    this.kind[row] = fields.kind;
    this.mode[row] = fields.mode;
    this.user[row] = fields.user;
    this.group[row] = fields.group;
    this.size[row] = fields.size;
    this.mtimeNs[row] = fields.mtimeNs;
    this.ctimeNs[row] = fields.ctimeNs;
    this.inode[row] = fields.inode;
  }

  /** Sets `empty` of a file row as an entry has it (undefined: left out, as the entry has it). */
  setEmpty(row: number, empty: boolean | undefined): void {
    this.empty[row] = empty === undefined ? EMPTY_ABSENT : empty ? EMPTY_TRUE : EMPTY_FALSE;
  }

  /** True when the file row is empty (as the scan or the kept entry says). */
  isEmpty(row: number): boolean {
    return this.empty[row] === EMPTY_TRUE;
  }

  private grow(): void {
    const capacity = Math.max(1024, this.capacity * 2);
    this.parent = grown(this.parent, capacity);
    this.kind = grown(this.kind, capacity);
    this.mode = grown(this.mode, capacity);
    this.user = grown(this.user, capacity);
    this.group = grown(this.group, capacity);
    this.size = grown(this.size, capacity);
    this.mtimeNs = grown(this.mtimeNs, capacity);
    this.ctimeNs = grown(this.ctimeNs, capacity);
    this.inode = grown(this.inode, capacity);
    this.digest = grown(this.digest, capacity);
    this.empty = grown(this.empty, capacity);
    this.capacity = capacity;
  }

  /** The path of a row, relative to the root, `/`-separated. */
  path(row: number): string {
    const parent = this.parent[row];
    return parent < 0 ? this.names[row] : `${this.dirPaths.get(parent)}/${this.names[row]}`;
  }

  /** The path of directory row `row` ("" for -1, the root). */
  dirPath(row: number): string {
    return row < 0 ? "" : this.dirPaths.get(row)!;
  }

  /** The owner names as JSON strings, for entryJson. */
  quotedOwnerNames(): string[] {
    return this.ownerNames.map((name) => JSON.stringify(name));
  }

  /** The distinct digests, each once (the digest column indexes them). */
  get digests(): string[] {
    return this.digestIndex.list;
  }

  /** Sets a row's digest. */
  setDigest(row: number, digest: string): void {
    this.digest[row] = this.digestIndex.of(digest);
  }

  /** A row's digest, if it has one. */
  digestOf(row: number): string | undefined {
    const index = this.digest[row];
    return index < 0 ? undefined : this.digestIndex.list[index];
  }

  /** The entry type of a row; undefined for a dropped one. */
  type(row: number): Entry["type"] | undefined {
    return TYPES[this.kind[row]];
  }

  /** The entry of a row, as the snapshot has it (a new object). */
  entry(row: number): Entry {
    const base = {
      user: this.ownerNames[this.user[row]],
      group: this.ownerNames[this.group[row]],
      mode: this.mode[row],
      size: this.size[row],
      mtime_ns: this.mtimeNs[row],
      inode: this.inode[row],
    };
    const ctime = this.ctimeNs[row];
    const withCtime = Number.isNaN(ctime) ? base : { ...base, ctime_ns: ctime };
    switch (this.kind[row]) {
      case Kind.File: {
        const empty = this.empty[row];
        return empty === EMPTY_ABSENT
          ? { type: "file", ...withCtime } as Entry
          : { type: "file", ...withCtime, empty: empty === EMPTY_TRUE };
      }
      case Kind.Directory:
        return { type: "directory", ...withCtime };
      default: {
        const { target, link } = this.links.get(row)!;
        return link === undefined
          ? { type: "symlink", ...withCtime, target }
          : { type: "symlink", ...withCtime, target, link };
      }
    }
  }

  /**
   * The entry of a row as JSON text, as JSON.stringify gives entry(row) (fields in the order
   * snapshots have always had them), without making the object. `quoted` holds the owner
   * names as JSON strings (quotedOwnerNames()).
   */
  entryJson(row: number, quoted: string[]): string {
    const user = quoted[this.user[row]];
    const group = quoted[this.group[row]];
    const ctime = this.ctimeNs[row];
    const numbers = `"mode":${this.mode[row]},"size":${this.size[row]},"mtime_ns":${
      this.mtimeNs[row]
    },"inode":${this.inode[row]}${Number.isNaN(ctime) ? "" : `,"ctime_ns":${ctime}`}`;
    switch (this.kind[row]) {
      case Kind.File: {
        const empty = this.empty[row];
        const tail = empty === EMPTY_ABSENT ? "" : `,"empty":${empty === EMPTY_TRUE}`;
        return `{"type":"file","user":${user},"group":${group},${numbers}${tail}}`;
      }
      case Kind.Directory:
        return `{"type":"directory","user":${user},"group":${group},${numbers}}`;
      default: {
        const { target, link } = this.links.get(row)!;
        const tail = link === undefined ? "" : `,"link":${JSON.stringify(link)}`;
        return `{"type":"symlink","user":${user},"group":${group},${numbers},"target":${
          JSON.stringify(target)
        }${tail}}`;
      }
    }
  }
}
