/**
 * `create`: scan the tree, upload every digest the bucket lacks (block 1 last), write the
 * snapshot, prune to the newest snapshots.
 */
import {
  displayPath,
  encodeSnapshotBlocks,
  type FileEntry,
  isStoredMetadata,
  newSnapshotPrefix,
  readSnapshot,
  readSnapshotKeepingMetadata,
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
  forEachConcurrent,
  keepFreedMemoryWhileReading,
  type Log,
  mapBlockBuffersApart,
  Owners,
  releaseMemoryNow,
  Semaphore,
  SpareError,
} from "../util/mod.ts";
import { FileChangedError, FileReader, NotRegularFileError } from "./file_reader.ts";
import { type Inventory, type ScannedPath, scanTree } from "./scan.ts";
import { prune, snapshotsToKeep } from "./prune.ts";
import { PreviousFiles } from "./previous.ts";

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

/** Figures of a create run, for --json and progress. */
export interface CreateProgress {
  filesTotal: number;
  bytesTotal: number;
  filesDone: number;
  bytesDone: number;
  filesUploaded: number;
  bytesUploaded: number;
  filesReused: number;
  bytesStored: number;
}

/** What `create` did. */
export interface CreateResult extends CreateProgress {
  snapshot: string;
  /** Paths that could not be backed up (exit code 3). */
  missed: string[];
  prunedPrefixes: number;
}

const READ_ATTEMPTS = 3;

/** Files backed up at once. */
const FILES_AT_ONCE = 32;
/** Files larger than SMALL_FILE backed up at once. */
const LARGE_FILES_AT_ONCE = 4;
/**
 * The snapshot is compressed at most at this level: it is written anew by every run. For
 * 20,000 files (5.4 MB of JSON) level 6 took 1.8 s against 0.3 s at level 1; level 0 takes
 * 0.14 s and 4.5 MiB of memory against 0.38 s and 9.7 MiB at level 1, for 0.9 % more of a
 * snapshot that is a few percent of the bucket (xz -0/-1 with 1 MiB blocks).
 */
const SNAPSHOT_LEVEL = 0;
/** Short-lived buffers between two forced collections while files are uploaded. */
const UPLOAD_COLLECTION_BYTES = 2 * 1024 * 1024;
/** Files up to this size are small. */
const SMALL_FILE = 64 * 1024;

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
  const { listing, latestName } = listed;
  const storedMetadata = listed.latest?.stored;
  let previous = listed.latest?.files;
  listed.latest = undefined; // `previous` alone holds it, until it is dropped below
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
  const dropped = new Set<string>();
  /** The digest a path had in the previous snapshot, when that content is stored. */
  const previousStoredDigest = (path: string): string | undefined => {
    const digest = previous?.digest(path);
    return digest && listing.prefixes.get(digest)?.complete ? digest : undefined;
  };

  // Unchanged files take their previous digest here, in one pass (a run over 20,000
  // unchanged files spent 0.25 s of CPU taking them one by one through the upload queue);
  // the others are read and uploaded below.
  const work: ScannedPath[] = [];
  for (const scanned of inventory.paths) {
    const entry = scanned.entry;
    if (entry.type !== "file") continue;
    const unchanged = !entry.empty && !options.rehash &&
      reusableDigest(scanned, previous, previousTime, previousStoredDigest);
    if (unchanged) {
      scanned.digest = unchanged;
      progress.filesReused++;
      progress.bytesDone += entry.size;
    }
    if (entry.empty || unchanged) progress.filesDone++;
    else work.push(scanned);
  }
  report();
  // The scan's garbage (for 20,000 paths, some MiB of lstat results and path strings) goes
  // before the uploads add theirs: a create of 20,000 files peaked right there, at 68 MiB.
  if (work.length > 0) releaseMemoryNow();

  const largeFiles = new Semaphore(LARGE_FILES_AT_ONCE);
  await forEachConcurrent(work, FILES_AT_ONCE, async (scanned) => {
    const entry = scanned.entry as FileEntry;
    // Small files are many and wait mostly on the server; large ones hold up to a block
    // each in memory, and keep the compressors busy with four at once.
    const releaseLarge = entry.size > SMALL_FILE ? await largeFiles.acquire() : undefined;
    try {
      await backupOne(scanned, entry);
    } finally {
      releaseLarge?.();
    }
  });
  async function backupOne(scanned: ScannedPath, entry: FileEntry): Promise<void> {
    signal?.throwIfAborted();
    const outcome = await backupFile(
      scanned,
      `${options.root}/${scanned.path}`,
      uploader,
      log,
      signal,
    );
    if (outcome.kind === "stored") {
      scanned.digest = outcome.digest;
      Object.assign(entry, outcome.entry);
      entry.empty = entry.size === 0;
    } else if (outcome.kind === "vanished") {
      dropped.add(scanned.path);
    } else {
      const old = previous?.entry(scanned.path);
      const oldDigest = previousStoredDigest(scanned.path);
      if (old && oldDigest) {
        log.warn(`${displayPath(scanned.path)}: ${outcome.reason}; keeping its previous version`);
        scanned.digest = oldDigest;
        Object.assign(entry, old);
      } else {
        log.warn(`${displayPath(scanned.path)}: ${outcome.reason}; left out of the snapshot`);
        dropped.add(scanned.path);
      }
      missed.push(scanned.path);
    }
    progress.filesDone++;
    progress.bytesDone += entry.size;
    report();
  }
  signal?.throwIfAborted();

  const snapshotName = newSnapshotPrefix(snapshotNames);
  const kept = snapshotsToKeep(
    [...snapshotNames, snapshotName],
    options.keep ?? 1,
    options.keepWithinMs,
    Date.now(),
  );
  // The previous snapshot is needed no more unless it is kept: it goes before the new one
  // is built and encoded (an unchanged run over 300,000 paths peaked there, at 297 MiB).
  // What pruning needs of it when it is kept: the digests it lists.
  const previousKept: SnapshotData | undefined =
    previous && latestName !== undefined && kept.includes(latestName)
      ? {
        files: {},
        structure: {},
        identity: previous.identity,
        listedDigests: previous.listedDigests,
      }
      : undefined;
  const previousDropped = previous !== undefined && previousKept === undefined;
  previous = undefined;
  // Collected now, not when the new snapshot has grown the heap beside it.
  if (previousDropped) releaseMemoryNow();

  const snapshot = buildSnapshot(inventory, dropped, identity);
  // The upload phase's garbage, and what the snapshot was built from (for 20,000 files,
  // some MiB of paths), go before its metadata is written: the peak of many a run.
  inventory.paths = [];
  releaseMemoryNow();
  const metadata = () => encodeSnapshotBlocks(snapshot, BLOCK_SIZE);
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

  const keptData = new Map<string, SnapshotData>([[snapshotName, snapshot]]);
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
 * The bucket's listing, and its latest snapshot read meanwhile: the snapshots are listed
 * apart first (one short request), so that the previous snapshot's blocks download and
 * decompress while the rest of the bucket is listed (an unchanged run over 20,000 files
 * spent 0.6 s listing, then 0.2 s downloading the snapshot). Both finish before this
 * returns, failed or not.
 */
async function listWithLatestSnapshot(bucket: Bucket, codec: BlockCodec): Promise<{
  listing: BucketListing;
  latestName?: string;
  latest?: { files: PreviousFiles; stored: StoredMetadata };
}> {
  const snapshots = await bucket.listingOf(SNAPSHOT_PREFIX);
  const latestName = completeSnapshots(snapshots).at(-1);
  const [listed, read] = await Promise.allSettled([
    bucket.listing(),
    latestName ? readSnapshotKeepingMetadata(bucket, codec, snapshots, latestName) : undefined,
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
  if (!read.value) return { listing, latestName };
  const latest = compactPrevious(read.value);
  // The decoded snapshot's objects go before the tree is scanned.
  releaseMemoryNow();
  return { listing, latestName, latest };
}

/** What create keeps of the previous snapshot, taken out of `read` (which lets go of it). */
function compactPrevious(
  read: { snapshot?: SnapshotData; stored: StoredMetadata },
): { files: PreviousFiles; stored: StoredMetadata } {
  const files = new PreviousFiles(read.snapshot!);
  read.snapshot = undefined;
  return { files, stored: read.stored };
}

/** Entries changed this close to the previous snapshot are read again. */
const RACY_WINDOW_MS = 2000;

/** The previous digest of a file whose size, mtime, ctime and inode are unchanged and whose prefix is stored. */
function reusableDigest(
  scanned: ScannedPath,
  previous: PreviousFiles | undefined,
  previousTime: number,
  previousStoredDigest: (path: string) => string | undefined,
): string | undefined {
  const ctime = previous?.unchangedCtime(scanned.path, scanned.entry as FileEntry);
  if (ctime === undefined) return undefined;
  // Deno reports ctime in whole seconds: a change within the second of the previous scan
  // could leave every field as it was ("racy" entries, as git calls them). Read those again.
  if (ctime / 1e6 >= previousTime - RACY_WINDOW_MS) return undefined;
  return previousStoredDigest(scanned.path);
}

function buildSnapshot(
  inventory: Inventory,
  dropped: Set<string>,
  identity: string,
): SnapshotData {
  const snapshot: SnapshotData = { files: {}, structure: {}, identity };
  for (const scanned of inventory.paths) {
    if (dropped.has(scanned.path)) continue;
    snapshot.structure[scanned.path] = scanned.entry;
    const digest = scanned.digest;
    if (!digest) continue;
    // A list of one path is an array of one (pushed onto [], it would hold room for 17).
    const paths = snapshot.files[digest];
    if (paths) paths.push(scanned.path);
    else snapshot.files[digest] = [scanned.path];
  }
  return snapshot;
}

type FileOutcome =
  | { kind: "stored"; digest: string; entry: Partial<FileEntry> }
  | { kind: "vanished" }
  | { kind: "failed"; reason: string };

/** Reads (up to 3 times, while it keeps changing) and uploads one file. */
async function backupFile(
  scanned: ScannedPath,
  absolute: string,
  uploader: DigestUploader,
  log: Log,
  signal?: AbortSignal,
): Promise<FileOutcome> {
  let reason = "";
  for (let attempt = 1; attempt <= READ_ATTEMPTS; attempt++) {
    signal?.throwIfAborted();
    let reader: FileReader | undefined;
    try {
      reader = await FileReader.open(absolute);
      const digest = await uploader.store(reader, signal);
      log.detail(displayPath(scanned.path));
      const v = reader.version;
      return {
        kind: "stored",
        digest,
        entry: {
          size: v.size,
          mtime_ns: v.mtimeMs * 1_000_000,
          ctime_ns: v.ctimeMs * 1_000_000,
          inode: v.inode,
        },
      };
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        log.warn(`${displayPath(scanned.path)} vanished during the backup, skipped`);
        return { kind: "vanished" };
      }
      if (err instanceof NotRegularFileError) {
        return { kind: "failed", reason: "it is no longer a regular file" };
      }
      if (err instanceof FileChangedError) {
        reason = "it kept changing while it was read";
        continue;
      }
      // Whatever keeps the file from being opened is about this file alone.
      if (
        !reader || err instanceof Deno.errors.PermissionDenied ||
        err instanceof Deno.errors.IsADirectory
      ) {
        return { kind: "failed", reason: `cannot be read (${(err as Error).message})` };
      }
      throw err;
    } finally {
      reader?.close();
    }
  }
  return { kind: "failed", reason };
}

/**
 * Stores file contents under their digests, each digest once per run: a digest already
 * in the bucket or being uploaded by another file is not uploaded again.
 */
class DigestUploader {
  private readonly inProgress = new Map<string, Promise<void>>();
  private readonly uploaded = new Set<string>();

  constructor(
    private readonly bucket: Bucket,
    private readonly codec: BlockCodec,
    private readonly listing: BucketListing,
    private readonly progress: CreateProgress,
  ) {}

  private known(digest: string): boolean {
    return this.uploaded.has(digest) || this.listing.prefixes.get(digest)?.complete === true;
  }

  /** Reads the file, uploads its content unless stored already, and returns its digest. */
  async store(reader: FileReader, signal?: AbortSignal): Promise<string> {
    if (reader.version.size <= BLOCK_SIZE) {
      // One read: the bytes we hash are the bytes we upload.
      const blocks: Uint8Array[] = [];
      for await (const block of reader.blocks()) blocks.push(block);
      const digest = reader.finish();
      await this.upload(digest, reader.version.size, signal, () => blocks);
      return digest;
    }
    // Large file: hash it first; upload in a second read that must hash to the same digest.
    await reader.drain();
    const digest = reader.finish();
    await this.upload(digest, reader.version.size, signal, async function* () {
      const again = await FileReader.open(reader.path);
      try {
        if (
          again.version.size !== reader.version.size ||
          again.version.mtimeMs !== reader.version.mtimeMs
        ) {
          throw new FileChangedError(reader.path, "it changed between two reads");
        }
        yield* again.blocks();
        if (again.finish() !== digest) {
          throw new FileChangedError(reader.path, "its content changed");
        }
      } finally {
        again.close();
      }
    });
    return digest;
  }

  private async upload(
    digest: string,
    size: number,
    signal: AbortSignal | undefined,
    blocks: () => Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  ): Promise<void> {
    if (this.known(digest)) return;
    const running = this.inProgress.get(digest);
    if (running) {
      try {
        await running;
        return;
      } catch {
        // the other upload failed (its file changed): try with ours
      }
    }
    signal?.throwIfAborted();
    const task = (async () => {
      // A second read that hashes differently throws before block 1 is stored.
      // the blocks were read for this upload alone: each is freed once sealed
      const stored = await this.bucket.writePrefix(digest, blocks(), this.codec, signal, true);
      this.progress.bytesStored += stored;
      this.progress.filesUploaded++;
      this.progress.bytesUploaded += size;
      this.uploaded.add(digest);
    })();
    this.inProgress.set(digest, task);
    try {
      await task;
    } finally {
      if (this.inProgress.get(digest) === task) this.inProgress.delete(digest);
    }
  }
}
