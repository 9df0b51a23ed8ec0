/**
 * Keeping the resident size small: 1 MiB blocks are allocated and freed all the time, and
 * neither V8 nor glibc gives that memory back promptly on its own.
 */

const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;

/** glibc's malloc_trim(0): hands free pages inside the arenas back to the system. */
let mallocTrim: (() => void) | undefined;

/**
 * On Linux with glibc, serve allocations of 4 MiB and more with mmap, so that they go back
 * to the system when freed; glibc otherwise raises that threshold as large blocks are freed
 * and keeps them in its arenas. Not lower: liblzma's 2.3 MiB hash table, allocated and
 * zeroed for every block, would then be mapped and faulted in anew each time, which cost
 * a quarter of the time of a create over small files (4.8 s of system time in 20 s).
 * For the same reason free memory at the top of an arena is kept up to 32 MiB (glibc's
 * default, 128 KiB, gave the hash table back after every file, and a create of 20,000
 * small files spent 30 s of its 80 s in the kernel; now 9 s of 61 s): noteTransientBytes
 * trims the arenas instead, every 16 MiB of blocks.
 * Elsewhere, or without FFI permission, nothing.
 */
export function returnFreedBlocksToSystem(): void {
  if (Deno.build.os !== "linux") return;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      mallopt: { parameters: ["i32", "i32"], result: "i32" },
      malloc_trim: { parameters: ["usize"], result: "i32" },
    });
    libc.symbols.mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    libc.symbols.mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024);
    mallocTrim = () => void libc.symbols.malloc_trim(0n);
  } catch {
    // not glibc, or no --allow-ffi: memory is still bounded, only returned later
  }
}

const collect = (globalThis as { gc?: () => void }).gc;
let sinceCollection = 0;

/**
 * Counts bytes of short-lived buffers; every 16 MiB runs a garbage collection when V8
 * exposes one (`--v8-flags=--expose-gc`, set by the spare task), then trims glibc's
 * arenas. V8 counts those buffers as external memory and would otherwise let about 64 MiB
 * of them pile up first; the 1 MiB blocks freed into the arenas (below the mmap
 * threshold) would stay resident.
 */
export function noteTransientBytes(bytes: number): void {
  sinceCollection += bytes;
  if (sinceCollection < 16 * 1024 * 1024) return;
  sinceCollection = 0;
  collect?.();
  mallocTrim?.();
}
