/** The command line: parse arguments, run one command, return the exit code. */
import { parseArgs } from "node:util";
import { createSnapshot } from "./backup.ts";
import { BlockCodec } from "./block.ts";
import { Bucket } from "./bucket.ts";
import { intOption, Settings } from "./config.ts";
import { ExitCode, SpareError, UsageError } from "./errors.ts";
import { skipMatcher } from "./inventory.ts";
import { lockHolder, withLock } from "./lock.ts";
import { Log } from "./log.ts";
import { reuseCompressorMemory } from "./memory.ts";
import { ProgressLine } from "./progress.ts";
import { prepareTarget, restoreSnapshot } from "./restore.ts";
import { ObjectStore } from "./s3.ts";
import { SNAPSHOT_PREFIX, ulidTime } from "./snapshot.ts";
import { readSnapshot, resolveSnapshot, snapshotNames } from "./snapshots.ts";
import { verifyBucket } from "./verify.ts";
import { chooseCodec, codecDescription, DEFAULT_LEVEL } from "./xz.ts";
import { resolve } from "node:path";

/**
 * Files restore and verify read at once: small files cost a request each, so many overlap;
 * memory stays bounded by the bucket's read-ahead budget, not by this number.
 */
const FILES_READ_AT_ONCE = 16;

/** spare's version. */
export const VERSION = "1.0.0-dev";
/** The bucket format we read and write. */
export const FORMAT_VERSION = "0.4.0";

const COMMANDS = [
  "create",
  "restore",
  "verify",
  "validate",
  "lock",
  "unlock",
  "snapshots",
] as const;
type Command = typeof COMMANDS[number];

/** The usage text of `spare --help`. */
export const USAGE =
  `spare ${VERSION}: one S3 backup of a directory, compressed and encrypted on the client.

Usage:
  spare create    --bucket B --password P --path DIR [--skip REGEX]... [--force] [--keep N]
                  [--level 0-9] [--jobs N] [--rehash]
  spare restore   --bucket B --password P --path DIR [--snapshot ID|latest]
  spare verify    --bucket B --password P          (alias: validate; downloads everything)
  spare snapshots --bucket B --password P
  spare lock      --bucket B
  spare unlock    --bucket B

Connection (every command):
  --endpoint HOST|URL     SPARE_ENDPOINT (no scheme means https://)
  --access-key KEY        SPARE_ACCESS_KEY
  --secret-key KEY        SPARE_SECRET_KEY, or --secret-key-file / SPARE_SECRET_KEY_FILE
  --region NAME           SPARE_REGION (default us-east-1)
  --timeout SECONDS       SPARE_TIMEOUT: a request without progress for this long is
                          retried (default 60; 5 attempts with backoff)
  --bucket NAME           SPARE_BUCKET
  --password TEXT         SPARE_PASSWORD, or --password-file / SPARE_PASSWORD_FILE
                          (first line of the file; keeps it out of process listings)
  --path DIR              SPARE_PATH

create:
  --skip REGEX            leave out paths matching REGEX at the start of the path relative
                          to --path ("--skip cache" also skips "cache-notes.txt"); repeatable;
                          --exclude is an alias
  --force                 accept a new identity (another host, path or inode) for the bucket
  --keep N                keep the newest N snapshots (default 1)
  --level N               LZMA preset 0-9 (default ${DEFAULT_LEVEL})
  --jobs N                blocks compressed at once (default 1 = one core; 0 = all cores)
  --rehash                read every file, even those whose size, mtime, ctime and inode
                          are unchanged since the previous snapshot
restore:
  --snapshot ID|latest    which snapshot to restore (default latest)

Output:
  --verbose               list each path as it is uploaded or restored
  --quiet                 no warnings (errors only)
  --json                  one JSON object (an array for snapshots) on stdout at the end
  --debug                 stack traces for errors
  --help, --version

Exit codes: 0 success, 1 failure, 2 usage error, 3 completed but some files could not be
backed up, 130/143 interrupted by SIGINT/SIGTERM.`;

const OPTIONS = {
  endpoint: { type: "string" },
  "access-key": { type: "string" },
  "secret-key": { type: "string" },
  "secret-key-file": { type: "string" },
  region: { type: "string" },
  timeout: { type: "string" },
  password: { type: "string" },
  "password-file": { type: "string" },
  bucket: { type: "string" },
  path: { type: "string" },
  skip: { type: "string", multiple: true },
  exclude: { type: "string", multiple: true },
  force: { type: "boolean" },
  keep: { type: "string" },
  level: { type: "string" },
  jobs: { type: "string" },
  rehash: { type: "boolean" },
  snapshot: { type: "string" },
  verbose: { type: "boolean" },
  quiet: { type: "boolean" },
  json: { type: "boolean" },
  debug: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

type Flags = ReturnType<typeof parse>["values"];

function parse(args: string[]) {
  return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
}

function print(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text + "\n"));
}

/** Runs the command line `args` and returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  const debug = args.includes("--debug");
  let log = new Log();
  try {
    let parsed;
    try {
      parsed = parse(args);
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
    const { values: flags, positionals } = parsed;
    if (flags.help) {
      print(USAGE);
      return ExitCode.ok;
    }
    if (flags.version) {
      print(`spare ${VERSION} (deno ${Deno.version.deno}, bucket format ${FORMAT_VERSION})`);
      print(`xz codec: ${await codecDescription()}`);
      return ExitCode.ok;
    }
    if (positionals.length === 0) throw new UsageError("no command given");
    if (positionals.length > 1) throw new UsageError(`unexpected argument: ${positionals[1]}`);
    const command = positionals[0] as Command;
    if (!COMMANDS.includes(command)) throw new UsageError(`unknown command: ${positionals[0]}`);
    log = new Log({ verbose: flags.verbose, quiet: flags.quiet });
    const { fallbackReason } = await chooseCodec();
    if (fallbackReason) log.detail(`using lzma-native: ${fallbackReason}`);
    return await run(command, flags, log);
  } catch (err) {
    if (err instanceof UsageError) {
      log.error(err.message);
      Deno.stderr.writeSync(
        new TextEncoder().encode(
          `\n${USAGE.split("\n\n")[1]}\nRun spare --help for every option.\n`,
        ),
      );
      return err.exitCode;
    }
    if (err instanceof SpareError) {
      log.error(err.message);
      if (debug && err.cause) console.error(err.cause);
      return err.exitCode;
    }
    log.error(`unexpected failure: ${err instanceof Error ? err.message : String(err)}`);
    if (debug) console.error(err);
    else log.error("run again with --debug for details");
    return ExitCode.failure;
  }
}

async function run(command: Command, flags: Flags, log: Log): Promise<number> {
  const settings = new Settings(flags);
  const started = performance.now();
  const seconds = () => Math.round(performance.now() - started) / 1000;
  const emit = (result: Record<string, unknown>) => {
    if (flags.json) {
      print(JSON.stringify({ command, ...result, duration: seconds(), warnings: log.warnings }));
    }
  };

  // Everything the command needs is checked before the first request.
  const bucketName = settings.require("bucket");
  const needsPassword = command !== "lock" && command !== "unlock";
  const password = needsPassword ? settings.require("password") : undefined;
  const path = command === "create" || command === "restore"
    ? resolve(settings.require("path"))
    : undefined;
  const level = intOption(flags.level, "level", 0, 9, DEFAULT_LEVEL);
  let jobs = intOption(flags.jobs, "jobs", 0, 1024, command === "create" ? 1 : 0);
  if (jobs === 0) jobs = navigator.hardwareConcurrency || 1;
  const timeoutSeconds = intOption(settings.get("timeout"), "timeout", 1, 3600, 60);
  const keep = intOption(flags.keep, "keep", 1, 1_000_000, 1);
  const skipPatterns = [...(flags.skip ?? []), ...(flags.exclude ?? [])];
  const skip = skipPatterns.length ? skipMatcher(skipPatterns) : undefined;
  if (command === "create") await checkSourceDirectory(path!);
  const store = new ObjectStore({
    endpoint: settings.require("endpoint"),
    accessKey: settings.require("accessKey"),
    secretKey: settings.require("secretKey"),
    region: settings.get("region"),
    requestTimeoutMs: timeoutSeconds * 1000,
  });
  const bucket = new Bucket(store, bucketName);
  const progress = ProgressLine.forTerminal(command, log, Boolean(flags.quiet));
  try {
    switch (command) {
      case "lock": {
        await bucket.ensure();
        const result = await bucket.lock(lockHolder("lock"));
        emit({ result: result.taken ? "locked" : "already locked" });
        if (!result.taken) log.error(`bucket ${bucketName} is already locked`);
        return result.taken ? ExitCode.ok : ExitCode.failure;
      }
      case "unlock": {
        await bucket.checkMarker(true);
        const removed = await bucket.unlock();
        emit({ result: removed ? "unlocked" : "not locked" });
        if (!removed) log.error(`bucket ${bucketName} was not locked`);
        return removed ? ExitCode.ok : ExitCode.failure;
      }
      case "create": {
        reuseCompressorMemory();
        const codec = await BlockCodec.fromPassword(password!, level, jobs);
        await bucket.ensure();
        const result = await withLock(
          bucket,
          "create",
          log,
          (signal) =>
            createSnapshot(bucket, codec, log, {
              root: path!,
              skip,
              force: flags.force,
              keep,
              rehash: flags.rehash,
              signal,
              onProgress: (p) => progress.update(p),
            }),
        );
        for (const missed of result.missed) log.error(`not backed up: ${missed}`);
        const code = result.missed.length ? ExitCode.warnings : ExitCode.ok;
        emit({ result: code === ExitCode.ok ? "ok" : "incomplete", ...result });
        return code;
      }
      case "restore": {
        const codec = await BlockCodec.fromPassword(password!, level, jobs);
        await bucket.checkMarker();
        const result = await withLock(bucket, "restore", log, async (signal) => {
          const listing = await bucket.listing();
          const name = resolveSnapshot(listing, flags.snapshot);
          const snapshot = await readSnapshot(bucket, codec, listing, name);
          await prepareTarget(path!);
          try {
            return await restoreSnapshot(bucket, codec, listing, name, snapshot, log, {
              target: path!,
              signal,
              concurrency: Math.max(FILES_READ_AT_ONCE, jobs),
              onProgress: (p) => progress.update(p),
            });
          } catch (err) {
            log.error(`the restore into ${path} is incomplete`);
            throw err;
          }
        });
        emit({ result: "ok", ...result });
        return ExitCode.ok;
      }
      case "verify":
      case "validate": {
        const codec = await BlockCodec.fromPassword(password!, level, jobs);
        await bucket.checkMarker();
        const result = await withLock(bucket, "verify", log, async (signal) => {
          const listing = await bucket.listing();
          return verifyBucket(bucket, codec, listing, log, {
            signal,
            concurrency: Math.max(FILES_READ_AT_ONCE, jobs),
            onProgress: (p) => progress.update(p),
          });
        });
        const ok = result.problems.length === 0;
        emit({ result: ok ? "ok" : "problems", ...result });
        return ok ? ExitCode.ok : ExitCode.failure;
      }
      case "snapshots": {
        const codec = await BlockCodec.fromPassword(password!, level, jobs);
        await bucket.checkMarker();
        const listing = await bucket.listing();
        const rows = [];
        for (const name of snapshotNames(listing)) {
          const snapshot = await readSnapshot(bucket, codec, listing, name);
          const fileEntries = Object.values(snapshot.structure).filter((e) => e.type === "file");
          const id = name.slice(SNAPSHOT_PREFIX.length);
          rows.push({
            id,
            created: ulidTime(id).toISOString(),
            files: fileEntries.length,
            bytes: fileEntries.reduce((n, e) => n + e.size, 0),
            identity: snapshot.identity,
          });
        }
        if (flags.json) print(JSON.stringify(rows));
        else {for (const r of rows) {
            print(`${r.id}  ${r.created}  ${r.files} files  ${r.bytes} bytes  ${r.identity}`);
          }}
        return ExitCode.ok;
      }
    }
  } finally {
    progress.clear();
    store.close();
  }
}

async function checkSourceDirectory(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new SpareError(`--path ${path} does not exist`);
    throw new SpareError(
      `--path ${path} cannot be read: ${err instanceof Error ? err.message : err}`,
    );
  }
  if (!info.isDirectory) throw new SpareError(`--path ${path} is not a directory`);
}
