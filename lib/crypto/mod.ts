/**
 * crypto: from password to key (0.4.0's SHA-512, or scrypt with the bucket's `.spare-kdf`)
 * and AES-SIV (RFC 5297) over AES from the system's libcrypto, with WebCrypto and
 * node:crypto as the fallback. See docs/FORMAT.md, "A block's bytes" and "Key derivation".
 *
 * May import: util.
 */
export { aesDescription, chooseAes } from "./aes.ts";
export {
  decodeKdfSettings,
  deriveKey,
  encodeKdfSettings,
  KDF_KEY,
  type KdfSettings,
  newScryptSettings,
  SHA512,
} from "./kdf.ts";
export { AesSiv } from "./siv.ts";
