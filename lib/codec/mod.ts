/**
 * codec: one block's plaintext to its stored bytes and back: .xz compression (the system's
 * liblzma through FFI, lzma-native as the fallback, uncompressed LZMA2 chunks for
 * incompressible blocks), then AES-SIV under the block's nonce (BlockCodec). A new codec
 * (another liblzma binding, say) goes here, behind XzCodec (xz_types.ts).
 *
 * May import: crypto, util.
 */
export { BLOCK_SIZE, BlockCodec, newNonce } from "./block.ts";
export { chooseCodec, codecDescription, DEFAULT_LEVEL } from "./xz.ts";
