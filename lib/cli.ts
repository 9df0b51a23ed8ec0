/** The command line: parse arguments, check what every command needs, run one command. */
import {
  catCommand,
  type Command,
  type CommandContext,
  type Connection,
  createCommand,
  diffCommand,
  doctorCommand,
  lockCommand,
  lsCommand,
  openConnection,
  parseCommandLine,
  restoreCommand,
  snapshotsCommand,
  unlockCommand,
  verifyCommand,
} from "./commands/mod.ts";
import { intOption, Settings } from "./config.ts";
import { ExitCode, Log, SpareError, UsageError } from "./util/mod.ts";
import { parseDuration, skipMatcher } from "./backup/mod.ts";
import { chooseCodec, codecDescription, DEFAULT_LEVEL } from "./codec/mod.ts";
import { aesDescription, chooseAes } from "./crypto/mod.ts";
import { resolve } from "node:path";

/** spare's version. */
export const VERSION = "1.0.0-dev";
/** The bucket format we read and write. */
export const FORMAT_VERSION = "0.4.0";

/** The commands, by the name typed. */
const COMMANDS: Record<string, Command> = {
  create: createCommand,
  restore: restoreCommand,
  verify: verifyCommand,
  validate: verifyCommand,
  lock: lockCommand,
  unlock: unlockCommand,
  snapshots: snapshotsCommand,
  ls: lsCommand,
  diff: diffCommand,
  cat: catCommand,
  doctor: doctorCommand,
};

/** The usage text of `spare --help`. */
export const USAGE =
  `spare ${VERSION}: one S3 backup of a directory, compressed and encrypted on the client.

Usage:
  spare create    --bucket B --password P --path DIR [--skip REGEX]... [--force] [--keep N]
                  [--keep-within DURATION] [--level 0-9] [--jobs N] [--rehash]
                  [--kdf scrypt]
  spare restore   --bucket B --password P --path DIR [--snapshot ID|latest] [--resume]
                  [--include GLOB]... [--exclude GLOB]...
  spare verify    --bucket B --password P [--sample PERCENT [--seed N] | --structure-only]
  spare snapshots --bucket B --password P
  spare ls        --bucket B --password P [--snapshot ID|latest] [PATTERN]...
  spare diff      --bucket B --password P [OLD [NEW]]
  spare cat       --bucket B --password P [--snapshot ID|latest] PATH
  spare lock      --bucket B
  spare unlock    --bucket B
  spare doctor    --bucket B

Connection (every command):
  --endpoint HOST|URL     SPARE_ENDPOINT (no scheme means https://)
  --access-key KEY        SPARE_ACCESS_KEY
  --secret-key KEY        SPARE_SECRET_KEY, or --secret-key-file / SPARE_SECRET_KEY_FILE
  --region NAME           SPARE_REGION (default us-east-1)
  --addressing path|virtual
                          SPARE_ADDRESSING: the bucket in the URL's path or in its host name
                          (default virtual for *.amazonaws.com, path for other endpoints)
  --ca-cert FILE          SPARE_CA_CERT: PEM CA certificates trusted for https:// besides
                          the system's store (SSL_CERT_FILE, SSL_CERT_DIR); proxies come
                          from HTTPS_PROXY, HTTP_PROXY and NO_PROXY
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
  --keep-within DURATION  also keep every snapshot younger than DURATION: whole numbers
                          with h, d, w or y (365 days), e.g. 30d, 12h, 1y6w
  --level N               LZMA preset 0-9 (default ${DEFAULT_LEVEL})
  --jobs N                blocks compressed at once (default 1 = one core; 0 = all cores)
  --rehash                read every file, even those whose size, mtime, ctime and inode
                          are unchanged since the previous snapshot
  --kdf scrypt            a new bucket's key is derived with scrypt (salted, 32 MiB, about
                          0.2 s) instead of 0.4.0's SHA-512; 0.4.0 cannot read such a bucket.
                          Every command reads the bucket's setting; refused for a bucket
                          that already holds backups
restore:
  --snapshot ID|latest    which snapshot to restore (default latest)
  --resume                complete an interrupted restore in --path: files that already hold
                          their content are kept, the rest is restored
  --include GLOB          restore only paths matching GLOB (repeatable): relative paths as
                          spare ls prints them; * and ? stay within one name, ** crosses /;
                          a matching directory brings everything under it, and the
                          directories above a path come with their own modes and mtimes; a byte
                          that is not UTF-8 is \\xNN, a backslash \\\\, as spare ls shows them
  --exclude GLOB          leave out paths matching GLOB, and everything under them
                          (repeatable; a glob here, unlike create's --exclude)
verify (alias validate; downloads and checks every content by default):
  --sample PERCENT        download and check a random PERCENT of the contents (at least
                          one); the seed is printed
  --seed N                the seed of --sample: the same seed checks the same contents
  --structure-only        download nothing but the snapshots: check from one listing that
                          every content has all its blocks
doctor (checks endpoint, keys and bucket; exit 0 when spare can work there):
                          one line per check (reachable, TLS, credentials, clock, region,
                          addressing, bucket, conditional writes, batch deletes, listing)
                          and the settings to use; writes and removes probe objects
                          .spare-doctor-*, never backup data or .lock
ls, diff, cat (read only: no lock taken):
  ls [PATTERN]...         one line per path: mode, owner, group, size, mtime, path; PATTERN
                          is a glob as for restore --include; exit 1 when nothing matches
  diff [OLD [NEW]]        paths added (+), removed (-), changed (M), changed type (T),
                          changed mode, owner or mtime only (P); default the two newest
  cat PATH                one file's content to stdout, checked against its digest
  --snapshot ID|latest    which snapshot ls and cat read (default latest)

Output:
  --verbose               list each path as it is uploaded or restored
  --quiet                 no warnings (errors only)
  --json                  one JSON object (an array for snapshots and ls) on stdout
  --debug                 stack traces for errors
  --help, --version

Exit codes: 0 success, 1 failure, 2 usage error, 3 completed but some files could not be
backed up, 130/143 interrupted by SIGINT/SIGTERM.`;

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
      parsed = parseCommandLine(args);
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
      print(`aes: ${aesDescription()}`);
      return ExitCode.ok;
    }
    if (positionals.length === 0) throw new UsageError("no command given");
    const name = positionals[0];
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!command) throw new UsageError(`unknown command: ${name}`);
    checkPositionals(name, command, positionals.slice(1));
    checkOptions(name, flags);
    log = new Log({ verbose: flags.verbose, quiet: flags.quiet });
    const { fallbackReason } = await chooseCodec();
    if (fallbackReason) log.detail(`using lzma-native: ${fallbackReason}`);
    const aes = chooseAes();
    if (aes.fallbackReason) log.detail(`AES through WebCrypto: ${aes.fallbackReason}`);
    return await run(name, command, flags, positionals.slice(1), log);
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

/** Options that only some commands take: given to another command, they are a usage error. */
const ONLY_FOR: Record<string, string[]> = {
  "keep-within": ["create"],
  include: ["restore"],
  sample: ["verify", "validate"],
  seed: ["verify", "validate"],
  "structure-only": ["verify", "validate"],
};

/** Refuses an option that `name` does not take (of those in ONLY_FOR). */
function checkOptions(name: string, flags: CommandContext["flags"]): void {
  for (const [option, commands] of Object.entries(ONLY_FOR)) {
    if (flags[option as keyof typeof flags] !== undefined && !commands.includes(name)) {
      throw new UsageError(`--${option} is an option of ${commands[0]}, not of ${name}`);
    }
  }
}

/** Refuses more or fewer positional arguments than the command takes. */
function checkPositionals(name: string, command: Command, args: string[]): void {
  const takes = command.positionals ?? { usage: "", min: 0, max: 0 };
  if (args.length > takes.max) {
    throw new UsageError(`unexpected argument: ${args[takes.max]}`);
  }
  if (args.length < takes.min) throw new UsageError(`spare ${name} needs ${takes.usage}`);
}

/** --kdf: scrypt, for create only (other commands follow the bucket's own setting). */
function kdfOption(value: string | undefined, command: string): "scrypt" | undefined {
  if (value === undefined) return undefined;
  if (command !== "create") {
    throw new UsageError(`--kdf applies to create only: ${command} reads the bucket's own setting`);
  }
  if (value !== "scrypt") {
    throw new UsageError(`--kdf must be scrypt (without it, 0.4.0's SHA-512 is used)`);
  }
  return value;
}

/** Checks everything the command needs before the first request, then runs it. */
async function run(
  name: string,
  command: Command,
  flags: CommandContext["flags"],
  args: string[],
  log: Log,
): Promise<number> {
  const settings = new Settings(flags);
  const started = performance.now();
  const seconds = () => Math.round(performance.now() - started) / 1000;
  const bucketName = settings.require("bucket");
  const password = command.needsPassword ? settings.require("password") : undefined;
  const kdf = kdfOption(flags.kdf, name);
  const path = command.takesPath ? resolve(settings.require("path")) : undefined;
  const level = intOption(flags.level, "level", 0, 9, DEFAULT_LEVEL);
  let jobs = intOption(flags.jobs, "jobs", 0, 1024, command.defaultJobs);
  if (jobs === 0) jobs = navigator.hardwareConcurrency || 1;
  const timeoutSeconds = intOption(settings.get("timeout"), "timeout", 1, 3600, 60);
  const keep = intOption(flags.keep, "keep", 1, 1_000_000, 1);
  const keepWithin = flags["keep-within"];
  const keepWithinMs = keepWithin === undefined ? undefined : parseDuration(keepWithin);
  if (keepWithin !== undefined && keepWithinMs === undefined) {
    throw new UsageError(
      `--keep-within takes a duration such as 30d, 12h, 2w or 1y, got ${
        JSON.stringify(keepWithin)
      }`,
    );
  }
  // For create, --exclude is 0.4.0's --skip (a regex); restore reads it as a glob.
  const skipPatterns = [
    ...(flags.skip ?? []),
    ...(command.excludeIsGlob ? [] : flags.exclude ?? []),
  ];
  const skip = skipPatterns.length ? skipMatcher(skipPatterns) : undefined;
  let connection: Connection | undefined;
  const context: CommandContext = {
    command: name,
    args,
    flags,
    settings,
    log,
    bucketName,
    password,
    kdf,
    path,
    level,
    jobs,
    timeoutSeconds,
    keep,
    keepWithinMs,
    skip,
    print,
    emit(result) {
      if (flags.json) {
        print(
          JSON.stringify({ command: name, ...result, duration: seconds(), warnings: log.warnings }),
        );
      }
    },
    connect() {
      connection ??= openConnection(settings, bucketName, timeoutSeconds);
      return connection;
    },
  };
  try {
    return await command.run(context);
  } finally {
    connection?.store.close();
  }
}
