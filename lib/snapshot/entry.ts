/** The entries of a snapshot's `structure`: one per path, a file, directory or symlink. */

/** Fields every entry has. */
interface EntryBase {
  user: string;
  group: string;
  /** The full st_mode, type bits included. */
  mode: number;
  size: number;
  mtime_ns: number;
  inode: number;
  /** Ours (0.4.0 ignores it): the change time, for skipping unchanged files. */
  ctime_ns?: number;
}

/** A regular file; `empty` files have no data uploaded. */
export interface FileEntry extends EntryBase {
  type: "file";
  empty: boolean;
}

/** A directory. */
export interface DirectoryEntry extends EntryBase {
  type: "directory";
}

/**
 * A symbolic link. `target` is 0.4.0's field: relative to the backup root for links into
 * the tree, absolute otherwise. `link` is ours: the link text exactly as read, which our
 * restore prefers.
 */
export interface SymlinkEntry extends EntryBase {
  type: "symlink";
  target: string;
  link?: string;
}

/** One path of the tree. */
export type Entry = FileEntry | DirectoryEntry | SymlinkEntry;
