/** Helpers for calls into system libraries through Deno's FFI (liblzma, libcrypto). */

/** Buffers whose addresses a library holds during a call on another thread. */
const inUse = new Set<unknown[]>();

/**
 * Runs a nonblocking call while `buffers` stay reachable. Deno does not keep the buffers of
 * a nonblocking call alive, and a local variable that the rest of a function does not read
 * is not kept across an `await`: a create of 20,000 small files, with a garbage collection
 * every 16 MiB, had liblzma read the options of an encoder from freed memory
 * (LZMA_OPTIONS_ERROR).
 */
export async function pinned<T>(buffers: unknown[], call: () => Promise<T>): Promise<T> {
  for (const buffer of buffers) if (ArrayBuffer.isView(buffer)) offHeap(buffer);
  inUse.add(buffers);
  try {
    return await call();
  } finally {
    inUse.delete(buffers);
  }
}

/**
 * Makes sure a typed array's bytes live outside V8's heap: reading `.buffer` moves a small
 * array's bytes there, where the garbage collector could otherwise move them while a
 * library on another thread holds their address.
 */
export function offHeap<T extends ArrayBufferView>(bytes: T): T {
  void bytes.buffer;
  return bytes;
}

/** An FFI error message without Deno's repeated "Could not open library: " prefix. */
export function openFailure(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^(Could not open library: )+/, "cannot open ");
}

/** What a check of a freshly opened library decides: use it (this value), or why not. */
export type LibraryVerdict<T> = { use: T } | { refused: string };

/**
 * Opens the first of `names` that loads and that `check` accepts (a refused one is closed);
 * throws an Error saying why none did, the message starting with `none`.
 */
export function openFirstLibrary<S extends Deno.ForeignLibraryInterface, T>(
  names: string[],
  symbols: S,
  none: string,
  check: (library: Deno.DynamicLibrary<S>, name: string) => LibraryVerdict<T>,
): T {
  const reasons: string[] = [];
  for (const name of names) {
    let library: Deno.DynamicLibrary<S>;
    try {
      library = Deno.dlopen(name, symbols);
    } catch (err) {
      reasons.push(openFailure(err));
      continue;
    }
    const verdict = check(library, name);
    if ("use" in verdict) return verdict.use;
    library.close();
    reasons.push(`${name}: ${verdict.refused}`);
  }
  throw new Error(`${none}: ${reasons.join("; ")}`);
}
