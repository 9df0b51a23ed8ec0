/**
 * What create needs of the previous snapshot, read as it downloads (nothing of it is held as
 * objects): for each file path with a digest, its digest, size, mtime, ctime, inode, mode,
 * user and group, in typed arrays. A path is found by two 32-bit hashes of its text, not by
 * the text: a million paths take about 70 bytes each here, where a map of path strings took
 * twice that. Two paths with the same hashes (about one chance in 10^7 for a million paths)
 * could only lend each other a digest if they also had the same size, mtime, ctime and
 * inode, that is if they were links of one file, which have one content.
 */
import { entryProblem, type FileEntry } from "../snapshot/mod.ts";
import { grown, StringIndex } from "../util/mod.ts";

const DIGEST = /^[0-9a-f]{64}$/;
/** digestOf: no digest listed; listed under two digests (never reused). */
const NO_DIGEST = -1;
const TWO_DIGESTS = -2;

/** The running hashes of pathHash.add: set by start(), continued by add(). */
export const pathHash = {
  h1: 0,
  h2: 0,
  /** Starts the hashes of a new path. */
  start(): void {
    this.h1 = 0x811c9dc5;
    this.h2 = 0x9747b28c;
  },
  /** Continues the hashes with `text` (a path's hashes are those of its parts in turn). */
  add(text: string): void {
    let h1 = this.h1;
    let h2 = this.h2;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    this.h1 = h1 >>> 0;
    this.h2 = h2 >>> 0;
  },
};

/** Where a hash starts looking in a table of `mask + 1` slots. */
function slotOf(h1: number, mask: number): number {
  let h = h1;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) & mask;
}

/** The previous snapshot's files, compactly (see above); fed by take() as it is parsed. */
export class PreviousFiles {
  identity = "";
  /** Every key of `files` (pruning keeps their contents when the snapshot is kept). */
  readonly listedDigests: string[] = [];
  private readonly digestIndex = new Map<string, number>();
  private readonly names = new StringIndex();
  private count = 0;
  private capacity = 0;
  private h1 = new Uint32Array(0);
  private h2 = new Uint32Array(0);
  private size = new Float64Array(0);
  private mtime = new Float64Array(0);
  /** NaN when the entry has none. */
  private ctime = new Float64Array(0);
  private inode = new Float64Array(0);
  private mode = new Uint32Array(0);
  /** 0 false, 1 true, 2 absent. */
  private empty = new Uint8Array(0);
  private userOf = new Uint32Array(0);
  private groupOf = new Uint32Array(0);
  /** Index in listedDigests, NO_DIGEST or TWO_DIGESTS. */
  private digestOf = new Int32Array(0);
  /** 1 when structure describes the path as a file (its numbers are set). */
  private isFile = new Uint8Array(0);
  /** Row + 1 of each slot, 0 when free. */
  private slots = new Int32Array(0);
  private mask = -1;

  /**
   * Takes one value of the snapshot's object-valued fields as the JSON parser hands it out
   * (lib/snapshot/json_stream.ts): a list of paths of `files`, an entry of `structure` (a
   * file's), an entry of `symlinks` (its path is no file). Always true: nothing is kept as
   * objects. What fails the snapshot checks is not used: a digest that is not 64 hex
   * characters, a path listed under two digests, an entry that is not a file's or is
   * malformed.
   */
  readonly take = (field: string, key: string, value: unknown): boolean => {
    if (field === "files") {
      const index = this.listedDigests.push(key) - 1;
      if (!Array.isArray(value) || !DIGEST.test(key)) return true;
      const digest = this.digestIndex.get(key) ?? index;
      this.digestIndex.set(key, digest);
      for (const path of value) {
        if (typeof path !== "string") continue;
        const row = this.rowOfText(path, true);
        const now = this.digestOf[row];
        this.digestOf[row] = now === NO_DIGEST || now === digest ? digest : TWO_DIGESTS;
      }
    } else if (field === "structure") {
      const file = (value as { type?: unknown } | null)?.type === "file" &&
        entryProblem(value) === undefined;
      const row = this.rowOfText(key, file);
      if (row >= 0) {
        this.isFile[row] = file ? 1 : 0;
        if (file) this.setNumbers(row, value as FileEntry);
      }
    } else if (field === "symlinks") {
      const row = this.rowOfText(key, false);
      if (row >= 0) this.isFile[row] = 0;
    }
    return true;
  };

  private setNumbers(row: number, entry: FileEntry): void {
    this.size[row] = entry.size;
    this.mtime[row] = entry.mtime_ns;
    this.ctime[row] = entry.ctime_ns ?? NaN;
    this.inode[row] = entry.inode;
    this.mode[row] = entry.mode;
    this.empty[row] = entry.empty === undefined ? 2 : entry.empty ? 1 : 0;
    this.userOf[row] = this.names.of(entry.user);
    this.groupOf[row] = this.names.of(entry.group);
  }

  /** The row of path `text` (added when `add`), or -1. */
  private rowOfText(text: string, add: boolean): number {
    pathHash.start();
    pathHash.add(text);
    return this.rowOf(pathHash.h1, pathHash.h2, add);
  }

  /** The row of the path whose hashes are h1 and h2 (added when `add`), or -1. */
  rowOf(h1: number, h2: number, add = false): number {
    if (this.count === 0 && !add) return -1;
    if (add && (this.count + 1) * 2 > this.slots.length) this.grow();
    const mask = this.mask;
    for (let slot = slotOf(h1, mask);; slot = (slot + 1) & mask) {
      const held = this.slots[slot];
      if (held === 0) break;
      const row = held - 1;
      if (this.h1[row] === h1 && this.h2[row] === h2) return row;
    }
    if (!add) return -1;
    const row = this.count++;
    if (row === this.capacity) this.growRows();
    this.h1[row] = h1;
    this.h2[row] = h2;
    this.digestOf[row] = NO_DIGEST;
    this.isFile[row] = 0;
    this.place(row);
    return row;
  }

  private place(row: number): void {
    const mask = this.mask;
    let slot = slotOf(this.h1[row], mask);
    while (this.slots[slot] !== 0) slot = (slot + 1) & mask;
    this.slots[slot] = row + 1;
  }

  /** Doubles the slots (at most half of them are used), placing every row again. */
  private grow(): void {
    const size = Math.max(1024, this.slots.length * 2);
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    for (let row = 0; row < this.count; row++) this.place(row);
  }

  private growRows(): void {
    const capacity = Math.max(1024, this.capacity * 2);
    this.h1 = grown(this.h1, capacity);
    this.h2 = grown(this.h2, capacity);
    this.size = grown(this.size, capacity);
    this.mtime = grown(this.mtime, capacity);
    this.ctime = grown(this.ctime, capacity);
    this.inode = grown(this.inode, capacity);
    this.mode = grown(this.mode, capacity);
    this.empty = grown(this.empty, capacity);
    this.userOf = grown(this.userOf, capacity);
    this.groupOf = grown(this.groupOf, capacity);
    this.digestOf = grown(this.digestOf, capacity);
    this.isFile = grown(this.isFile, capacity);
    this.capacity = capacity;
  }

  /** The row of a file with a digest at the path whose hashes are h1 and h2, or -1. */
  fileRow(h1: number, h2: number): number {
    const row = this.rowOf(h1, h2);
    return row >= 0 && this.isFile[row] === 1 && this.digestOf[row] >= 0 ? row : -1;
  }

  /** The row of file `path` (one with a digest), or -1. */
  fileRowOfPath(path: string): number {
    pathHash.start();
    pathHash.add(path);
    return this.fileRow(pathHash.h1, pathHash.h2);
  }

  /** The digest of a file row. */
  digest(row: number): string {
    return this.listedDigests[this.digestOf[row]];
  }

  /** The entry of a file row, as the snapshot has it (a new object). */
  entry(row: number): FileEntry {
    const entry = {
      type: "file",
      user: this.names.list[this.userOf[row]],
      group: this.names.list[this.groupOf[row]],
      mode: this.mode[row],
      size: this.size[row],
      mtime_ns: this.mtime[row],
      inode: this.inode[row],
    } as FileEntry;
    const ctime = this.ctime[row];
    if (!Number.isNaN(ctime)) entry.ctime_ns = ctime;
    const empty = this.empty[row];
    if (empty !== 2) entry.empty = empty === 1;
    return entry;
  }

  /**
   * The ctime of a file row when the snapshot has the same size, mtime, inode and ctime as
   * given; undefined otherwise (or when the snapshot has no ctime for it).
   */
  unchangedCtime(
    row: number,
    size: number,
    mtimeNs: number,
    inode: number,
    ctimeNs: number,
  ): number | undefined {
    const ctime = this.ctime[row];
    const same = this.size[row] === size && this.mtime[row] === mtimeNs &&
      this.inode[row] === inode && ctime === ctimeNs;
    return same ? ctime : undefined;
  }
}
