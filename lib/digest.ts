/** Content digests: BLAKE2b with a 32-byte digest (not a truncated BLAKE2b-512), as hex. */
import { createBLAKE2b, type IHasher } from "hash-wasm";

/** An incremental BLAKE2b-256 hasher. */
export class ContentHasher {
  private constructor(private readonly hasher: IHasher) {}

  /** Creates a hasher (a WebAssembly instance; reuse it through reset()). */
  static async create(): Promise<ContentHasher> {
    const hasher = await createBLAKE2b(256);
    hasher.init();
    return new ContentHasher(hasher);
  }

  /** Adds bytes to the digest. */
  update(data: Uint8Array): this {
    this.hasher.update(data);
    return this;
  }

  /** Returns the 64-character hex digest and starts over. */
  digest(): string {
    const hex = this.hasher.digest("hex");
    this.hasher.init();
    return hex;
  }
}

/** The BLAKE2b-256 hex digest of one byte array. */
export async function digestOf(data: Uint8Array): Promise<string> {
  return (await ContentHasher.create()).update(data).digest();
}

/** True when `name` looks like a content digest prefix. */
export function isDigest(name: string): boolean {
  return /^[0-9a-f]{64}$/.test(name);
}
