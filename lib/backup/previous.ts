/**
 * What create needs of the previous snapshot, held compactly: for each file path with a
 * digest, its digest (one string per distinct content), size, mtime, ctime, inode, mode,
 * user and group, in typed arrays beside one map of path → row. The decoded snapshot's
 * objects (an entry object and its boxed times per path, the checks' map of path → digest)
 * go as soon as this is built: for 300,000 paths they took about 250 bytes a path while
 * the tree was scanned, these about 100.
 */
import type { FileEntry, SnapshotData } from "../snapshot/mod.ts";

/**
 * Numbers per row: size, mtime_ns, ctime_ns (NaN when the entry has none), inode, mode, and
 * empty (1 true, 0 false, NaN when the entry has none).
 */
const FIELDS = 6;
const SIZE = 0;
const MTIME = 1;
const CTIME = 2;
const INODE = 3;
const MODE = 4;
const EMPTY = 5;

/** The previous snapshot's files, compactly (see above). */
export class PreviousFiles {
  readonly identity: string;
  /** Every digest the snapshot lists (pruning keeps them when the snapshot is kept). */
  readonly listedDigests: string[];
  private readonly rows = new Map<string, number>();
  private readonly numbers: Float64Array;
  /** Per row: the index in `digests`, and those of user and group in `names`. */
  private readonly digestOf: Uint32Array;
  private readonly userOf: Uint32Array;
  private readonly groupOf: Uint32Array;
  private readonly digests: string[] = [];
  private readonly names: string[] = [];

  /** Takes what create needs of `snapshot` (decoded with its map of path → digest). */
  constructor(snapshot: SnapshotData) {
    this.identity = snapshot.identity;
    this.listedDigests = [
      ...new Set([...Object.keys(snapshot.files), ...snapshot.listedDigests ?? []]),
    ];
    const digestOfPath = snapshot.digestOfPath ?? new Map<string, string>();
    const count = digestOfPath.size;
    this.numbers = new Float64Array(count * FIELDS);
    this.digestOf = new Uint32Array(count);
    this.userOf = new Uint32Array(count);
    this.groupOf = new Uint32Array(count);
    const digestIndex = new Map<string, number>();
    const nameIndex = new Map<string, number>();
    const indexOf = (map: Map<string, number>, list: string[], value: string) => {
      let index = map.get(value);
      if (index === undefined) {
        index = list.push(value) - 1;
        map.set(value, index);
      }
      return index;
    };
    let row = 0;
    for (const [path, digest] of digestOfPath) {
      const entry = snapshot.structure[path];
      if (entry?.type !== "file") continue;
      const at = row * FIELDS;
      this.numbers[at + SIZE] = entry.size;
      this.numbers[at + MTIME] = entry.mtime_ns;
      this.numbers[at + CTIME] = entry.ctime_ns ?? NaN;
      this.numbers[at + INODE] = entry.inode;
      this.numbers[at + MODE] = entry.mode;
      this.numbers[at + EMPTY] = entry.empty === undefined ? NaN : entry.empty ? 1 : 0;
      this.digestOf[row] = indexOf(digestIndex, this.digests, digest);
      this.userOf[row] = indexOf(nameIndex, this.names, entry.user);
      this.groupOf[row] = indexOf(nameIndex, this.names, entry.group);
      this.rows.set(path, row++);
    }
  }

  /** The digest the snapshot gives file `path`, if it lists one. */
  digest(path: string): string | undefined {
    const row = this.rows.get(path);
    return row === undefined ? undefined : this.digests[this.digestOf[row]];
  }

  /**
   * The entry of file `path` (one with a digest), as the snapshot has it; a new object
   * each call. Undefined for other paths.
   */
  entry(path: string): FileEntry | undefined {
    const row = this.rows.get(path);
    if (row === undefined) return undefined;
    const at = row * FIELDS;
    const ctime = this.numbers[at + CTIME];
    const entry: FileEntry = {
      type: "file",
      user: this.names[this.userOf[row]],
      group: this.names[this.groupOf[row]],
      mode: this.numbers[at + MODE],
      size: this.numbers[at + SIZE],
      mtime_ns: this.numbers[at + MTIME],
      inode: this.numbers[at + INODE],
    } as FileEntry;
    const empty = this.numbers[at + EMPTY];
    if (!Number.isNaN(empty)) entry.empty = empty === 1;
    if (!Number.isNaN(ctime)) entry.ctime_ns = ctime;
    return entry;
  }

  /**
   * The ctime of file `path` when the snapshot has it with the same size, mtime, inode and
   * ctime as `now`; undefined otherwise (or when the snapshot has no ctime for it).
   */
  unchangedCtime(path: string, now: FileEntry): number | undefined {
    const row = this.rows.get(path);
    if (row === undefined) return undefined;
    const at = row * FIELDS;
    const ctime = this.numbers[at + CTIME];
    const same = this.numbers[at + SIZE] === now.size &&
      this.numbers[at + MTIME] === now.mtime_ns && this.numbers[at + INODE] === now.inode &&
      ctime === now.ctime_ns;
    return same ? ctime : undefined;
  }
}
