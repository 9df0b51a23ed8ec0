/**
 * From password to block key. The default is 0.4.0's: SHA-512 of the password's UTF-8
 * bytes, unsalted. A bucket made with `create --kdf scrypt` holds a `.spare-kdf` object
 * (plain JSON: a random salt and the scrypt parameters N, r, p); its key is scrypt's 64
 * bytes. The JSON comes from the bucket: it is checked before anything is derived.
 */
import { scrypt } from "node:crypto";
import { SpareError, toHex } from "../util/mod.ts";

/** The object that holds the key derivation settings of a hardened bucket. */
export const KDF_KEY = ".spare-kdf";

/** Bytes of an AES-SIV key (two 256-bit AES keys). */
export const KEY_BYTES = 64;

/** scrypt's cost parameters. */
export interface ScryptCost {
  N: number;
  r: number;
  p: number;
}

/** How a bucket's key is derived from the password. */
export type KdfSettings =
  | { kdf: "sha512" }
  | ({ kdf: "scrypt"; salt: Uint8Array } & ScryptCost);

/** 0.4.0's derivation, for buckets without `.spare-kdf`. */
export const SHA512: KdfSettings = { kdf: "sha512" };

/** New buckets: 32 MiB and about 0.2 s on a 2-core EPYC (docs/SECURITY.md, "Password hardening"). */
export const DEFAULT_SCRYPT: ScryptCost = { N: 2 ** 15, r: 8, p: 1 };

/** Random salt bytes of a new bucket. */
export const SALT_BYTES = 32;

/** What a bucket may ask for: enough to be worth it, never gigabytes or hours. */
export const SCRYPT_LIMITS = {
  minN: 2 ** 14,
  maxN: 2 ** 20,
  maxR: 32,
  maxP: 16,
  /** 128·N·r bytes of memory. */
  minMemory: 16 * 1024 * 1024,
  maxMemory: 256 * 1024 * 1024,
  /** N·r·p, 64 times the default's. */
  maxWork: 2 ** 24,
  minSaltBytes: 16,
  maxSaltBytes: 64,
} as const;

const encoder = new TextEncoder();

/** Settings for a new hardened bucket: a fresh random salt, the default cost. */
export function newScryptSettings(cost: ScryptCost = DEFAULT_SCRYPT): KdfSettings {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  return { kdf: "scrypt", salt, ...cost };
}

/** The JSON stored at `.spare-kdf`. */
export function encodeKdfSettings(settings: KdfSettings): Uint8Array {
  if (settings.kdf !== "scrypt") throw new Error("only scrypt settings are stored");
  const { N, r, p } = settings;
  return encoder.encode(
    JSON.stringify({ kdf: "scrypt", N, r, p, salt: toHex(settings.salt) }) + "\n",
  );
}

/**
 * Reads `.spare-kdf` as untrusted input: one line naming what is wrong when it is not a
 * JSON object with kdf "scrypt", a hex salt of 16–64 bytes, and N, r, p within
 * SCRYPT_LIMITS (N a power of two). Other keys are ignored.
 */
export function decodeKdfSettings(bytes: Uint8Array, bucket: string): KdfSettings {
  const refuse = (why: string) =>
    new SpareError(`bucket ${bucket}: ${KDF_KEY} is not usable (${why}); refusing to guess a key`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw refuse("not UTF-8 JSON");
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw refuse("not an object");
  const { kdf, N, r, p, salt } = parsed as Record<string, unknown>;
  if (kdf !== "scrypt") throw refuse(`unknown kdf ${JSON.stringify(kdf)}`);
  const limits = SCRYPT_LIMITS;
  const isInt = (v: unknown, min: number, max: number): v is number =>
    typeof v === "number" && Number.isSafeInteger(v) && v >= min && v <= max;
  if (!isInt(N, limits.minN, limits.maxN) || (N & (N - 1)) !== 0) {
    throw refuse(`N must be a power of two from ${limits.minN} to ${limits.maxN}`);
  }
  if (!isInt(r, 1, limits.maxR)) throw refuse(`r must be an integer from 1 to ${limits.maxR}`);
  if (!isInt(p, 1, limits.maxP)) throw refuse(`p must be an integer from 1 to ${limits.maxP}`);
  const memory = 128 * N * r;
  if (memory < limits.minMemory || memory > limits.maxMemory) {
    throw refuse(
      `128·N·r is ${mib(memory)} MiB, outside ${mib(limits.minMemory)}–${
        mib(limits.maxMemory)
      } MiB`,
    );
  }
  if (N * r * p > limits.maxWork) throw refuse(`N·r·p is above ${limits.maxWork}`);
  const saltHex = typeof salt === "string" ? salt : "";
  const saltBytes = saltHex.length / 2;
  if (
    !/^(?:[0-9a-f]{2})+$/.test(saltHex) || saltBytes < limits.minSaltBytes ||
    saltBytes > limits.maxSaltBytes
  ) {
    throw refuse(
      `salt must be ${limits.minSaltBytes}–${limits.maxSaltBytes} bytes as lowercase hex`,
    );
  }
  return { kdf: "scrypt", salt: fromHex(saltHex), N, r, p };
}

/** The 64-byte AES-SIV key for `password` under `settings`. */
export async function deriveKey(password: string, settings: KdfSettings): Promise<Uint8Array> {
  const secret = encoder.encode(password);
  if (settings.kdf === "sha512") {
    return new Uint8Array(await crypto.subtle.digest("SHA-512", secret));
  }
  return await scryptKey(secret, settings.salt, settings, KEY_BYTES);
}

/** scrypt (RFC 7914) through node:crypto, off the main thread. */
export function scryptKey(
  password: Uint8Array,
  salt: Uint8Array,
  { N, r, p }: ScryptCost,
  length: number,
): Promise<Uint8Array> {
  // node:crypto refuses more than `maxmem` (about 128·N·r bytes are used); the settings
  // were bounded before we get here.
  const maxmem = 2 * 128 * N * r + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, { N, r, p, maxmem }, (err, key) => {
      if (err) reject(err);
      else resolve(new Uint8Array(key.buffer, key.byteOffset, key.length));
    });
  });
}

function mib(bytes: number): number {
  return Math.round(bytes / 1024 / 1024 * 10) / 10;
}

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
