/**
 * The block codec: a block's stored bytes are the AES-SIV seal of its .xz compression,
 * keyed by SHA-512(password) (or scrypt, for buckets made with --kdf scrypt: lib/crypto/kdf.ts),
 * with the associated data `[b"", nonce]` (FORMAT.md).
 */
import {
  BlockAuthError,
  BlockDecompressError,
  discard,
  discardable,
  noteBlockBytes,
  noteTransientBytes,
  randomHex,
  Semaphore,
} from "../util/mod.ts";
import { AesSiv, deriveKey, type KdfSettings, SHA512 } from "../crypto/mod.ts";
import { compressLzma, decompress, DEFAULT_LEVEL, storedIfIncompressible } from "./xz.ts";

/** Plaintext bytes per block. */
export const BLOCK_SIZE = 1_048_576;

const encoder = new TextEncoder();

/** 16 random bytes as 32 lowercase hex characters, fresh for every block. */
export function newNonce(): string {
  return randomHex(16);
}

/** Seals and opens blocks with the key derived from one password. */
export class BlockCodec {
  private constructor(
    private readonly siv: AesSiv,
    readonly level: number,
    private readonly compressors: Semaphore,
    /** seal takes .xz bytes and only encrypts them (precompressed). */
    private readonly givenXz = false,
  ) {}

  /**
   * Derives the AES-SIV key from the password as `kdf` says (default 0.4.0's SHA-512 of
   * its UTF-8 bytes). At most `jobs` blocks are compressed at once (each compression runs
   * on a thread of its own).
   */
  static async fromPassword(
    password: string,
    level = DEFAULT_LEVEL,
    jobs = 1,
    kdf: KdfSettings = SHA512,
  ): Promise<BlockCodec> {
    const key = await deriveKey(password, kdf);
    return new BlockCodec(await AesSiv.importKey(key), level, new Semaphore(jobs));
  }

  /** The same key and compressors, compressing at `level`. */
  atLevel(level: number): BlockCodec {
    return level === this.level ? this : new BlockCodec(this.siv, level, this.compressors);
  }

  /**
   * The same key, for blocks that are .xz streams already (such as a previous snapshot's,
   * stored again under a new name): seal encrypts them as they are, under a fresh nonce.
   */
  precompressed(): BlockCodec {
    return new BlockCodec(this.siv, this.level, this.compressors, true);
  }

  /** Blocks compressed at once (--jobs). */
  get jobs(): number {
    return this.compressors.size;
  }

  /** Compresses then encrypts one block of plaintext under `nonce` (32 hex characters). */
  async seal(plaintext: Uint8Array, nonce: string): Promise<Uint8Array> {
    if (this.givenXz) return this.encrypt(plaintext, nonce);
    // Incompressible blocks are stored by the calling thread without taking a compressor:
    // meanwhile liblzma can work on another file's block.
    const xz = storedIfIncompressible(plaintext) ??
      await this.compressors.run(() => compressLzma(plaintext, this.level));
    const sealed = await this.encrypt(xz, nonce);
    discard(xz); // ours alone, and sealed now
    // Counted for the collector: the sealed bytes, unless Bucket.writePrefix frees them once
    // stored (a 1 MiB block's forced a collection every block); it counts or frees the
    // plaintext.
    if (!discardable(sealed)) noteTransientBytes(sealed.length);
    return sealed;
  }

  /** Encrypts an already compressed (.xz) block under `nonce`. */
  encrypt(xz: Uint8Array, nonce: string): Promise<Uint8Array> {
    return this.siv.seal(xz, encoder.encode(nonce));
  }

  /** Decrypts and decompresses one stored block; `key` names it in errors. */
  async open(sealed: Uint8Array, nonce: string, key = nonce): Promise<Uint8Array> {
    const plaintext = await this.decompress(await this.decrypt(sealed, nonce, key), key);
    noteTransientBytes(sealed.length);
    return plaintext;
  }

  /** Decompresses one decrypted block (its .xz bytes); `key` names it in errors. */
  async decompress(xz: Uint8Array, key: string): Promise<Uint8Array> {
    try {
      const plaintext = await decompress(xz);
      // counted for the collector: one large enough is freed by its reader (Bucket.readContent)
      noteBlockBytes(plaintext.length, discardable(plaintext));
      return plaintext;
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new BlockDecompressError(key, reason, { cause: err });
    }
  }

  /** Decrypts one stored block to its .xz bytes, or throws BlockAuthError. */
  async decrypt(sealed: Uint8Array, nonce: string, key = nonce): Promise<Uint8Array> {
    try {
      return await this.siv.open(sealed, encoder.encode(nonce));
    } catch (err) {
      throw new BlockAuthError(key, { cause: err });
    }
  }
}
