/**
 * What every command gets from the command line: the parsed flags, the settings with their
 * SPARE_* fallbacks, the operator's output, and a connection to the bucket.
 */
import { parseArgs } from "node:util";
import { BlockCodec } from "../codec/mod.ts";
import { Bucket } from "../bucket/mod.ts";
import { readEnv, Settings } from "../config.ts";
import { type Log, ProgressLine, UsageError } from "../util/mod.ts";
import {
  type Addressing,
  caCertFile,
  endpointUrl,
  ObjectStore,
  proxySettings,
  type S3Config,
  trustedCertificates,
} from "../s3/mod.ts";
import { newScryptSettings } from "../crypto/mod.ts";

/** Every option of every command (node:util parseArgs). */
export const OPTIONS = {
  endpoint: { type: "string" },
  "access-key": { type: "string" },
  "secret-key": { type: "string" },
  "secret-key-file": { type: "string" },
  region: { type: "string" },
  addressing: { type: "string" },
  "ca-cert": { type: "string" },
  timeout: { type: "string" },
  password: { type: "string" },
  "password-file": { type: "string" },
  kdf: { type: "string" },
  bucket: { type: "string" },
  path: { type: "string" },
  skip: { type: "string", multiple: true },
  exclude: { type: "string", multiple: true },
  force: { type: "boolean" },
  keep: { type: "string" },
  "keep-within": { type: "string" },
  include: { type: "string", multiple: true },
  level: { type: "string" },
  jobs: { type: "string" },
  rehash: { type: "boolean" },
  snapshot: { type: "string" },
  sample: { type: "string" },
  seed: { type: "string" },
  "structure-only": { type: "boolean" },
  resume: { type: "boolean" },
  verbose: { type: "boolean" },
  quiet: { type: "boolean" },
  json: { type: "boolean" },
  debug: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

/** Parses a command line into flags and positionals (throws on unknown options). */
export function parseCommandLine(args: string[]) {
  return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
}

/** The parsed flags. */
export type Flags = ReturnType<typeof parseCommandLine>["values"];

/**
 * Files restore and verify read at once: small files cost a request each, so many overlap;
 * memory stays bounded by the bucket's read-ahead budget, not by this number.
 */
export const FILES_READ_AT_ONCE = 16;

/** Everything checked before the first request, plus the run's output. */
export interface CommandContext {
  /** The command as typed (`validate` stays `validate`). */
  command: string;
  /** The positional arguments after the command. */
  args: string[];
  flags: Flags;
  settings: Settings;
  log: Log;
  bucketName: string;
  /** Present for commands that need the password. */
  password?: string;
  /** create --kdf: the key derivation a new bucket gets (others keep their own). */
  kdf?: "scrypt";
  /** --path, resolved, for commands that take it. */
  path?: string;
  /** --level (0-9). */
  level: number;
  /** --jobs, resolved (0 became the number of cores). */
  jobs: number;
  /** --timeout in seconds. */
  timeoutSeconds: number;
  /** --keep: snapshots kept by create. */
  keep: number;
  /** --keep-within in milliseconds: create also keeps every snapshot younger than this. */
  keepWithinMs?: number;
  /** --skip/--exclude patterns, compiled; undefined when none were given. */
  skip?: (relativePath: string) => boolean;
  /** Writes one line to stdout. */
  print(text: string): void;
  /** With --json: prints the result as one JSON object, with duration and warnings. */
  emit(result: Record<string, unknown>): void;
  /**
   * The S3 connection and bucket (requires endpoint and keys); opened on the first call,
   * after the command's own checks, and closed when the command ends.
   */
  connect(): Connection;
}

/** One command of the CLI: what it needs checked up front, and what it does. */
export interface Command {
  /** Needs --password. */
  needsPassword: boolean;
  /** Takes --path: the tree to back up, or the directory to restore into. */
  takesPath: boolean;
  /** --jobs when not given: 1 for one core, 0 for every core. */
  defaultJobs: number;
  /** The positional arguments taken after the command (none when absent). */
  positionals?: Positionals;
  /** --exclude is a glob of the command's own (restore), not create's --skip alias. */
  excludeIsGlob?: boolean;
  /** Runs the command; returns the exit code. */
  run(context: CommandContext): Promise<number>;
}

/** The positional arguments a command takes: how many, and their names for messages. */
export interface Positionals {
  /** As in the usage text, e.g. `PATH` or `[OLD [NEW]]`. */
  usage: string;
  min: number;
  max: number;
}

/** The S3 connection and bucket of a run. */
export interface Connection {
  store: ObjectStore;
  bucket: Bucket;
}

/** Where and how to reach the S3 server, from the settings (requires endpoint and keys). */
export function s3Config(settings: Settings, timeoutSeconds: number): S3Config {
  const endpoint = settings.require("endpoint");
  const accessKey = settings.require("accessKey");
  const secretKey = settings.require("secretKey");
  const caFile = settings.get("caCert");
  const extraCa = caFile === undefined
    ? []
    : caCertFile(caFile, readEnv("SPARE_CA_CERT") === caFile ? "SPARE_CA_CERT" : "--ca-cert");
  const https = endpointUrl(endpoint).toLowerCase().startsWith("https:");
  return {
    endpoint,
    accessKey,
    secretKey,
    region: settings.get("region"),
    requestTimeoutMs: timeoutSeconds * 1000,
    ca: https ? trustedCertificates(extraCa) : undefined,
    proxies: proxySettings(readEnv),
    addressing: addressingOption(settings.get("addressing")),
  };
}

/** Opens the connection the settings describe (requires endpoint and keys). */
export function openConnection(
  settings: Settings,
  bucketName: string,
  timeoutSeconds: number,
): Connection {
  const store = new ObjectStore(s3Config(settings, timeoutSeconds));
  return { store, bucket: new Bucket(store, bucketName) };
}

/** --addressing / SPARE_ADDRESSING: path or virtual; undefined means the endpoint's default. */
function addressingOption(value: string | undefined): Addressing | undefined {
  if (value === undefined || value === "path" || value === "virtual") return value;
  throw new UsageError(`--addressing takes path or virtual, got ${JSON.stringify(value)}`);
}

/** A progress line on stderr for this command (drawn only on a terminal). */
export function progressLine(context: CommandContext): ProgressLine {
  return ProgressLine.forTerminal(context.command, context.log, Boolean(context.flags.quiet));
}

/**
 * The block codec of this run: the key derived from --password the way the bucket says
 * (its `.spare-kdf`, else 0.4.0's SHA-512), with --level and --jobs. With --kdf, a bucket
 * without backups gets new settings first (create holds the lock when it calls this).
 */
export async function openCodec(context: CommandContext, bucket: Bucket): Promise<BlockCodec> {
  let kdf = await bucket.kdfSettings();
  if (context.kdf === "scrypt" && kdf.kdf !== "scrypt") {
    kdf = await bucket.startKdf(newScryptSettings());
  }
  return await BlockCodec.fromPassword(context.password!, context.level, context.jobs, kdf);
}
