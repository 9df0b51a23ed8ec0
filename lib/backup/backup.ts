/**
 * `create`: scan the tree, upload every digest the bucket lacks (block 1 last), write the
 * snapshot, prune to the newest snapshots.
 */
import {
  displayPath,
  encodeSourceBlocks,
  isStoredMetadata,
  newSnapshotPrefix,
  readSnapshot,
  readSnapshotInto,
  SNAPSHOT_PREFIX,
  type SnapshotData,
  snapshotNames as completeSnapshots,
  type StoredMetadata,
  ulidTime,
} from "../snapshot/mod.ts";
import { BLOCK_SIZE, type BlockCodec } from "../codec/mod.ts";
import { type Bucket, type BucketListing, hostName } from "../bucket/mod.ts";
import {
  collectEvery,
  ContentHasher,
  DirHandle,
  forEachConcurrent,
  keepFreedMemoryWhileReading,
  libcUsable,
  type Log,
  mapBlockBuffersApart,
  Owners,
  releaseMemoryNow,
  Semaphore,
  SpareError,
} from "../util/mod.ts";
import { scanTree } from "./scan.ts";
import { prune, snapshotsToKeep } from "./prune.ts";
import { pathHash, PreviousFiles } from "./previous.ts";
import { Kind, type ScannedTree } from "./tree.ts";
import { treeSource } from "./snapshot_source.ts";
import {
  backupFile,
  type CreateProgress,
  DigestUploader,
  type FileOutcome,
  readSmallFile,
  SMALL_FILE,
} from "./upload.ts";

export type { CreateProgress } from "./upload.ts";

/** What `create` was asked to do. */
export interface CreateOptions {
  root: string;
  skip?: (path: string) => boolean;
  force?: boolean;
  keep?: number;
  /** Also keep every snapshot younger than this many milliseconds (--keep-within). */
  keepWithinMs?: number;
  rehash?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: CreateProgress) => void;
}

/** What `create` did. */
export interface CreateResult extends CreateProgress {
  snapshot: string;
  /** Paths that could not be backed up (exit code 3). */
  missed: string[];
  prunedPrefixes: number;
}

/** Files larger than SMALL_FILE backed up at once. */
const FILES_AT_ONCE = 32;
/** Files larger than LARGE_FILE backed up at once. */
const LARGE_FILES_AT_ONCE = 4;
/** Files up to this size are held whole in memory while they upload. */
const LARGE_FILE = 64 * 1024;
/**
 * The snapshot is compressed at most at this level: it is written anew by every run. For
 * 20,000 files (5.4 MB of JSON) level 6 took 1.8 s against 0.3 s at level 1; level 0 takes
 * 0.14 s and 4.5 MiB of memory against 0.38 s and 9.7 MiB at level 1, for 0.9 % more of a
 * snapshot that is a few percent of the bucket (xz -0/-1 with 1 MiB blocks).
 */
const SNAPSHOT_LEVEL = 0;
/** Short-lived buffers between two forced collections while files are uploaded. */
const UPLOAD_COLLECTION_BYTES = 2 * 1024 * 1024;
/**
 * Small files are read on the calling thread, one after the other; every this many
 * milliseconds the loop lets the event loop run (uploads, large files, a signal).
 */
const YIELD_EVERY_MS = 20;

/** The identity of a backup: host, path and the path's inode. */
export function identityOf(root: string, rootInode: number): string {
  return `${hostName()}:${root}:${rootInode}`;
}

/** Runs `create` on a locked bucket. */
export async function createSnapshot(
  bucket: Bucket,
  codec: BlockCodec,
  log: Log,
  options: CreateOptions,
): Promise<CreateResult> {
  const { signal } = options;
  const listed = await listWithLatestSnapshot(bucket, codec);
  const { listing, latestName, stored: storedMetadata } = listed;
  let previous = listed.previous;
  listed.previous = undefined; // `previous` alone holds it, until it is dropped below
  const snapshotNames = completeSnapshots(listing);
  const previousTime = latestName
    ? ulidTime(latestName.slice(SNAPSHOT_PREFIX.length)).getTime()
    : 0;

  // From here on, short-lived block buffers are collected every 2 MiB (see collectEvery);
  // the previous snapshot's few blocks went without forced collections (each 25-60 ms
  // over the listing of a large bucket, three of them for 20,000 files). Freed memory goes
  // back to the system as before the bucket was read, blocks' buffers each on its own.
  collectEvery(UPLOAD_COLLECTION_BYTES);
  keepFreedMemoryWhileReading(false);
  mapBlockBuffersApart();

  const inventory = await scanTree(options.root, {
    skip: options.skip,
    owners: new Owners(),
    log,
    signal,
  });
  const tree = inventory.tree;
  const identity = identityOf(options.root, inventory.rootInode);
  if (previous && previous.identity !== identity && !options.force) {
    throw new SpareError(
      `the bucket ${bucket.name} holds the backup of ${previous.identity}, not of ${identity}: ` +
        "refusing to overwrite it (use --force if this host and path really replace it)",
    );
  }

  const progress: CreateProgress = {
    filesTotal: inventory.fileCount,
    bytesTotal: inventory.byteCount,
    filesDone: 0,
    bytesDone: 0,
    filesUploaded: 0,
    bytesUploaded: 0,
    filesReused: 0,
    bytesStored: 0,
  };
  const report = () => options.onProgress?.(progress);
  const uploader = new DigestUploader(bucket, codec, listing, progress);
  const missed: string[] = [...inventory.unreadable];
  const stored = (digest: string) => listing.prefixes.get(digest)?.complete === true;

  // Unchanged files take their previous digest here, in one pass (a run over 20,000
  // unchanged files spent 0.25 s of CPU taking them one by one through the upload queue);
  // the others are read and uploaded below.
  const small: number[] = [];
  const large: number[] = [];
  const reusable = previous && !options.rehash
    ? reusableDigests(tree, previous, previousTime, stored)
    : undefined;
  for (let row = 0; row < tree.count; row++) {
    if (tree.kind[row] !== Kind.File) continue;
    const empty = tree.isEmpty(row);
    const digest = empty ? undefined : reusable?.(row);
    if (digest) {
      tree.setDigest(row, digest);
      progress.filesReused++;
      progress.bytesDone += tree.size[row];
    }
    if (empty || digest) progress.filesDone++;
    else if (tree.size[row] <= SMALL_FILE && libcUsable()) small.push(row);
    else large.push(row);
  }
  report();
  // The scan's garbage goes before the uploads add theirs.
  if (small.length + large.length > 0) releaseMemoryNow();

  /** Records what became of file `row`. */
  const settle = (row: number, outcome: FileOutcome) => {
    if (outcome.kind === "stored") {
      const { version } = outcome;
      tree.size[row] = version.size;
      tree.mtimeNs[row] = version.mtimeMs * 1_000_000;
      tree.ctimeNs[row] = version.ctimeMs * 1_000_000;
      tree.inode[row] = version.inode;
      tree.setEmpty(row, version.size === 0);
      tree.setDigest(row, outcome.digest);
    } else if (outcome.kind === "vanished") {
      tree.kind[row] = Kind.Dropped;
    } else {
      const path = tree.path(row);
      const old = previous?.fileRowOfPath(path) ?? -1;
      const oldDigest = old >= 0 ? previous!.digest(old) : undefined;
      if (oldDigest && stored(oldDigest)) {
        log.warn(`${displayPath(path)}: ${outcome.reason}; keeping its previous version`);
        keepPrevious(tree, row, previous!, old);
      } else {
        log.warn(`${displayPath(path)}: ${outcome.reason}; left out of the snapshot`);
        tree.kind[row] = Kind.Dropped;
      }
      missed.push(path);
    }
    progress.filesDone++;
    progress.bytesDone += tree.size[row];
  };

  // Large files go block by block through the event loop; small ones, read whole on this
  // thread meanwhile, let it run every YIELD_EVERY_MS.
  const largeFiles = new Semaphore(LARGE_FILES_AT_ONCE);
  const largeDone = forEachConcurrent(large, FILES_AT_ONCE, async (row) => {
    // Files up to 64 KiB are many and wait mostly on the server; larger ones hold up to a
    // block each in memory, and keep the compressors busy with four at once.
    const releaseLarge = tree.size[row] > LARGE_FILE ? await largeFiles.acquire() : undefined;
    try {
      signal?.throwIfAborted();
      const path = tree.path(row);
      settle(row, await backupFile(path, `${options.root}/${path}`, uploader, log, signal));
      report();
    } finally {
      releaseLarge?.();
    }
  });
  try {
    await backupSmallFiles(small, tree, options.root, uploader, log, settle, signal, report);
  } finally {
    // the large files' loops end once the small files failed, or when they are done
    await largeDone.catch(() => {});
  }
  await largeDone;
  await uploader.settle();
  signal?.throwIfAborted();

  const snapshotName = newSnapshotPrefix(snapshotNames);
  const kept = snapshotsToKeep(
    [...snapshotNames, snapshotName],
    options.keep ?? 1,
    options.keepWithinMs,
    Date.now(),
  );
  // The previous snapshot is needed no more unless it is kept. What pruning needs of it
  // when it is kept: the digests it lists.
  const previousKept: SnapshotData | undefined =
    previous && latestName !== undefined && kept.includes(latestName)
      ? {
        files: {},
        structure: {},
        identity: previous.identity,
        listedDigests: previous.listedDigests,
      }
      : undefined;
  previous = undefined;
  releaseMemoryNow();

  const metadata = () => encodeSourceBlocks(treeSource(tree, identity), BLOCK_SIZE);
  // Nothing changed: the previous snapshot's compressed blocks are this one's, encrypted
  // anew (an unchanged run over 20,000 files spent 0.5 s compressing 5 MiB of metadata).
  const same = storedMetadata && isStoredMetadata(storedMetadata, metadata());
  progress.bytesStored += same
    ? await bucket.writePrefix(snapshotName, storedMetadata.xz, codec.precompressed(), signal)
    : await bucket.writePrefix(
      snapshotName,
      metadata(),
      codec.atLevel(Math.min(codec.level, SNAPSHOT_LEVEL)),
      signal,
    );

  const keptData = new Map<string, SnapshotData>([[snapshotName, {
    files: {},
    structure: {},
    identity,
    listedDigests: tree.digests,
  }]]);
  for (const name of kept) {
    if (keptData.has(name)) continue;
    keptData.set(
      name,
      name === latestName && previousKept
        ? previousKept
        : await readSnapshot(bucket, codec, listing, name),
    );
  }
  const prunedPrefixes = await prune(bucket, listing, keptData);
  report();
  return {
    ...progress,
    snapshot: snapshotName.slice(SNAPSHOT_PREFIX.length),
    missed,
    prunedPrefixes,
  };
}

/**
 * Reads the small files of `rows` one after the other on this thread (no promise per
 * file), each directory opened once, and hands new contents to the uploader. A file that
 * grew past SMALL_FILE since the scan is read here through backupFile.
 */
async function backupSmallFiles(
  rows: number[],
  tree: ScannedTree,
  root: string,
  uploader: DigestUploader,
  log: Log,
  settle: (row: number, outcome: FileOutcome) => void,
  signal: AbortSignal | undefined,
  report: () => void,
): Promise<void> {
  if (rows.length === 0) return;
  const hasher = await ContentHasher.create();
  let dir: DirHandle | undefined;
  let dirRow = -2;
  let yielded = performance.now();
  try {
    for (const row of rows) {
      const parent = tree.parent[row];
      if (parent !== dirRow || !dir) {
        dir?.close();
        dir = undefined;
        dirRow = parent;
        const relDir = tree.dirPath(parent);
        try {
          dir = DirHandle.open(relDir ? `${root}/${relDir}` : root, parent < 0);
        } catch (err) {
          // its directory is gone or closed to us: said for each of its files
          dirRow = -2;
          if (err instanceof Deno.errors.NotFound) {
            log.warn(`${displayPath(tree.path(row))} vanished during the backup, skipped`);
            settle(row, { kind: "vanished" });
          } else {
            settle(row, { kind: "failed", reason: `cannot be read (${(err as Error).message})` });
          }
          continue;
        }
      }
      const outcome = readSmallFile(dir, tree.names[row], () => tree.path(row), hasher, log);
      if (outcome.kind === "read") {
        settle(row, { kind: "stored", digest: outcome.digest, version: outcome.version });
        await uploader.storeBytes(outcome.digest, outcome.bytes, signal);
      } else if (outcome.kind === "large") {
        const path = tree.path(row);
        settle(row, await backupFile(path, `${root}/${path}`, uploader, log, signal));
      } else settle(row, outcome);
      if (performance.now() - yielded >= YIELD_EVERY_MS) {
        report();
        await new Promise((resolve) => setTimeout(resolve, 0));
        signal?.throwIfAborted();
        yielded = performance.now();
      }
    }
  } finally {
    dir?.close();
    hasher.release();
  }
  report();
}

/**
 * The test of an unchanged file, for create's first pass: the previous digest of file `row`
 * when its size, mtime, ctime and inode are as the previous snapshot has them and its content
 * is stored; undefined otherwise. Paths are hashed from their folder's hashes.
 */
function reusableDigests(
  tree: ScannedTree,
  previous: PreviousFiles,
  previousTime: number,
  stored: (digest: string) => boolean,
): (row: number) => string | undefined {
  const folderHashes = new Map<number, [number, number]>();
  return (row) => {
    const parent = tree.parent[row];
    let folder = folderHashes.get(parent);
    if (!folder) {
      pathHash.start();
      if (parent >= 0) pathHash.add(`${tree.dirPath(parent)}/`);
      folder = [pathHash.h1, pathHash.h2];
      folderHashes.set(parent, folder);
    }
    pathHash.h1 = folder[0];
    pathHash.h2 = folder[1];
    pathHash.add(tree.names[row]);
    const old = previous.fileRow(pathHash.h1, pathHash.h2);
    if (old < 0) return undefined;
    const ctime = previous.unchangedCtime(
      old,
      tree.size[row],
      tree.mtimeNs[row],
      tree.inode[row],
      tree.ctimeNs[row],
    );
    if (ctime === undefined) return undefined;
    // Deno reports ctime in whole seconds: a change within the second of the previous scan
    // could leave every field as it was ("racy" entries, as git calls them). Read those again.
    if (ctime / 1e6 >= previousTime - RACY_WINDOW_MS) return undefined;
    const digest = previous.digest(old);
    return stored(digest) ? digest : undefined;
  };
}

/** Gives file `row` its previous entry and digest (it could not be read this time). */
function keepPrevious(tree: ScannedTree, row: number, previous: PreviousFiles, old: number): void {
  const entry = previous.entry(old);
  tree.set(row, {
    kind: Kind.File,
    mode: entry.mode,
    user: tree.nameRef(entry.user),
    group: tree.nameRef(entry.group),
    size: entry.size,
    mtimeNs: entry.mtime_ns,
    ctimeNs: entry.ctime_ns ?? NaN,
    inode: entry.inode,
  });
  tree.setEmpty(row, entry.empty);
  tree.setDigest(row, previous.digest(old));
}

/**
 * The bucket's listing, and its latest snapshot read meanwhile: the snapshots are listed
 * apart first (one short request), so that the previous snapshot's blocks download and
 * decompress while the rest of the bucket is listed (an unchanged run over 20,000 files
 * spent 0.6 s listing, then 0.2 s downloading the snapshot). Both finish before this
 * returns, failed or not. The previous snapshot is read into PreviousFiles as it downloads.
 */
async function listWithLatestSnapshot(bucket: Bucket, codec: BlockCodec): Promise<{
  listing: BucketListing;
  latestName?: string;
  previous?: PreviousFiles;
  stored?: StoredMetadata;
}> {
  const snapshots = await bucket.listingOf(SNAPSHOT_PREFIX);
  const latestName = completeSnapshots(snapshots).at(-1);
  const previous = latestName ? new PreviousFiles() : undefined;
  const [listed, read] = await Promise.allSettled([
    bucket.listing(),
    latestName && previous
      ? readSnapshotInto(bucket, codec, snapshots, latestName, previous.take)
      : undefined,
  ]);
  if (listed.status === "rejected") throw listed.reason;
  if (read.status === "rejected") throw read.reason;
  const listing = listed.value;
  // Under the lock nothing else writes to the bucket: the two listings agree.
  if (completeSnapshots(listing).at(-1) !== latestName) {
    throw new SpareError(
      `the snapshots of the bucket ${bucket.name} changed while it was listed: another program ` +
        "writes to it without taking its lock; try again once it is done",
    );
  }
  if (!read.value || !previous) return { listing, latestName };
  previous.identity = read.value.identity;
  return { listing, latestName, previous, stored: read.value.stored };
}

/** Entries changed this close to the previous snapshot are read again. */
const RACY_WINDOW_MS = 2000;
