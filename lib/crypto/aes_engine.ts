/** What an AES engine offers AES-SIV: one key, CBC-MAC and CTR (lib/crypto/aes.ts chooses one). */
/** AES's block size in bytes. */
export const AES_BLOCK = 16;

/** One AES key, ready for the two modes AES-SIV needs. */
export interface AesKey {
  /** The last block of AES-CBC without padding over `data` (whole blocks) chained from `iv`. */
  cbcMac(iv: Uint8Array, data: Uint8Array): Promise<Uint8Array>;
  /**
   * AES-CTR over `data` with the full 128-bit big-endian counter starting at `iv` (RFC 5297):
   * into `out` when given (as long as `data`), else into a new array.
   */
  ctr(iv: Uint8Array, data: Uint8Array, out?: Uint8Array): Promise<Uint8Array>;
  /** Zeroes the key bytes kept here. */
  clear(): void;
}

/** A source of AesKeys. */
export interface AesEngine {
  /** For `spare --version`: what runs the AES. */
  readonly description: string;
  /** Imports a raw 16-, 24- or 32-byte AES key. */
  importKey(raw: Uint8Array): Promise<AesKey>;
}
