/**
 * .xz streams without liblzma: the stored form (one block of uncompressed LZMA2 chunks,
 * CRC64 check) that incompressible blocks get, written and read here, and the CRCs.
 */
/**
 * Shannon entropy of the byte histogram, in bits per byte. Data above ~7.9 does not
 * shrink under LZMA (random, encrypted, already compressed), and costs it the most time.
 */
export function byteEntropy(data: Uint8Array): number {
  if (data.length === 0) return 0;
  const counts = new Uint32Array(256);
  for (let i = 0; i < data.length; i++) counts[data[i]]++;
  let bits = 0;
  for (let i = 0; i < 256; i++) {
    if (counts[i] === 0) continue;
    const p = counts[i] / data.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/**
 * The content of an .xz stream made of one block of uncompressed LZMA2 chunks with a CRC64
 * check (what storedXz writes), read without liblzma; undefined for any other stream,
 * which then goes to liblzma. lzma-native's stream layer splits its input at every "YZ"
 * (a possible stream end), which random bytes hold every 64 KiB or so: stored blocks, the
 * random ones, were the slowest to read back.
 */
export function readStoredXz(data: Uint8Array): Uint8Array | undefined {
  const magic = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
  if (data.length < 12 + 12 + 1 + 8 + 12 || magic.some((b, i) => data[i] !== b)) return undefined;
  if (data[6] !== 0x00 || data[7] !== 0x04) return undefined; // CRC64 check only
  const headerSize = (data[12] + 1) * 4;
  // block flags: one filter, no sizes; the filter: LZMA2 with one property byte
  if (data[13] !== 0x00 || data[14] !== 0x21 || data[15] !== 0x01) return undefined;
  if (crc32(data.subarray(12, 12 + headerSize - 4)) !== readU32(data, 12 + headerSize - 4)) {
    return undefined;
  }
  let pos = 12 + headerSize;
  const chunks: [number, number][] = [];
  let size = 0;
  while (true) {
    const control = data[pos];
    if (control === 0x00) break;
    if (control !== 0x01 && control !== 0x02) return undefined; // a compressed chunk
    const length = ((data[pos + 1] << 8) | data[pos + 2]) + 1;
    if (pos + 3 + length > data.length) return undefined;
    chunks.push([pos + 3, length]);
    size += length;
    pos += 3 + length;
  }
  pos++; // end marker
  while ((pos - 12 - headerSize) % 4) {
    if (data[pos++] !== 0x00) return undefined;
  }
  if (pos + 8 + 12 > data.length) return undefined;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const [start, length] of chunks) {
    out.set(data.subarray(start, start + length), offset);
    offset += length;
  }
  const check = crc64(out);
  if (check.some((b, i) => b !== data[pos + i])) return undefined; // let liblzma report it
  // index and footer: exactly what storedXz writes for this length, and nothing after them
  const { trailer } = storedLayout(size);
  if (pos + 8 + trailer.length !== data.length) return undefined;
  if (trailer.some((b, i) => data[pos + 8 + i] !== b)) return undefined;
  return out;
}

function readU32(data: Uint8Array, offset: number): number {
  return (data[offset] | (data[offset + 1] << 8) | (data[offset + 2] << 16) |
    (data[offset + 3] << 24)) >>> 0;
}

// --- stored (uncompressed LZMA2) .xz streams --------------------------------------------

const CRC32_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE), as the .xz headers use it. */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC32_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const CRC64_TABLE = (() => {
  const poly = 0xc96c5795d7870f42n;
  const lo = new Uint32Array(256);
  const hi = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = BigInt(n);
    for (let k = 0; k < 8; k++) c = c & 1n ? poly ^ (c >> 1n) : c >> 1n;
    lo[n] = Number(c & 0xffffffffn);
    hi[n] = Number(c >> 32n);
  }
  return { lo, hi };
})();

/** A faster CRC-64 than crc64InJs (liblzma's, through FFI), once the system codec loaded. */
let nativeCrc64: ((data: Uint8Array) => Uint8Array) | undefined;

/** Makes crc64 use `implementation` (the system liblzma's lzma_crc64). */
export function useNativeCrc64(implementation: (data: Uint8Array) => Uint8Array): void {
  nativeCrc64 = implementation;
}

/** CRC-64 (ECMA-182, reflected), the .xz CRC64 check; returned as 8 little-endian bytes. */
export function crc64(data: Uint8Array): Uint8Array {
  return nativeCrc64 ? nativeCrc64(data) : crc64InJs(data);
}

/** crc64 in JavaScript (about 350 MiB/s here). */
export function crc64InJs(data: Uint8Array): Uint8Array {
  const { lo: tlo, hi: thi } = CRC64_TABLE;
  let lo = 0xffffffff, hi = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    const idx = (lo ^ data[i]) & 0xff;
    const nlo = ((lo >>> 8) | (hi << 24)) >>> 0;
    const nhi = hi >>> 8;
    lo = (nlo ^ tlo[idx]) >>> 0;
    hi = (nhi ^ thi[idx]) >>> 0;
  }
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, (lo ^ 0xffffffff) >>> 0, true);
  view.setUint32(4, (hi ^ 0xffffffff) >>> 0, true);
  return out;
}

function u32le(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

function withCrc32(bytes: number[]): number[] {
  return [...bytes, ...u32le(crc32(new Uint8Array(bytes)))];
}

const STORED_CHUNK = 1 << 16;

/** The parts of a stored .xz stream that depend only on the content's length. */
function storedLayout(length: number) {
  const streamFlags = [0x00, 0x04]; // CRC64
  const header = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, ...withCrc32(streamFlags)];
  // Block header: size, flags (one filter, no sizes), LZMA2 filter with a 1 MiB dictionary, padding.
  const dictProp = 16; // 2^(16/2 + 12) = 1 MiB
  const blockHeader = withCrc32([0x02, 0x00, 0x21, 0x01, dictProp, 0x00, 0x00, 0x00]);
  const chunkCount = Math.ceil(length / STORED_CHUNK);
  const lzma2Size = length + chunkCount * 3 + 1;
  const blockPadding = (4 - (lzma2Size % 4)) % 4;
  const unpaddedSize = blockHeader.length + lzma2Size + 8;
  const indexBody = [0x00, ...varint(1), ...varint(unpaddedSize), ...varint(length)];
  while (indexBody.length % 4) indexBody.push(0x00);
  const index = withCrc32(indexBody);
  const footerBody = [...u32le(index.length / 4 - 1), ...streamFlags];
  const footer = [...u32le(crc32(new Uint8Array(footerBody))), ...footerBody, 0x59, 0x5a];
  return { header, blockHeader, lzma2Size, blockPadding, trailer: [...index, ...footer] };
}

/** An .xz stream (CRC64) whose one block holds `data` as uncompressed LZMA2 chunks. */
export function storedXz(data: Uint8Array): Uint8Array {
  const { header, blockHeader, lzma2Size, blockPadding, trailer } = storedLayout(data.length);
  const total = header.length + blockHeader.length + lzma2Size + blockPadding + 8 + trailer.length;
  const out = new Uint8Array(total);
  let pos = 0;
  const put = (bytes: ArrayLike<number>) => {
    out.set(bytes, pos);
    pos += bytes.length;
  };
  put(header);
  put(blockHeader);
  for (let offset = 0; offset < data.length; offset += STORED_CHUNK) {
    const chunk = data.subarray(offset, offset + STORED_CHUNK);
    // 0x01: uncompressed chunk with dictionary reset; 0x02: without.
    put([offset === 0 ? 0x01 : 0x02, (chunk.length - 1) >> 8, (chunk.length - 1) & 0xff]);
    put(chunk);
  }
  put([0x00]); // LZMA2 end marker
  pos += blockPadding;
  put(crc64(data));
  put(trailer);
  return out;
}
