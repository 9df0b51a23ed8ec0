/**
 * Run by unit_test.ts in a process of its own: whether a 1 MiB block buffer gets a mapping
 * of its own outside create's uploads and during them (mapBlockBuffersApart), and whether
 * freeing it unmaps it. Prints that as JSON, or null where glibc's mallinfo2 is missing.
 */
import { discard, mapBlockBuffersApart, returnFreedBlocksToSystem } from "../lib/util/memory.ts";

const BLOCK = 1024 * 1024;

/** Bytes glibc has mapped for allocations of their own (mallinfo2's hblkhd). */
let mappedBytes: () => number;
try {
  const libc = Deno.dlopen("libc.so.6", {
    mallinfo2: { parameters: [], result: { struct: Array(10).fill("usize") } },
  });
  mappedBytes = () => Number(new BigUint64Array(libc.symbols.mallinfo2().buffer)[4]);
} catch {
  console.log("null");
  Deno.exit(0);
}

returnFreedBlocksToSystem();
const start = mappedBytes();
const inArena = new Uint8Array(BLOCK); // kept: its chunk must not serve the next one
const outsideUploads = mappedBytes() - start >= BLOCK;
mapBlockBuffersApart();
const before = mappedBytes();
const apart = new Uint8Array(BLOCK);
const duringUploads = mappedBytes() - before >= BLOCK;
discard(apart);
const unmappedWhenFreed = mappedBytes() === before;
console.log(JSON.stringify({ outsideUploads, duringUploads, unmappedWhenFreed }));
void inArena;
